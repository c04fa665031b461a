"""Reading one run's figures from the warehouse's run registry, for the run report.

Each function reads one thing from `meta` (the contract is `warehouse.META_DDL`) or
the staging, core and quarantine schemas, and returns plain JSON values: which run, its
record, step timings, per-table counts, rejects, quarantine, schema changes, alerts and the
run history. Tables absent from an older warehouse read as empty. The check and quality
figures are read by `report.quality`; `report.content` puts everything together.
"""

from __future__ import annotations

from typing import Any

import duckdb

from crmpipe.errors import CrmpipeError
from crmpipe.jsonvalues import json_value
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_columns, table_exists

#: Columns of a quarantine table that name the check and the reason (first one present wins).
QUARANTINE_CHECK_COLUMNS = ("_check", "check_name", "_check_name")
QUARANTINE_RUN_COLUMNS = ("_quarantined_run", "_quarantine_run_id")

#: How many rejected lines of the run the report lists.
REJECT_SAMPLE = 20


class ReportError(CrmpipeError):
    """The report can't be made (no runs yet, unknown run id, bad output path): one line."""


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list:
    """The query's rows as dicts of JSON values."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def has_meta(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether meta.<table> exists (a warehouse made by an older version may lack it)."""
    return table_exists(con, "meta", table)


def pick_run(con: duckdb.DuckDBPyConnection, run_id: int | None) -> int:
    """The run asked for, or the newest finished one; ReportError saying what to do."""
    if not has_meta(con, "runs"):
        raise ReportError("no runs yet: run 'crmpipe run' first")
    first, last = con.execute("SELECT min(run_id), max(run_id) FROM meta.runs").fetchone()
    if last is None:
        raise ReportError("no runs yet: run 'crmpipe run' first")
    if run_id is None:
        row = con.execute(
            "SELECT max(run_id) FROM meta.runs WHERE status IS DISTINCT FROM 'running'"
        ).fetchone()
        return int(row[0] if row[0] is not None else last)
    if not con.execute("SELECT count(*) FROM meta.runs WHERE run_id = ?", [run_id]).fetchone()[0]:
        raise ReportError(
            f"no run {run_id}: runs go from {first} to {last} (see 'crmpipe runs'); "
            "leave RUN out for the latest"
        )
    return run_id


def run_record(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, Any]:
    """The run's row of meta.runs, with its duration."""
    cols = set(table_columns(con, "meta", "runs"))
    extra = ", ".join(
        c if c in cols else f"NULL::BIGINT AS {c}" for c in ("checks_failed", "checks_warned")
    )
    (row,) = records(
        con,
        "SELECT run_id, started_at, finished_at, "
        "date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, status, "
        "config_path, coalesce(files_loaded, 0) AS files_loaded, "
        "coalesce(files_skipped, 0) AS files_skipped, coalesce(rows_read, 0) AS rows_read, "
        "coalesce(rows_loaded, 0) AS rows_loaded, coalesce(rows_rejected, 0) AS rows_rejected, "
        "coalesce(rows_quarantined, 0) AS rows_quarantined, "
        f"coalesce(rows_merged, 0) AS rows_merged, {extra}, message "
        "FROM meta.runs WHERE run_id = ?",
        [run_id],
    )
    return row


def build_run(con: duckdb.DuckDBPyConnection, run_id: int) -> int | None:
    """The run whose build the warehouse had after `run_id` (an up-to-date run builds nothing)."""
    if not has_meta(con, "table_counts"):
        return None
    (found,) = con.execute(
        "SELECT max(run_id) FROM meta.table_counts WHERE run_id <= ?", [run_id]
    ).fetchone()
    return int(found) if found is not None else None


def latest_build(con: duckdb.DuckDBPyConnection) -> int | None:
    """The run whose build the warehouse holds now."""
    if not has_meta(con, "table_counts"):
        return None
    (found,) = con.execute("SELECT max(run_id) FROM meta.table_counts").fetchone()
    return int(found) if found is not None else None


def source_tables(
    con: duckdb.DuckDBPyConnection, tables: list[str], sources: dict[str, str] | None
) -> dict[str, str]:
    """source → canonical table: from the project file when given, else from staging rows."""
    if sources:
        return dict(sources)
    out: dict[str, str] = {}
    for table in tables:
        if "_source" not in table_columns(con, "staging", table):
            continue
        rows = con.execute(
            f"SELECT DISTINCT _source FROM staging.{quote_ident(table)} WHERE _source IS NOT NULL"
        ).fetchall()
        out.update({r[0]: table for r in rows})
    return out


def rejected_by_source(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, int]:
    """Rejected lines per source over every file loaded up to this run (as meta.runs counts)."""
    if not has_meta(con, "manifest"):
        return {}
    rows = con.execute(
        "SELECT source, coalesce(sum(rows_rejected), 0) FROM meta.manifest "
        "WHERE run_id <= ? GROUP BY source ORDER BY source",
        [run_id],
    ).fetchall()
    return {s: int(n) for s, n in rows}


