"""A DuckDB search table updated in place: only the rows of changed keys are deleted and
selected again, with the same rows a full rebuild makes.

A daily drop changes a few percent of the contacts, yet rebuilding contact_search reads and
writes every row (19 s of a 98.6 s run at 4.5M contacts). A search row is made of two parts:
the base row (the contact's own columns, its entity id among them) and the entity part (the
entity's columns and the per-entity lists: tech names and types, CRM customers and ids). Each
build records a 64-bit hash of each part, the key hashed in, in `meta.<table>_row_hashes` (one
row per contact) and `meta.<table>_entity_hashes` (one row per entity id). The next build hashes
the current core tables the same way and compares the two sets of hashes (anti-joins on one
integer column, not a join on text keys): a contact whose base hash is new or gone is new,
changed or removed; an entity whose hash is new or gone changed, and so did all its contacts
(golden records remapped by resolution show up as a changed entity id in the base row). Those
keys' rows are deleted, and the full build's SELECT restricted to them inserts them again.

`refresh` declines (None: rebuild in full) when the table or the recorded hashes are missing,
when the SELECT or the table's columns differ from those the hashes were recorded for (another
project file, a new CRM system, another crmpipe), for a table not shaped as contact_search is
(base joined to its entity by entity id: facility_search is rebuilt), or when more than
`share` of the rows changed (`search.rebuild_share` in crmpipe.yml): then one rebuild, which
also leaves the table in key order, costs less than deleting and re-inserting most of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from crmpipe.search.selects import _DuckDB, _list_condition, list_cte
from crmpipe.search.table import (
    EntityList,
    Scalar,
    SearchColumn,
    SearchTable,
)
from crmpipe.sqltext import quote_ident

#: Columns of a core table that say where a row came from, not what it holds.
LINEAGE = ("_source", "_file", "_row", "_run_id", "_loaded_at")
#: meta.build_state's key of what a search table's hashes were recorded for.
BASIS_PREFIX = "search_basis:"
#: Temp tables of an in-place update's rewritten rows, where `refresh` is given `touched`: the
#: deleted rows' values of that column with their row counts, the inserted rows' rowids.
TOUCHED_GONE, TOUCHED_NEW = "_crm_touched_gone", "_crm_touched_new"
#: Temp table of an in-place update's rewritten keys (`_key`: deleted, and inserted again or
#: not), where `refresh` is asked to `keep` them (search.tokens follows them).
TOUCHED_KEYS = "_crm_touched_keys"


@dataclass(frozen=True)
class Hint:
    """What a run's writers of core say they changed, so that `refresh` need not hash every
    row to find it. `keys`: core table → a relation (`_key`) of its keys whose rows may have
    changed, every other row being as the last index step left it (a table not named: not
    known, every row hashed). `unchanged`: the core tables no step of the run changed (an
    entity part read from those alone is not hashed). A hint that misses a change leaves the
    search table wrong: the pipeline gives one only where every writer reported."""

    keys: dict[str, str] = field(default_factory=dict)
    unchanged: frozenset[str] = frozenset()


def entity_tables(spec: SearchTable, tables: frozenset[str]) -> set[str]:
    """The core tables a search row's entity part may be read from: every table the search
    table reads (its inputs present, `tables`; those it needs; its joins' and lists') but the
    base table."""
    read = set(tables) | set(spec.needs) | set(spec.lists) | {j.table for j in spec.joins}
    return read - {spec.base}


def hash_tables(spec: SearchTable) -> tuple[str, str]:
    """The tables of recorded hashes: (per base row, per entity id)."""
    return (
        f"meta.{quote_ident(spec.name + '_row_hashes')}",
        f"meta.{quote_ident(spec.name + '_entity_hashes')}",
    )


def supported(spec: SearchTable) -> bool:
    """Whether `spec` is shaped as contact_search: every join a plain one on the base row's
    entity id, so a row depends on its base row and its entity's part only."""
    joins_ok = all(
        j.pick is None and j.on == f"{j.alias}.entity_id = {spec.list_key}" for j in spec.joins
    )
    return joins_ok and spec.list_key == f"{spec.alias}.entity_id"


