"""The entity-level columns of a DuckDB search table, one row per entity, probed as one key set.

Half of contact_search's columns are its entity's (`pop_estimate_2022`, `state`, the tech
names, the customers...): the same values on each of the entity's ~30 contacts. A query with
two entity-level terms (`tech:accela pop>10000`) used to test each over every contact, one
column pass each, in the scan that also tests the contact's own terms. So the DuckDB search
table stores `_entity_key` (`hash()` of the entity id; NULL ids hash too, to one value), and
`search.<table>_entities` holds the table's entity-level columns once per key. The compiler
writes two or more entity-level terms of one AND together as

    _entity_key IN (SELECT _entity_key FROM search.contact_search_entities WHERE <the terms>)

the terms unchanged (the entity table has the same column names): DuckDB tests them on 145k
entities instead of 4.5M contacts and probes one hash set. The same rows as the terms on the
contact row, as long as every contact of a key has the same entity values (each is made from its
entity id, see `refresh`) and no two entity ids share a key (checked). The subquery is never
NULL, where a term may be: the two differ only under NOT, which the dialects write as
`NOT coalesce(..., false)`, and at the top, where NULL and false both drop the row.

The entity table is made from the search table's own rows, after the full build and after each
in-place update (search.refresh rewrites every contact of a changed entity): always consistent
with the rows it stands for. Should two entity ids share a key (2^-64 per pair), the table is
dropped and `meta.search_fields.entity_table` is NULL: the terms are written one by one again.
"""

from __future__ import annotations

from typing import Any

from crmpipe.sqltext import quote_ident, quote_qualified

#: The column of the entity key, in the search table and in its entity table.
KEY_COLUMN = "_entity_key"


def entity_table(table: str) -> str:
    """The table (schema `search`, unquoted) of the entity-level columns of `table`."""
    return f"search.{table}_entities"


def duckdb_key(entity_id: str) -> str:
    """DuckDB SQL of the entity key from the entity id expression `entity_id`."""
    return f"hash({entity_id})"


def refresh(con: Any, table: str, entity_id: str, columns: list[str]) -> str | None:
    """Make the entity table of `search.<table>` from its rows: the key and `columns` (the
    entity-level ones) of one row per key. `entity_id` is the table's entity id column. Returns
    the entity table, or None where two entity ids share a key (the table is then dropped)."""
    source = f"search.{quote_ident(table)}"
    key, eid = quote_ident(KEY_COLUMN), quote_ident(entity_id)
    target = quote_qualified(entity_table(table))
    # one pass: per key, a row to copy and whether one entity id (or only NULL) stands behind it
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _crm_entity_rows AS SELECT min(rowid) AS r_, "
        f"min({eid}) IS NOT DISTINCT FROM max({eid}) AND count({eid}) IN (0, count(*)) AS one_ "
        f"FROM {source} GROUP BY {key}"
    )
    try:
        ((shared,),) = con.execute(
            "SELECT count(*) FROM _crm_entity_rows WHERE NOT one_"
        ).fetchall()
        if shared:
            con.execute(f"DROP TABLE IF EXISTS {target}")
            return None
        picked = ", ".join(quote_ident(c) for c in [KEY_COLUMN, *columns])
        con.execute(
            f"CREATE OR REPLACE TABLE {target} AS SELECT {picked} FROM {source} "
            "WHERE rowid IN (SELECT r_ FROM _crm_entity_rows)"
        )
        return entity_table(table)
    finally:
        con.execute("DROP TABLE _crm_entity_rows")


def drop(con: Any, table: str) -> None:
    """Drop the entity table of search table `table` (if any)."""
    con.execute(f"DROP TABLE IF EXISTS {quote_qualified(entity_table(table))}")
