"""The facility search table, declared once: one row per (golden) facility of `entities`.

`facility_search` holds each facility with its license (the one expiring last: status, type,
number, capacity, dates), its address parts (`addresses`, falling back on the entity's own
columns), its contacts' names, the sources it came from (`entity_sources` when the resolution
wrote it, else the entity's `_source`), its extension columns and a free-text document (name,
city, contact names, license type, emails). Tables a project lacks (no contacts, no licenses)
leave their columns out, in both stores alike. search.table renders it for DuckDB and
PostgreSQL (docs/query-language.md, "Searching facilities").
"""

from __future__ import annotations

from crmpipe.config.schema import Config
from crmpipe.model import Role
from crmpipe.search.table import (
    SEARCH_KINDS,
    Document,
    EntityList,
    Join,
    Scalar,
    SearchColumn,
    SearchInputs,
    SearchTable,
)
from crmpipe.sqltext import quote_ident

FACILITY_TABLE = "facility_search"

#: The facility's own columns, in order (address parts come after, from `addresses`).
ENTITY_COLUMNS = ("entity_id", "display_name", "entity_type", "phone", "email", "url")
#: Address parts: from the facility's address row, else the entity's own column when it has one.
ADDRESS_COLUMNS = ("address", "address2", "city", "state", "postal_code", "county")
#: License columns: (search column, license column, kind).
LICENSE_COLUMNS = (
    ("license_number", "license_number", "text"),
    ("license_type", "license_type", "text"),
    ("license_status", "status", "code"),
    ("license_issued", "issued_on", "date"),
    ("license_renewed", "renewed_on", "date"),
    ("license_expires", "expires_on", "date"),
    ("capacity", "capacity", "number"),
)
#: A contact's name: its full name, else first and last name.
CONTACT_NAME = "lower(coalesce(full_name, nullif(concat_ws(' ', first_name, last_name), '')))"

#: Aliases every project gets on facility_search (crmpipe.yml's `search.aliases` add to them).
FACILITY_ALIASES: dict[str, str] = {
    "name": "display_name",
    "status": "license_status",
    "license": "license_number",
    "type": "license_type",
    "zip": "postal_code",
    "contact": "contact_names",
    "source": "sources",
    "issued": "license_issued",
    "expires": "license_expires",
}

#: The pieces of the document, each with the table it needs (None: the entity).
DOCUMENT_PARTS: tuple[tuple[str, str | None], ...] = (
    ("e.display_name", None),
    ("coalesce(a.city, e.city)", "addresses"),
    ("e.city", None),
    ("array_to_string(p.contact_names, ' ')", "contacts"),
    ("l.license_type", "licenses"),
    ("array_to_string(e.email, ' ')", None),
)


def facility_columns(cfg: Config, inputs: SearchInputs) -> list[SearchColumn]:
    """facility_search's columns in order: the entity's, its address parts, its license's, its
    extension columns (an extension named like another column gets an `entity_` prefix), its
    contacts' names, its sources, then the document. Tables the store lacks leave theirs out."""
    entities = cfg.tables()["entities"]
    has = inputs.tables
    out: list[SearchColumn] = []
    for name in ENTITY_COLUMNS:
        col = entities.column(name)
        out.append(
            SearchColumn(name, SEARCH_KINDS[col.role], Scalar("entities", name, f"e.{name}"))
        )
    for name in ADDRESS_COLUMNS:
        own = name in entities.column_names
        if "addresses" in has:
            expr = f"coalesce(a.{name}, e.{name})" if own else f"a.{name}"
            source = Scalar("addresses", name, expr)
        elif own:
            source = Scalar("entities", name, f"e.{name}")
        else:
            continue
        role = cfg.tables()["addresses"].column(name).role
        out.append(SearchColumn(name, SEARCH_KINDS[role], source))
    if "licenses" in has:
        for name, column, kind in LICENSE_COLUMNS:
            out.append(SearchColumn(name, kind, Scalar("licenses", column, f"l.{column}")))
    taken = {c.name for c in out}
    for col in entities.extensions:
        name = col.name if col.name not in taken else f"entity_{col.name}"
        expr = f"e.{quote_ident(col.name)}"
        source = Scalar("entities", col.name, expr, col.role is Role.BOOLEAN)
        out.append(SearchColumn(name, SEARCH_KINDS[col.role], source))
        taken.add(name)
    if "contacts" in has:
        condition = "coalesce(full_name, first_name, last_name) IS NOT NULL"
        names = EntityList("contacts", CONTACT_NAME, "contact_names", condition)
        out.append(SearchColumn("contact_names", "text_list", names))
    if "entity_sources" in has:
        sources = EntityList("entity_sources", "lower(source)", "sources", "source IS NOT NULL")
    else:
        sources = EntityList("entities", "lower(_source)", "sources", "_source IS NOT NULL")
    out.append(SearchColumn("sources", "code_list", sources))
    out.append(SearchColumn("document", "document", Document()))
    return out


def facility_document(inputs: SearchInputs) -> str:
    """The document's SQL: the parts whose tables the store has, lower-cased, space-separated
    (the entity's city only when there are no address rows to take it from)."""
    has = inputs.tables
    parts = [
        sql
        for sql, needs in DOCUMENT_PARTS
        if (needs is None or needs in has) and not (sql == "e.city" and "addresses" in has)
    ]
    return f"lower(concat_ws(' ', {', '.join(parts)}))"


FACILITY_SEARCH = SearchTable(
    name=FACILITY_TABLE,
    label="facilities",
    base="entities",
    alias="e",
    key="entity_id",
    list_key="e.entity_id",
    joins=(
        Join(
            "licenses",
            "l",
            "l.entity_id = e.entity_id",
            pick="expires_on DESC NULLS LAST, issued_on DESC NULLS LAST",
            pick_key="license_id",
        ),
        Join("addresses", "a", "a.entity_id = e.entity_id", pick_key="address_id", pick=""),
    ),
    lists={
        "contacts": ("p", "entity_id IS NOT NULL"),
        "entity_sources": ("s", None),
        "entities": ("s", None),
    },
    document=facility_document,
    columns=facility_columns,
    default_columns=(
        "entity_id",
        "display_name",
        "phone",
        "city",
        "state",
        "license_status",
        "capacity",
    ),
    aliases=FACILITY_ALIASES,
    needs=(),
)