def digest(query: str, params: list[str], shape: list[tuple[str, str]]) -> str:
    """What the recorded hashes stand for: the SELECT, its parameters and the table's columns."""
    text = json.dumps([query, params, shape])
    return hashlib.sha256(text.encode()).hexdigest()


def _base_hashes(con: Any, spec: SearchTable, keys: str | None = None) -> str:
    """SELECT of (_key, _hash) per base row: its key and all its non-lineage columns (with
    `keys`, a relation of `_key`, of those keys' rows only).

    The rows of `keys` are first found by the key column alone, and the SELECT reads only
    the span of rowids they lie in: a probe reading every column decompressed the whole
    table (1.5 s at 4.5M contacts for 72k keys), while the golden rows an incremental
    resolution rewrote were all appended by it, at the table's end."""
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'core' "
            "AND table_name = ? ORDER BY ordinal_position",
            [spec.base],
        ).fetchall()
        if r[0] not in LINEAGE
    ]
    key = f"{spec.alias}.{quote_ident(spec.key)}"
    values = ", ".join(f"{spec.alias}.{quote_ident(c)}" for c in cols)
    where = ""
    if keys:
        where = f" WHERE {key} IN (SELECT _key FROM {keys})"
        table = f"core.{quote_ident(spec.base)} {spec.alias}"
        ((low, high),) = con.execute(
            f"SELECT min(rowid), max(rowid) FROM {table}{where}"
        ).fetchall()
        where += f" AND rowid BETWEEN {int(low)} AND {int(high)}" if low is not None else ""
    return (
        f"SELECT {key} AS _key, hash({key}, {values}) AS _hash "
        f"FROM core.{quote_ident(spec.base)} {spec.alias}{where}"
    )


def _entity_hashes(
    spec: SearchTable, columns: list[SearchColumn], tables: frozenset[str]
) -> tuple[str, list[str]]:
    """SELECT of (_key, _hash) per entity id, and its parameters (CRM systems): the entity-level
    values of a search row (joined tables' columns, the per-entity lists), as the full build's
    SELECT computes them."""
    dialect = _DuckDB()
    joins = [j for j in spec.joins if j.table in tables]
    aliases = {j.alias for j in joins}
    exprs: list[str] = []
    ctes: dict[str, list[str]] = {table: [] for table in spec.lists}
    for col in columns:
        src = col.source
        if isinstance(src, Scalar) and src.expr.split(".", 1)[0] in aliases:
            exprs.append(src.expr)
        elif isinstance(src, EntityList):
            condition = _list_condition(src, dialect)
            filter_ = f" FILTER (WHERE {condition})" if condition else ""
            ctes[src.table].append(f"{dialect.aggregate(src.element, filter_)} AS {src.cte_column}")
            exprs.append(f"{spec.lists[src.table][0]}.{src.cte_column}")
    with_, keys = [], [f"SELECT entity_id FROM core.{quote_ident(j.table)}" for j in joins]
    used = [(table, alias, where) for table, (alias, where) in spec.lists.items() if ctes[table]]
    for table, alias, where in used:
        with_.append(
            f"{alias} AS ({list_cte(table, f'core.{quote_ident(table)}', ctes[table], where)})"
        )
        keys.append(f"SELECT entity_id FROM {alias}")
    with_.append(f"_k AS ({' UNION '.join(keys) or 'SELECT NULL AS entity_id'})")
    joined = "".join(
        f" LEFT JOIN core.{quote_ident(j.table)} {j.alias} ON {j.alias}.entity_id = _k.entity_id"
        for j in joins
    ) + "".join(f" LEFT JOIN {a} ON {a}.entity_id = _k.entity_id" for _, a, _ in used)
    values = ", ".join(["_k.entity_id", *exprs])
    sql = (
        f"WITH {', '.join(with_)} SELECT _k.entity_id AS _key, hash({values}) AS _hash "
        f"FROM _k{joined} WHERE _k.entity_id IS NOT NULL"
    )
    # the systems are bound in the order their lists' aggregates appear in the CTEs
    params = [
        c.source.system
        for table in ctes
        for c in columns
        if isinstance(c.source, EntityList) and c.source.table == table and c.source.system
    ]
    return sql, params


