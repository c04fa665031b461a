"""COPY from DuckDB into PostgreSQL: each table streamed as COPY text lines in Arrow batches
(`copy_job`, `stream_job` for any DuckDB query: bounded memory), and the search field
registry (`fields_job`). Both are jobs for
crmpipe.publish.jobs.run_jobs: a function of a build connection returning the rows copied.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import duckdb
import psycopg
import pyarrow as pa
from psycopg.copy import QueuedLibpqWriter

from crmpipe.publish import ddl
from crmpipe.publish.ddl import qualified
from crmpipe.publish.errors import PublishError
from crmpipe.publish.plan import FieldRow, TablePlan
from crmpipe.search.facilities import FACILITY_SEARCH
from crmpipe.search.table import SEARCH_TABLE

#: Rows per Arrow batch streamed from DuckDB into COPY (bounded memory: a few MB a batch).
BATCH_ROWS = 50_000


def payload(col: pa.Array) -> memoryview | bytes:
    """The bytes of a batch of COPY lines, straight from the Arrow string buffer (no copy)."""
    if len(col) == 0:
        return b""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        fmt, width = ("<i", 4) if pa.types.is_string(col.type) else ("<q", 8)
        offsets, data = col.buffers()[1], col.buffers()[2]
        start = struct.unpack_from(fmt, offsets, width * col.offset)[0]
        end = struct.unpack_from(fmt, offsets, width * (col.offset + len(col)))[0]
        return memoryview(data)[start:end]
    return "".join(col.to_pylist()).encode()  # e.g. string_view: rare, slower path


def copy_job(
    duck: duckdb.DuckDBPyConnection, schema: str, plan: TablePlan
) -> Callable[[psycopg.Connection], int]:
    """TRUNCATE + COPY FREEZE of a table `open_schema` created empty (FREEZE needs the table
    created or truncated in the same transaction), streaming DuckDB's rows as COPY text lines
    in Arrow batches. Fails when the rows copied differ from the warehouse's count."""
    if not plan.exists:
        return lambda conn: 0
    query = ddl.copy_query(
        plan.source, plan.columns, plan.duck_types, ddl.COPY_ORDER.get(plan.name)
    )
    return stream_job(duck, schema, plan.name, [c.name for c in plan.columns], query, plan.rows)


def stream_job(
    duck: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    columns: list[str],
    query: str,
    expected: int | None = None,
) -> Callable[[psycopg.Connection], int]:
    """COPY the lines of DuckDB `query` (one VARCHAR COPY text line per row, ddl.copy_query)
    into the empty table `schema.name`, frozen, in one transaction; the rows copied."""

    def run(conn: psycopg.Connection) -> int:
        cur = duck.cursor()
        try:
            with conn.transaction():
                conn.execute(f"TRUNCATE {qualified(schema, name)}")
                stmt = ddl.copy_statement(schema, name, columns)
                pg_cur = conn.cursor()
                with pg_cur.copy(stmt, writer=QueuedLibpqWriter(pg_cur)) as copy:
                    for batch in cur.sql(query).to_arrow_reader(BATCH_ROWS):
                        data = payload(batch.column(0))
                        if len(data):
                            copy.write(data)
                rows = pg_cur.rowcount
        finally:
            cur.close()
        if expected is not None and rows != expected:
            raise PublishError(
                f"copied {rows:,} rows into {name} but the warehouse has {expected:,}; "
                "publish again (the previous version still serves)"
            )
        return rows

    return run


def fields_job(
    schema: str, fields: list[FieldRow], facility_fields: list[FieldRow] | None = None
) -> Callable[[psycopg.Connection], int]:
    """The search field registry (crmpipe.search reads it), with each field's lookup and its
    table: contact_search's `fields`, facility_search's `facility_fields`."""
    rows = [(*f, SEARCH_TABLE) for f in fields]
    rows += [(*f, FACILITY_SEARCH.name) for f in facility_fields or []]

    def run(conn: psycopg.Connection) -> int:
        with conn.transaction():
            conn.execute(
                f"CREATE TABLE {qualified(schema, 'search_fields')} "
                "(name text NOT NULL, kind text NOT NULL, position integer NOT NULL, "
                "match_column text, lookup_table text, lookup_column text, lookup_key text, "
                "lookup_field text, narrow_table text, table_name text NOT NULL, "
                "PRIMARY KEY (table_name, name))"
            )
            with conn.cursor().copy(
                f"COPY {qualified(schema, 'search_fields')} (name, kind, position, "
                "match_column, lookup_table, lookup_column, lookup_key, lookup_field, "
                "narrow_table, table_name) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        return len(rows)

    return run
