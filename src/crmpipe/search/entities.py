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

The entity table is made from the search table's own rows after the full build: one row per key,
with the entity id it stands for and how many search rows have the key (`_entity_rows`). After
an in-place update (search.refresh rewrites every contact of a changed entity) only the keys of
the rewritten rows are made again, from those rows, and their counts follow the rows deleted and
inserted (`update`): always consistent with the rows it stands for. Remaking it whole read every
search row (0.85–1.37 s at 4.5M contacts) for the few thousand entities a drop touches. Should
two entity ids share a key (2^-64 per pair), the table is dropped and
`meta.search_fields.entity_table` is NULL: the terms are written one by one again.
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


#: The entity table's count of the search rows of each key (what `update` keeps up to date).
ROWS_COLUMN = "_entity_rows"
#: Whether the rows of a group have one entity id, or none (NULL) at all.
_ONE = "min({eid}) IS NOT DISTINCT FROM max({eid}) AND count({eid}) IN (0, count(*))"


def _groups(con: Any, table: str, entity_id: str, rows: str = "") -> None:
    """The temp table `_crm_entity_rows`: per key of the rows of `search.<table>` (those whose
    rowid is in relation `rows`, when given), a rowid to copy (`r_`), the entity id (`e_`),
    whether one entity id (or only NULL) stands behind it (`one_`) and the row count (`n_`)."""
    key, eid = quote_ident(KEY_COLUMN), quote_ident(entity_id)
    where = f" WHERE rowid IN (SELECT r_ FROM {rows})" if rows else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _crm_entity_rows AS SELECT {key} AS k_, min(rowid) AS r_, "
        f"min({eid}) AS e_, {_ONE.format(eid=eid)} AS one_, count(*) AS n_ "
        f"FROM search.{quote_ident(table)}{where} GROUP BY {key}"
    )


def _copied(table: str, entity_id: str, columns: list[str], counts: str) -> str:
    """SELECT of the entity table's rows: the search row of each `_crm_entity_rows.r_`, with
    the row count of its key from relation `counts` (`k_`, `n_`)."""
    picked = ", ".join(f"s.{quote_ident(c)}" for c in [KEY_COLUMN, entity_id])
    rest = "".join(f", s.{quote_ident(c)}" for c in columns)
    return (
        f"SELECT {picked}, c.n_ AS {ROWS_COLUMN}{rest} FROM (SELECT * FROM "
        f"search.{quote_ident(table)} WHERE rowid IN (SELECT r_ FROM _crm_entity_rows)) s "
        f"JOIN {counts} c ON c.k_ = s.{quote_ident(KEY_COLUMN)}"
    )


def refresh(con: Any, table: str, entity_id: str, columns: list[str]) -> str | None:
    """Make the entity table of `search.<table>` from its rows: the key, the entity id, the
    key's row count and `columns` (the entity-level ones) of one row per key. `entity_id` is the
    table's entity id column. Returns the entity table, or None where two entity ids share a key
    (the table is then dropped)."""
    target = quote_qualified(entity_table(table))
    _groups(con, table, entity_id)  # one pass over every row
    try:
        ((shared,),) = con.execute(
            "SELECT count(*) FROM _crm_entity_rows WHERE NOT one_"
        ).fetchall()
        if shared:
            con.execute(f"DROP TABLE IF EXISTS {target}")
            return None
        copied = _copied(table, entity_id, columns, "_crm_entity_rows")
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {copied}")
        return entity_table(table)
    finally:
        con.execute("DROP TABLE _crm_entity_rows")


def current(con: Any, table: str, entity_id: str) -> bool:
    """Whether `search.<table>` has an entity table `update` can keep (one that records the
    entity id and row count of each key: one made before it did is made again)."""
    schema, name = entity_table(table).split(".")
    ((n,),) = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND column_name IN (?, ?)",
        [schema, name, entity_id, ROWS_COLUMN],
    ).fetchall()
    return n == 2


def update(
    con: Any, table: str, entity_id: str, columns: list[str], gone: str, rewritten: str
) -> str | None:
    """After an in-place update of `search.<table>`, bring its entity table (`current`) up to
    date; returns it, or what `refresh` returns where it had to make it whole.

    `gone` is a relation of the entity keys (`_entity_key`) and their row counts (`n_`) of the
    rows the update deleted; `rewritten` one of the rowids (`r_`) of the rows it inserted. Each
    key of an inserted row gets its row again, copied from one of the inserted rows (an entity
    whose values changed had all its contacts rewritten, so those are its values); every
    touched key's count is the last one less the rows deleted plus those inserted, and a key
    left with none loses its row; every other key's row still holds. Where an inserted key's
    entity id is not the one its row recorded, or its inserted rows disagree, a new key may be
    shared: the table is made whole (`refresh` checks every key), as it is should a count not
    add up."""
    key = quote_ident(KEY_COLUMN)
    target = quote_qualified(entity_table(table))
    _groups(con, table, entity_id, rewritten)  # the inserted rows only
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _crm_entity_counts AS SELECT coalesce(n.k_, g.k_) AS k_, "
            f"coalesce(t.{ROWS_COLUMN}, 0) - coalesce(g.n_, 0) + coalesce(n.n_, 0) AS n_, "
            f"NOT coalesce(n.one_, true) OR (n.k_ IS NOT NULL AND t.{key} IS NOT NULL "
            f"AND t.{quote_ident(entity_id)} IS DISTINCT FROM n.e_) AS shared_ "
            f"FROM _crm_entity_rows n FULL JOIN (SELECT {key} AS k_, n_ FROM {gone}) g "
            f"ON g.k_ = n.k_ LEFT JOIN {target} t ON t.{key} = coalesce(n.k_, g.k_)"
        )
        ((doubt,),) = con.execute(
            "SELECT count(*) FROM _crm_entity_counts WHERE shared_ OR n_ < 0"
        ).fetchall()
        if doubt:
            return refresh(con, table, entity_id, columns)
        con.execute(
            f"DELETE FROM {target} WHERE {key} IN (SELECT k_ FROM _crm_entity_rows) "
            f"OR {key} IN (SELECT k_ FROM _crm_entity_counts WHERE n_ = 0)"
        )
        con.execute(
            f"UPDATE {target} SET {ROWS_COLUMN} = c.n_ FROM _crm_entity_counts c "
            f"WHERE {target}.{key} = c.k_"
        )
        con.execute(
            f"INSERT INTO {target} {_copied(table, entity_id, columns, '_crm_entity_counts')}"
        )
        return entity_table(table)
    finally:
        con.execute("DROP TABLE IF EXISTS _crm_entity_rows")
        con.execute("DROP TABLE IF EXISTS _crm_entity_counts")


def drop(con: Any, table: str) -> None:
    """Drop the entity table of search table `table` (if any)."""
    con.execute(f"DROP TABLE IF EXISTS {quote_qualified(entity_table(table))}")