def _recorded(con: Any, spec: SearchTable) -> str | None:
    rows = con.execute(
        "SELECT value FROM meta.build_state WHERE key = ?", [BASIS_PREFIX + spec.name]
    ).fetchall()
    return rows[0][0] if rows else None


def record(
    con: Any, spec: SearchTable, columns: list[SearchColumn], tables: frozenset[str], basis: str
) -> None:
    """After a full build: record every base row's and entity's hash, and what they stand for."""
    rows, entities = hash_tables(spec)
    con.execute(f"CREATE OR REPLACE TABLE {rows} AS {_base_hashes(con, spec)}")
    query, params = _entity_hashes(spec, columns, tables)
    con.execute(f"CREATE OR REPLACE TABLE {entities} AS {query}", params)
    con.execute("DELETE FROM meta.build_state WHERE key = ?", [BASIS_PREFIX + spec.name])
    con.execute("INSERT INTO meta.build_state VALUES (?, ?)", [BASIS_PREFIX + spec.name, basis])


def forget(con: Any, spec: SearchTable) -> None:
    """Drop a search table's recorded hashes (the table is gone or rebuilt without them)."""
    for table in hash_tables(spec):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("DELETE FROM meta.build_state WHERE key = ?", [BASIS_PREFIX + spec.name])


def _diff(con: Any, stored: str, now: tuple[str, list[str]], prefix: str) -> int:
    """Compare the hashes `now` (a SELECT of (_key, _hash) and its parameters) with the
    `stored` ones: the temp tables `<prefix>_gone` (stored, not now) and `<prefix>_new` (now,
    not stored); how many are new. One full outer join on the hash: the current hashes are
    not materialised, and each side is read once (two anti-joins over a temp copy of every
    row's hash took 0.5 s at 1M contacts)."""
    query, params = now
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {prefix}_diff AS SELECT n._key AS _new_key, "
        "n._hash AS _new_hash, s._key AS _old_key, s._hash AS _old_hash "
        f"FROM ({query}) n FULL OUTER JOIN {stored} s ON n._hash = s._hash "
        "WHERE n._hash IS NULL OR s._hash IS NULL",
        params,
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {prefix}_gone AS SELECT _old_key AS _key, "
        f"_old_hash AS _hash FROM {prefix}_diff WHERE _new_hash IS NULL"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {prefix}_new AS SELECT _new_key AS _key, "
        f"_new_hash AS _hash FROM {prefix}_diff WHERE _old_hash IS NULL"
    )
    con.execute(f"DROP TABLE {prefix}_diff")
    ((new,),) = con.execute(f"SELECT count(*) FROM {prefix}_new").fetchall()
    return int(new)


def _apply(con: Any, stored: str, prefix: str) -> str:
    """Bring the `stored` hashes up to date from `_diff`'s tables; return the temp table of the
    keys whose hash differs (new, changed or gone)."""
    gone, new, keys = f"{prefix}_gone", f"{prefix}_new", f"{prefix}_keys"
    con.execute(f"DELETE FROM {stored} WHERE _hash IN (SELECT _hash FROM {gone})")
    con.execute(f"INSERT INTO {stored} SELECT _key, _hash FROM {new}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {keys} AS "
        f"SELECT _key FROM {gone} UNION SELECT _key FROM {new}"
    )
    con.execute(f"DROP TABLE {gone}")
    con.execute(f"DROP TABLE {new}")
    return keys


