"""The DuckDB warehouse: its schemas, the `meta` tables' DDL, and opening a connection.

One DuckDB file holds every layer of the flow (docs/architecture.md, "The flow"): `raw`
(append-only source rows), `staging` (cleaned and typed), `core` (canonical tables), `search`
(the flattened search table), `marts`, `quarantine` and `meta` (manifest, rejects, schema
changes, issues, runs; the run registry is `warehouse.runs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

import duckdb

from crmpipe.errors import CrmpipeError
from crmpipe.sqltext import quote_ident

SCHEMAS = ("raw", "staging", "core", "search", "marts", "quarantine", "meta")

META_DDL = """
CREATE TABLE IF NOT EXISTS meta.runs (
  run_id BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
  config_path VARCHAR, files_loaded BIGINT, files_skipped BIGINT,
  rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, rows_quarantined BIGINT,
  rows_merged BIGINT, message VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.run_steps (
  run_id BIGINT, step VARCHAR, target VARCHAR, started_at TIMESTAMP, seconds DOUBLE,
  rows BIGINT, detail VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.manifest (
  source VARCHAR, file VARCHAR, file_hash VARCHAR, file_size BIGINT, file_mtime TIMESTAMP,
  run_id BIGINT, loaded_at TIMESTAMP, rows_loaded BIGINT, rows_rejected BIGINT,
  encoding VARCHAR, delimiter VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.rejects (
  source VARCHAR, file VARCHAR, file_hash VARCHAR, line BIGINT, column_name VARCHAR,
  error_type VARCHAR, message VARCHAR, raw_line VARCHAR, run_id BIGINT
);
CREATE TABLE IF NOT EXISTS meta.schema_changes (
  source VARCHAR, file VARCHAR, run_id BIGINT, change VARCHAR, column_name VARCHAR,
  detected_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS meta.row_issues (
  table_name VARCHAR, _source VARCHAR, _file VARCHAR, _row BIGINT, _run_id BIGINT,
  column_name VARCHAR, code VARCHAR, value VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.table_counts (
  run_id BIGINT, table_name VARCHAR, staged BIGINT, loaded BIGINT, merged BIGINT,
  quarantined BIGINT, issues BIGINT
);
CREATE TABLE IF NOT EXISTS meta.search_fields (
  name VARCHAR, kind VARCHAR, position INTEGER, match_column VARCHAR
);
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS table_name VARCHAR;
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS signature_column VARCHAR;
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS hash_column VARCHAR;
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS hash_table VARCHAR;
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS entity_table VARCHAR;
ALTER TABLE meta.search_fields ADD COLUMN IF NOT EXISTS token_table VARCHAR;
CREATE TABLE IF NOT EXISTS meta.build_state (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS meta.check_results (
  run_id BIGINT, table_name VARCHAR, column_name VARCHAR, check_name VARCHAR,
  check_type VARCHAR, severity VARCHAR, status VARCHAR, failed_rows BIGINT, total_rows BIGINT,
  measured DOUBLE, threshold DOUBLE, message VARCHAR, origin VARCHAR, seconds DOUBLE
);
CREATE TABLE IF NOT EXISTS meta.sla_results (
  run_id BIGINT, sla_name VARCHAR, table_name VARCHAR, column_name VARCHAR, metric VARCHAR,
  measured DOUBLE, target DOUBLE, comparison VARCHAR, unit VARCHAR, status VARCHAR,
  message VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.quality_scores (
  run_id BIGINT, table_name VARCHAR, dimension VARCHAR, score DOUBLE
);
CREATE TABLE IF NOT EXISTS meta.column_profiles (
  run_id BIGINT, table_name VARCHAR, column_name VARCHAR, row_count BIGINT, null_count BIGINT
);
CREATE TABLE IF NOT EXISTS meta.alerts (
  run_id BIGINT, sent_at TIMESTAMP, url VARCHAR, event VARCHAR, status VARCHAR,
  attempts INTEGER, message VARCHAR
);
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS checks_failed BIGINT;
ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS checks_warned BIGINT;
ALTER TABLE meta.sla_results ADD COLUMN IF NOT EXISTS severity VARCHAR;
"""


class WarehouseError(CrmpipeError):
    """The warehouse file can't be opened or is not a crmpipe warehouse."""


def connect(path: Path | str | None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse at `path` (None = in memory) with every schema.

    Read-only connections are for searching: they don't create anything and can run while
    another process only reads too.
    """
    if path is not None:
        path = Path(path)
        if read_only and not path.exists():
            raise WarehouseError(f"{path}: no warehouse yet; run 'crmpipe run' first")
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
    except duckdb.IOException as exc:
        first = str(exc).splitlines()[0]
        raise WarehouseError(f"{path}: cannot open the warehouse: {first}") from None
    threads = os.environ.get("CRMPIPE_THREADS")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # DuckDB would use up to 80% of RAM; a bound makes big builds spill instead (the budget in
    # docs/benchmarks.md: 4.5M contacts within 6 GB peak RSS). Override with
    # CRMPIPE_MEMORY_LIMIT, e.g. "8GB".
    limit = os.environ.get("CRMPIPE_MEMORY_LIMIT", "4GB")
    con.execute("SET memory_limit = ?", [limit])
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(META_DDL)
    return con


def fetch_all(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list:
    """Execute and fetch the whole answer: DuckDB 2.0 refuses new work on a connection while a
    result is left pending (a chain of statements, each finished before the next)."""
    return con.execute(sql, params or []).fetchall()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether schema.name exists. Fetches the whole answer: DuckDB 2.0 refuses a relation
    (`con.sql`) while a result is left unfinished."""
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(rows and rows[0][0])


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """Column names of schema.name in order (empty when the table does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [r[0] for r in rows]


def commit_without_vacuum(con: duckdb.DuckDBPyConnection) -> None:
    """COMMIT the open transaction; no checkpoint of this connection runs DuckDB's vacuum
    tasks from then on (`max_vacuum_tasks = 0`, left so): neither the one the
    commit triggers nor the one its close makes, which would otherwise do the vacuum the commit
    skipped (measured: a 2.0 s commit, then 6.2 s in `close()`, 1M childcare facility rows).
    `crmpipe run` commits so, then closes its connection.

    An incremental run deletes a few percent of the rows of several large tables (the golden
    rows, lineage and search rows it writes again), spread over all of their row groups.
    DuckDB's vacuum at the checkpoint then examines and partly rewrites those row groups, yet
    reclaims almost nothing: a row group is only merged when its neighbours' remaining rows fit
    in fewer groups (measured at 1M contacts + a 50k drop: 4,874 of 86,000 deleted rows
    reclaimed; docs/benchmarks.md). A full run writes its tables anew, and the vacuum cost
    about 5 s of its commit and close (1M childcare facility rows). Deleted rows are instead
    written out by warehouse/compact.py once they pile up."""
    con.execute("SET max_vacuum_tasks = 0")
    con.execute("COMMIT")


def number_by_rowid(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    where: str = "",
    params: list | None = None,
) -> int:
    """Set `column` to each row's place (from 1) in `rowid` order among the rows of `table`
    matching `where` (SQL, `?` params), which an insert laid down in its input's order; returns
    how many. Their `rowid` past the first one's when they are one run of row ids, as an insert
    into a table gives (a new table's in a transaction start at 2^55, not 0); a window over
    `rowid` otherwise (never seen). Instead of a `row_number() OVER ()` in the insert itself,
    which keeps the insert's scan and its write of every column on one thread."""
    cond = f" WHERE {where}" if where else ""
    first, last, rows = con.execute(
        f"SELECT min(rowid), max(rowid), count(*) FROM {table}{cond}", params or []
    ).fetchone()
    if not rows:
        return 0
    if last - first + 1 == rows:
        con.execute(
            f"UPDATE {table} SET {column} = rowid - $first + 1 "
            "WHERE rowid BETWEEN $first AND $last",
            {"first": first, "last": last},
        )
    else:
        con.execute(
            f"UPDATE {table} r SET {column} = n._n FROM (SELECT rowid AS _at, row_number() OVER "
            f"(ORDER BY rowid) AS _n FROM {table}{cond}) n WHERE r.rowid = n._at",
            params or [],
        )
    return int(rows)


def create_table_as(
    con: duckdb.DuckDBPyConnection,
    table: str,
    select: str,
    plain: Collection[str] | Callable[[str, str], bool] = (),
) -> None:
    """`CREATE OR REPLACE TABLE table AS select`, the columns `plain` names (or, a function,
    picks by name and DuckDB type) stored without compression: the table is created from the
    select's `DESCRIBE` with those columns `USING COMPRESSION uncompressed`, then filled by one
    `INSERT` (which keeps the select's order, as the `CREATE … AS` does). DuckDB analyses every
    text column's values for a compression before it writes them; for text with nearly one
    value per row that analysis is most of the write and saves little space. Without `plain`,
    the `CREATE … AS` itself."""
    if not plain:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {select}").fetchall()
        return
    picks = plain if callable(plain) else (lambda name, _kind: name in plain)
    shape = con.execute(f"DESCRIBE {select}").fetchall()
    uncompressed = " USING COMPRESSION uncompressed"
    ddl = ", ".join(
        f"{quote_ident(name)} {kind}" + (uncompressed if picks(name, kind) else "")
        for name, kind, *_ in shape
    )
    con.execute(f"CREATE OR REPLACE TABLE {table} ({ddl})").fetchall()
    con.execute(f"INSERT INTO {table} {select}").fetchall()