def table_counts(
    con: duckdb.DuckDBPyConnection,
    build: int | None,
    rejected: dict[str, int],
    source_table: dict[str, str],
) -> list[dict[str, Any]]:
    """Per table: read = loaded + merged + quarantined + rejected, as of the run's build."""
    if build is None:
        return []
    rows = records(
        con,
        "SELECT table_name AS table, coalesce(staged, 0) AS staged, coalesce(loaded, 0) AS loaded, "
        "coalesce(merged, 0) AS merged, coalesce(quarantined, 0) AS quarantined, "
        "coalesce(issues, 0) AS issues FROM meta.table_counts WHERE run_id = ? "
        "ORDER BY table_name",
        [build],
    )
    out = []
    for r in rows:
        rej = sum(n for s, n in rejected.items() if source_table.get(s) == r["table"])
        read = r["staged"] + rej
        out.append(
            {
                "table": r["table"],
                "read": read,
                "loaded": r["loaded"],
                "merged": r["merged"],
                "quarantined": r["quarantined"],
                "rejected": rej,
                "value_issues": r["issues"],
                "balanced": read == r["loaded"] + r["merged"] + r["quarantined"] + rej,
            }
        )
    return out


def quarantine_counts(
    con: duckdb.DuckDBPyConnection, build: int | None, latest_build: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Quarantined rows per table, source and check, and a note when they can't be known.

    Quarantine tables hold the latest build's rows; for an older build only rows stamped with
    that build's run id (when the tables carry one) can be counted.
    """
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine' "
            "ORDER BY table_name"
        ).fetchall()
    ]
    if not names:
        return [], None
    current = build is not None and build == latest_build
    out: list[dict[str, Any]] = []
    note = None
    for name in names:
        cols = table_columns(con, "quarantine", name)
        run_col = next((c for c in QUARANTINE_RUN_COLUMNS if c in cols), None)
        if current:
            where, params = "", []
        elif run_col is not None and build is not None:
            where, params = f" WHERE {quote_ident(run_col)} = ?", [build]
        else:
            note = "quarantined rows are kept for the latest build only"
            continue
        source = "_source" if "_source" in cols else "NULL"
        check_col = next((c for c in QUARANTINE_CHECK_COLUMNS if c in cols), None)
        check = quote_ident(check_col) if check_col else "NULL"
        out += records(
            con,
            f'SELECT ? AS "table", {source}::VARCHAR AS "source", {check}::VARCHAR AS "check", '
            f'count(*) AS "rows" FROM quarantine.{quote_ident(name)}{where} '
            'GROUP BY ALL ORDER BY "rows" DESC, "source", "check"',
            [name, *params],
        )
    return out, note


def history(con: duckdb.DuckDBPyConnection, run_id: int, n: int) -> list[dict[str, Any]]:
    """The `n` runs up to and including `run_id`, oldest first."""
    cols = set(table_columns(con, "meta", "runs"))
    extra = ", ".join(
        c if c in cols else f"NULL::BIGINT AS {c}" for c in ("checks_failed", "checks_warned")
    )
    return records(
        con,
        "SELECT * FROM (SELECT run_id, started_at, "
        "date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, status, "
        "coalesce(rows_read, 0) AS rows_read, coalesce(rows_loaded, 0) AS rows_loaded, "
        "coalesce(rows_rejected, 0) AS rows_rejected, "
        f"coalesce(rows_quarantined, 0) AS rows_quarantined, {extra}, message "
        "FROM meta.runs WHERE run_id <= ? ORDER BY run_id DESC LIMIT ?) ORDER BY run_id",
        [run_id, n],
    )


def built_tables(con: duckdb.DuckDBPyConnection, build: int | None) -> list[str]:
    """The tables the run's build counted (meta.table_counts), in name order."""
    if build is None:
        return []
    return [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT table_name FROM meta.table_counts WHERE run_id = ? ORDER BY 1",
            [build],
        ).fetchall()
    ]


def steps(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    """The run's steps with their timings, in the order they started."""
    return records(
        con,
        "SELECT step, target, started_at, seconds, rows, detail FROM meta.run_steps "
        "WHERE run_id = ? ORDER BY started_at, step, target",
        [run_id],
    )


def schema_changes(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    """Columns added to or gone from the run's source files."""
    if not has_meta(con, "schema_changes"):
        return []
    return records(
        con,
        "SELECT source, file, change, column_name AS column, detected_at "
        "FROM meta.schema_changes WHERE run_id = ? ORDER BY source, file, column_name",
        [run_id],
    )


def alerts(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    """The alerts the run sent."""
    if not has_meta(con, "alerts"):
        return []
    return records(
        con,
        "SELECT sent_at, url, event, status, attempts, message FROM meta.alerts "
        "WHERE run_id = ? ORDER BY sent_at",
        [run_id],
    )


def rejected_lines(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    """A sample (REJECT_SAMPLE) of the lines the run rejected."""
    if not has_meta(con, "rejects"):
        return []
    return records(
        con,
        "SELECT source, file, line, column_name AS column, error_type, message "
        "FROM meta.rejects WHERE run_id = ? ORDER BY source, file, line LIMIT ?",
        [run_id, REJECT_SAMPLE],
    )