def refresh(
    con: Any,
    spec: SearchTable,
    columns: list[SearchColumn],
    tables: frozenset[str],
    select: tuple[str, list[str]],
    basis: str,
    share: float,
    touched: str | None = None,
    hint: Hint | None = None,
    keep: bool = False,
) -> int | None:
    """Update `spec`'s table in place from the current core tables: delete and insert again the
    rows of changed keys; return how many keys changed. None (nothing done): rebuild in full
    (the reasons are in this module's docstring). `select` is the full build's SELECT of rows
    whose key is in `_crm_changed._key` and its parameters; `basis` what the hashes must stand
    for (`digest`). With `touched` (a column of the search table), the temp tables
    `TOUCHED_GONE` (that column's values in the rows deleted, with how many rows held each:
    `n_`) and `TOUCHED_NEW` (the rowids, `r_`, of the rows inserted) say what was rewritten
    (search.entities follows them). `hint`: what the run's writers say they changed (`Hint`).
    With `keep`, `TOUCHED_KEYS` (the keys rewritten) and `TOUCHED_NEW` are left too.
    """
    rows_table, entities_table = hash_tables(spec)
    if not supported(spec) or _recorded(con, spec) != basis:
        return None
    existing = {
        f"{s}.{quote_ident(t)}"
        for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name = 'meta'"
        ).fetchall()
    }
    if not {rows_table, entities_table} <= existing:
        return None
    ((total,),) = con.execute(f"SELECT count(*) FROM {rows_table}").fetchall()
    keys = hint.keys.get(spec.base) if hint else None
    stored_rows = f"(SELECT * FROM {rows_table} WHERE _key IN (SELECT _key FROM {keys}))"
    now = _base_hashes(con, spec, keys)
    differ = _diff(con, stored_rows if keys else rows_table, (now, []), "_crm_rows")
    quiet = hint is not None and entity_tables(spec, tables) <= hint.unchanged
    if quiet:  # no table of the entity part changed: no entity hash either
        for side in ("gone", "new"):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _crm_entities_{side} AS "
                f"SELECT _key, _hash FROM {entities_table} LIMIT 0"
            )
    else:
        _diff(con, entities_table, _entity_hashes(spec, columns, tables), "_crm_entities")
    if differ > share * max(total, 1):  # nothing written yet
        for table in ("rows_gone", "rows_new", "entities_gone", "entities_new"):
            con.execute(f"DROP TABLE _crm_{table}")
        return None
    row_keys = _apply(con, rows_table, "_crm_rows")
    entity_keys = _apply(con, entities_table, "_crm_entities")
    entity = f"{spec.alias}.entity_id"
    of_entities = (
        ""
        if quiet  # (a probe of every base row's entity id for none)
        else f" UNION SELECT {spec.alias}.{quote_ident(spec.key)} FROM "
        f"core.{quote_ident(spec.base)} {spec.alias} "
        f"WHERE {entity} IN (SELECT _key FROM {entity_keys})"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _crm_changed AS SELECT _key FROM {row_keys}{of_entities}"
    )
    con.execute(f"DROP TABLE {row_keys}")
    con.execute(f"DROP TABLE {entity_keys}")
    ((changed,),) = con.execute("SELECT count(*) FROM _crm_changed").fetchall()
    if changed > share * max(total, 1):
        # many contacts of changed entities: the caller rebuilds (and records the hashes again)
        con.execute("DROP TABLE _crm_changed")
        return None
    key = quote_ident(spec.key)
    mine = f"FROM {spec.duckdb_table} WHERE {key} IN (SELECT _key FROM _crm_changed)"
    if touched:  # the rows before and after: one probe of the key column each
        column = quote_ident(touched)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TOUCHED_GONE} AS "
            f"SELECT {column}, count(*) AS n_ {mine} GROUP BY {column}"
        )
    con.execute(f"DELETE {mine}")
    query, params = select
    con.execute(f"INSERT INTO {spec.duckdb_table} {query}", params)
    if touched or keep:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TOUCHED_NEW} AS SELECT rowid AS r_ {mine}")
    if keep:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TOUCHED_KEYS} AS SELECT _key FROM _crm_changed")
    con.execute("DROP TABLE _crm_changed")
    return int(changed)
