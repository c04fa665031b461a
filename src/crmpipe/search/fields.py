"""The searchable fields: which names a query may use, the column behind each, and its kind.

The build step lists every searchable column of the search table in `meta.search_fields`
(name, kind, position), so the query language works for whatever table a build produced; the
config's aliases (`pop: pop_estimate_2022`) add shorter names. The kind decides how a term on the
field matches (see `Kind`), and the registry is the only place identifiers in the SQL come from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crmpipe.search.errors import QueryError, unknown_name_error
from crmpipe.search.table import DUCKDB_FIELDS_TABLE, SEARCH_TABLE
from crmpipe.sqltext import quote_qualified

#: Separator of list elements in a field's `match_column` (a control character no value has).
JOIN_SEPARATOR = "\x1f"


class Kind(StrEnum):
    """How a field's values match (docs/query-language.md, "Fields")."""

    TEXT = "text"  # VARCHAR, mixed case: case-insensitive substring
    TEXT_LIST = "text_list"  # VARCHAR[] stored lower-cased: any element contains the value
    CODE = "code"  # VARCHAR: whole value, case-insensitive
    CODE_LIST = "code_list"  # VARCHAR[] stored lower-cased: any element equals the value
    NUMBER = "number"  # BIGINT/DOUBLE: comparisons, ranges, equality
    DATE = "date"  # DATE: comparisons, ranges, equality
    TIMESTAMP = "timestamp"  # TIMESTAMP: as DATE, a bare date meaning that whole day
    BOOLEAN = "boolean"  # BOOLEAN: field:true / field:false
    DOCUMENT = "document"  # the free-text document; searched by free terms, never named


#: Kinds that compare with >, >=, <, <= and take ranges.
ORDERED_KINDS = frozenset({Kind.NUMBER, Kind.DATE, Kind.TIMESTAMP})


@dataclass(frozen=True)
class Field:
    """A name a query can use: `name` (as typed, lower-case) for `column` of kind `kind`."""

    name: str
    column: str
    kind: Kind
    position: int = 0
    #: For a list field: a text column holding the elements joined by JOIN_SEPARATOR, which a
    #: substring test scans far faster than the list itself (same answers, see compiler).
    match_column: str | None = None
    #: DuckDB: a UBIGINT column of the bigram signature of `match_column` (search.signature),
    #: checked before a substring test on it; None where the store has none.
    signature_column: str | None = None
    #: DuckDB: the column of the hash of `match_column` (an entity list's joined text) and the
    #: table of its distinct (hash, text) pairs (search.hashed); None where the store has none.
    hash_column: str | None = None
    hash_table: str | None = None
    #: DuckDB: the table of the entity-level columns (search.entities) when this field is one
    #: of them, where terms on several such fields are tested together; None elsewhere.
    entity_table: str | None = None
    #: DuckDB: the sorted postings of `match_column`'s tokens (search.tokens), which answer a
    #: substring term without a scan; None where the store has none.
    token_table: str | None = None

    @property
    def is_alias(self) -> bool:
        return self.name != self.column.lower()


Fields = Mapping[str, Field]


def fields_from_list(
    spec: Iterable[Field | tuple[str, str] | tuple[str, str, int]],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Field]:
    """The field registry from `(column, kind[, position[, match_column[,
    signature_column[, hash_column[, hash_table[, entity_table[, token_table]]]]]]])` tuples,
    plus aliases.

    Keys are lower-case names. An alias names an existing column (`pop: pop_estimate_2022`) and
    wins over a column of the same name; an alias whose column this table lacks is skipped, so
    one config can serve builds with different extension columns.
    """
    fields: dict[str, Field] = {}
    for i, item in enumerate(spec):
        if isinstance(item, Field):
            f = item
        else:
            column, kind, *rest = item
            match_column = rest[1] if len(rest) > 1 else None
            signature_column = rest[2] if len(rest) > 2 else None
            hash_column = rest[3] if len(rest) > 3 else None
            hash_table = rest[4] if len(rest) > 4 and hash_column else None
            entity_table = rest[5] if len(rest) > 5 else None
            token_table = rest[6] if len(rest) > 6 else None
            try:
                k = Kind(str(kind).lower())
            except ValueError:
                known = ", ".join(k.value for k in Kind)
                raise ValueError(
                    f"search field {column!r} has unknown kind {kind!r}; known kinds: {known}"
                ) from None
            position = int(rest[0]) if rest and rest[0] is not None else i + 1
            f = Field(
                column.lower(),
                column,
                k,
                position,
                match_column,
                signature_column,
                hash_column,
                hash_table,
                entity_table,
                token_table,
            )
        fields[f.name] = f
    by_column = {f.column.lower(): f for f in fields.values() if not f.is_alias}
    for alias, column in (aliases or {}).items():
        target = by_column.get(str(column).lower())
        if target is not None:
            fields[alias.lower()] = dataclasses.replace(target, name=alias.lower())
    return fields


def load_fields(
    con: Any,
    aliases: Mapping[str, str] | None = None,
    *,
    meta_table: str = DUCKDB_FIELDS_TABLE,
    table: str = SEARCH_TABLE,
) -> dict[str, Field]:
    """The field registry of the built search table `table` (contact_search by default), read
    from `meta.search_fields` (rows without a table name, from before it had one, are
    contact_search's)."""
    import duckdb

    name = quote_qualified(meta_table)
    # One statement, the registry's few dozen rows filtered and ordered here: two (its
    # columns, then its rows) took 2.15 ms of every search, one 0.84 (4.5M contacts, load 1.9).
    try:
        cursor = con.execute(f"SELECT * FROM {name}")
    except duckdb.CatalogException:
        raise QueryError(
            f"no search fields: {meta_table} does not exist — build the search table first "
            "(crmpipe build)"
        ) from None
    present = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if "table_name" in present:
        at = present.index("table_name")
        rows = [
            r[:at] + r[at + 1 :]
            for r in rows
            if (r[at] if r[at] is not None else SEARCH_TABLE) == table
        ]
    elif table != SEARCH_TABLE:
        rows = []
    # ORDER BY position, name (a NULL position last, as DuckDB orders it)
    rows.sort(key=lambda r: (r[2] is None, r[2] or 0, r[0]))
    return fields_from_list(rows, aliases)


def resolve(fields: Fields, name: str, *, position: int | None = None) -> Field:
    """The field a query names, or a QueryError with the close matches."""
    f = fields.get(name.lower())
    if f is not None and f.kind is not Kind.DOCUMENT:
        return f
    if f is not None:
        raise QueryError(
            f"'{name}' is the free-text document: search it with plain words, e.g. "
            "finance director (no field name)",
            position=position,
        )
    raise unknown_name_error("field", name, nameable(fields), position=position)


def nameable(fields: Fields) -> list[str]:
    """The names users may type (columns and aliases; not the document)."""
    return sorted(n for n, f in fields.items() if f.kind is not Kind.DOCUMENT)


def document_field(fields: Fields) -> Field | None:
    """The free-text document field, if the table has one."""
    return next((f for f in fields.values() if f.kind is Kind.DOCUMENT), None)
