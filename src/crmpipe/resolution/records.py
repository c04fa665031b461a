"""The records a resolution reads: `resolved.<x>_records`, core before resolution, numbered.

Each record gets `_rec` (its recency: the file's rank by time, then the row) and `_rid`, its
number in (`_rec`, key) order. Only that order matters downstream — the pre-pass links each
group to its smallest `_rid`, pairs are oriented `_rid_l < _rid_r`, Splink reads the records in
`_rid` order — not the numbers themselves.

A full snapshot numbers every record from 1. When a run only brings newer records (a new drop:
new keys, and keys whose newest version moved to the new file), the snapshot is updated in
place instead: the records gone from core are deleted and the new ones appended after the
largest number, in the same order. Every kept record keeps its number, so the order of all
records is the one a full snapshot gives (with gaps); at 4.5M records this replaces a 12 s
rewrite of the whole table. The numbers appended and deleted are listed in
`resolved.<x>_record_changes` until a resolution reads them, so it need not compare millions of
numbers with its stored state to find them. After an incremental build, the snapshot itself
compares only the records of the keys the build merged (`update_records`). Anything else — a
file ranked before the newest ones, a record coming back from quarantine, a changed column
list, entities (whose snapshot also reads cleaning's issues) — numbers everything again.
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from crmpipe.model import Table
from crmpipe.resolution.tables import RESOLVE_DDL, ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import (
    create_table_as,
    fetch_all,
    number_by_rowid,
    table_columns,
    table_exists,
)

#: `_rec` is the file's rank times this plus the row: a file's rows never reach the next rank.
RANK = 10_000_000_000


def ensure_resolved(con: duckdb.DuckDBPyConnection) -> None:
    """The `resolved` schema and the model log exist (and have today's columns)."""
    for stmt in RESOLVE_DDL.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)


#: Each loaded file's rank by time (then name): the recency of its rows.
FILE_RANKS = (
    "(SELECT file, row_number() OVER (ORDER BY max(file_mtime), file) AS file_rank "
    "FROM meta.manifest GROUP BY file)"
)


def _ranked(tbl: Table, raw: str = "", raw_join: str = "", where: str = "") -> str:
    """core.<table> with `_rec` (and the raw columns of `raw_join`), not yet numbered."""
    return (
        f"SELECT coalesce(m.file_rank, 0) * {RANK} + c._row AS _rec, c.*{raw} "
        f"FROM core.{quote_ident(tbl.name)} c LEFT JOIN {FILE_RANKS} m "
        f"ON m.file = c._file {raw_join}{where}"
    )


