"""PostgreSQL DDL of contact_search's narrow copy (crmpipe.search.narrow): its columns, the
statement making it from the copied contact_search, and its indexes. Pure SQL text."""

from __future__ import annotations

from crmpipe.publish.ddl import IndexSpec, object_name, qualified, trigram_index
from crmpipe.publish.search_ddl import SearchView
from crmpipe.search.narrow import KEY_COLUMNS, NARROW_TABLES
from crmpipe.search.table import SEARCH_TABLE
from crmpipe.sqltext import quote_ident


def narrow_columns(view: SearchView) -> list[str]:
    """The columns of the narrow table (crmpipe.search.narrow), in contact_search's order: the
    keys, then each field it holds and its match column."""
    held = {c for f in view.narrow for c in (f, view.match_columns.get(f)) if c}
    return [c for c in view.columns if c in KEY_COLUMNS or c in held]


def narrow_build(schema: str, view: SearchView, trgm_ops: str) -> tuple[str, list[IndexSpec]]:
    """The narrow table made from the copied contact_search (rows in the same order), and its
    indexes: its key in the "C" collation (the in-place publish's upserts and deletes), and a
    trigram GIN on each held field's match column (or the field)."""
    name = NARROW_TABLES[SEARCH_TABLE]
    cols = ", ".join(quote_ident(c) for c in narrow_columns(view))
    create = (
        f"CREATE TABLE {qualified(schema, name)} AS SELECT {cols} "
        f"FROM {qualified(schema, SEARCH_TABLE)}"
    )
    key = object_name(name, "contact_id", "key")
    out = [
        IndexSpec(
            key,
            name,
            f"CREATE UNIQUE INDEX {quote_ident(key)} ON "
            f'{qualified(schema, name)} (contact_id COLLATE "C")',
            "unique",
        )
    ]
    for field in view.narrow:
        column = view.match_columns.get(field, field)
        out.append(trigram_index(schema, name, column, False, trgm_ops, label=field))
    return create, out
