"""PostgreSQL's narrow copy of the contact search table, for substring terms on the emails.

`email:bob tech:accela pop>10000` on PostgreSQL finds its candidates in the emails' trigram
index (13,614 rows hold `bob` at 4.5M contacts) and then rechecks each of them in the heap of
`contact_search`, whose rows are wide (the document, every field): 3,190 heap pages, most of
the query's 14 ms. The entity-level terms need no more of a row than its `entity_id` (they are
looked up in `entities` and `search_values`, crmpipe.search.dialects.Lookup). So the publish
also writes `contact_search_emails`: each contact's key, entity id, emails and their joined
match column, trigram-indexed, maintained with `contact_search` by the full and the in-place
publish (crmpipe.publish). A search whose terms test only those fields and entity-level
lookups counts its matches and finds its page's keys there (crmpipe.search.executor), then
reads the page from `contact_search` by key as before: the same rows, since the narrow table
holds the same values of the same contacts.

The field registry (`search_fields.narrow_table`) names the narrow table of each field it
holds, so a search learns of it with the fields it reads anyway; a schema published before it
existed names none, and its searches read `contact_search` alone.
"""

from __future__ import annotations

from collections.abc import Collection

#: The narrow table of a search table, by the search table's name.
NARROW_TABLES = {"contact_search": "contact_search_emails"}
#: The fields the narrow table holds (with their match columns).
NARROW_FIELDS = ("emails",)
#: Its other columns: the search table's key, and the key entity-level lookups match by.
KEY_COLUMNS = ("contact_id", "entity_id")


def serves(columns: Collection[str], held: Collection[str], entity_keyed: Collection[str]) -> bool:
    """Whether a query whose terms test `columns` (search-table columns: fields, the document)
    can be answered from a narrow table holding the fields `held` (each with its match
    column), where `entity_keyed` are the fields searched by a lookup matched back by
    `entity_id`. Only a query testing a held field is sent there: entity-level terms alone
    count faster through the search table's `entity_id` index (index-only, the key included)."""
    return any(c in held for c in columns) and all(c in held or c in entity_keyed for c in columns)