def snapshot_records(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    *,
    full: bool = False,
    merged: str | None = None,
    plain: Collection[str] = (),
) -> int:
    """resolved.<x>_records := core.<table> with a numeric `_rid` and `_rec` (recency: newer
    file, then later row, is larger); entities also carry `_phone_raw`, the raw value of a
    phone cleaning found invalid (a 7-digit local number), from `meta.row_issues`.

    Updated in place when only newer records arrived (`update_records`, given the keys the
    build `merged`), unless `full`. A full snapshot stores the columns named in `plain`
    without compression (build/plain.py). Returns the number of records."""
    ensure_resolved(con)
    t = ResolvedTables(tbl.name)
    if tbl.name != "entities" and not full and update_records(con, tbl, merged) is not None:
        return fetch_all(con, f"SELECT count(*) FROM {t.records}")[0][0]
    raw, raw_join = "", ""
    if tbl.name == "entities" and table_exists(con, "meta", "row_issues"):
        raw = ", ri._phone_raw"
        raw_join = (
            "LEFT JOIN (SELECT _file, _row, arg_max(value, _run_id) AS _phone_raw "
            "FROM meta.row_issues WHERE table_name = 'entities' AND column_name = 'phone' "
            "AND code = 'invalid_phone' GROUP BY _file, _row) ri "
            "ON ri._file = c._file AND ri._row = c._row "
        )
    # Recency: rank the (few) files by time, then the row. Records are numbered in that order
    # (then by key: one source row may feed several records), not in the scan's, which varies
    # with threads: the same files give the same numbers, so Splink's seeded samples and the
    # clusters are the same run after run.
    key = quote_ident(tbl.key[0])
    # the last clusters and stored features name records by their old numbers: an incremental
    # resolution must not read them by number (resolution/touched.py, resolution/prepared.py)
    for stale in (t.clusters, t.prepass, t.changes):
        fetch_all(con, f"DROP TABLE IF EXISTS {stale}")
    fp_schema, fp_name = t.fingerprints.split(".")
    if "_rid" in table_columns(con, fp_schema, fp_name):
        fetch_all(con, f"ALTER TABLE {t.fingerprints} DROP COLUMN _rid")
    # written in that order on every thread (an insert keeps its input's order), then numbered
    # by the row's place: a new table's row ids are one run in that order. A window in the
    # write (`row_number() OVER ()`) would keep the sort's output and the write of every column
    # on one thread (~1.6 s of wall of 3.2 s at 1.1M facility records).
    create_table_as(
        con,
        t.records,
        f"SELECT CAST(NULL AS BIGINT) AS _rid, * FROM ("
        f"{_ranked(tbl, raw, raw_join)} ORDER BY _rec, CAST({key} AS VARCHAR))",
        plain,
    )
    return number_by_rowid(con, t.records, "_rid")


def update_records(
    con: duckdb.DuckDBPyConnection, tbl: Table, merged: str | None = None
) -> int | None:
    """Bring resolved.<x>_records up to core.<table> in place; returns the records appended,
    or None (nothing changed) when only a full snapshot keeps the order (module docstring).

    A record is the same when its key, file, row and the columns naming another resolved
    table's rows (remapped to golden ids after that table's resolution) are.

    `merged`: a table of the keys whose core rows the build changed since the last snapshot
    (build/incremental.merge_core: the rest of core is the build the records were taken
    from, less what the checks quarantined). Only the records of those keys and of the keys
    quarantined now are compared (`_candidates`); otherwise every record is."""
    t = ResolvedTables(tbl.name)
    schema, name = t.records.split(".")
    if not table_exists(con, schema, name) or len(tbl.key) != 1:
        return None
    core_cols = table_columns(con, "core", tbl.name)
    if table_columns(con, schema, name) != ["_rid", "_rec", *core_cols]:
        return None
    key = quote_ident(tbl.key[0])
    same = [tbl.key[0], "_file", "_row"] + [
        c.name for c in tbl.all_columns if c.references and c.name not in tbl.key
    ]
    # a record's identity as one 64-bit hash beside its key: two anti-joins on (key, hash)
    # instead of four columns compared NULL-safe (3.2 s at 4.5M records)
    ident = f"CAST({key} AS VARCHAR) AS k, hash({', '.join(quote_ident(c) for c in same)}) AS h"
    # the files' ranks must not have moved: a kept record keeps its recency
    moved = fetch_all(
        con,
        f"SELECT count(*) FROM (SELECT DISTINCT _file, _rec // {RANK} AS rank FROM {t.records}) o "
        f"LEFT JOIN {FILE_RANKS} m ON m.file = o._file WHERE coalesce(m.file_rank, 0) <> o.rank",
    )[0][0]
    if moved:
        return None
    # one outer join finds both the new rows and the gone records (two anti-joins: 0.85 s
    # against 0.37 s at 4.5M), in one statement: the kept and current identities copied to
    # two work tables first cost more than the join (2.93 against 1.40 s at 4.5M)
    only = _candidates(con, tbl, merged) if merged else ""
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _snap_diff AS SELECT o._rid, c._at FROM "
        f"(SELECT _rid, {ident} FROM {t.records}{only}) o FULL JOIN "
        f"(SELECT rowid AS _at, {ident} FROM core.{quote_ident(tbl.name)}{only}) c "
        "USING (k, h) WHERE o._rid IS NULL OR c._at IS NULL",
    )
    if merged and not _adds_up(con, t, tbl):  # not the build the records came from
        fetch_all(con, "DROP TABLE IF EXISTS _snap_keys")
        return update_records(con, tbl)
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _snap_new AS "
        + _ranked(
            tbl, where=" WHERE c.rowid IN (SELECT _at FROM _snap_diff WHERE _at IS NOT NULL)"
        ),
    )
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _snap_gone AS SELECT _rid FROM _snap_diff "
        "WHERE _rid IS NOT NULL",
    )
    try:
        # every new record must come after every kept one in (recency, key) order; the kept
        # records' numbers follow that order, so the last kept one is the one with the largest
        # number (its order looked up alone: not that of every record, 4.5M keys cast)
        order = f"(_rec, CAST({key} AS VARCHAR))"
        top, last = fetch_all(
            con,
            f"SELECT (SELECT coalesce(max(_rid), 0) FROM {t.records}), (SELECT max(_rid) FROM "
            f"{t.records} WHERE _rid NOT IN (SELECT _rid FROM _snap_gone))",
        )[0]
        late = fetch_all(
            con,
            f"SELECT (SELECT min({order}) FROM _snap_new) > "
            f"(SELECT max({order}) FROM {t.records} WHERE _rid = ?)",
            [last],
        )[0][0]
        if late is False:
            return None
        # numbers are never reused within a resolution: the gone records' are still named by
        # the last clusters and features until they are compared
        top = int(top)
        fetch_all(con, f"DELETE FROM {t.records} WHERE _rid IN (SELECT _rid FROM _snap_gone)")
        cols = ", ".join(quote_ident(c) for c in ["_rec", *core_cols])
        added = fetch_all(
            con,
            f"INSERT INTO {t.records} SELECT {top} + row_number() OVER "
            f"(ORDER BY _rec, CAST({key} AS VARCHAR)), {cols} FROM _snap_new",
        )[0][0]
        # kept until a resolution reads them (several snapshots may come first: they add up)
        fetch_all(con, f"CREATE TABLE IF NOT EXISTS {t.changes} (_rid BIGINT, gone BOOLEAN)")
        fetch_all(
            con,
            f"INSERT INTO {t.changes} SELECT _rid, true FROM _snap_gone "
            f"UNION ALL SELECT _rid, false FROM {t.records} WHERE _rid > {top}",
        )
        return added
    finally:
        for tmp in ("_snap_new", "_snap_gone", "_snap_diff", "_snap_keys"):
            fetch_all(con, f"DROP TABLE IF EXISTS {tmp}")


def _candidates(con: duckdb.DuckDBPyConnection, tbl: Table, merged: str) -> str:
    """The WHERE clause keeping the rows of the keys in `merged` or in quarantine (a row the
    checks quarantined now may have been a record), from temp table `_snap_keys`: a probe of
    every record's key instead of a join of every record's identity (1.0–1.2 s at 4.5M)."""
    key = quote_ident(tbl.key[0])
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _snap_keys AS SELECT {key} FROM {quote_ident(merged)} "
        f"UNION SELECT {key} FROM quarantine.{quote_ident(tbl.name)} WHERE {key} IS NOT NULL",
    )
    return f" WHERE {key} IN (SELECT {key} FROM _snap_keys)"


def _adds_up(con: duckdb.DuckDBPyConnection, t: ResolvedTables, tbl: Table) -> bool:
    """Whether the records, less the gone and plus the new ones `_snap_diff` lists, are as many
    as core's rows: a cheap check that only the candidates' rows changed."""
    ((records, core, gone, new),) = fetch_all(
        con,
        f"SELECT (SELECT count(*) FROM {t.records}), "
        f"(SELECT count(*) FROM core.{quote_ident(tbl.name)}), "
        "(SELECT count(_rid) FROM _snap_diff), (SELECT count(_at) FROM _snap_diff)",
    )
    return records - gone + new == core
