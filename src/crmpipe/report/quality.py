"""Reading one run's data-quality results for the run report: checks, SLAs, scores, nulls.

Also the status vocabulary the report colours by: whatever words the check, SLA and run
tables use map to pass | warn | fail | skip.
"""

from __future__ import annotations

from typing import Any

import duckdb

from crmpipe.jsonvalues import json_value
from crmpipe.report.collect import has_meta, records
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_columns

#: check/SLA status words → pass | warn | fail | skip (what the page colours them by).
STATUS_CLASS = {
    "pass": "pass",
    "passed": "pass",
    "ok": "pass",
    "success": "pass",
    "warn": "warn",
    "warned": "warn",
    "warning": "warn",
    "fail": "fail",
    "failed": "fail",
    "error": "fail",
    "skip": "skip",
    "skipped": "skip",
    # run statuses (meta.runs.status)
    "checks_failed": "fail",
    "interrupted": "fail",
    "running": "skip",
}


def status_class(status: str | None) -> str:
    """pass | warn | fail | skip for a status word (unknown words count as skip)."""
    return STATUS_CLASS.get((status or "").strip().lower(), "skip")


def check_outcome(status: str | None, severity: str | None) -> str:
    """A check's outcome: a failing check of severity `warn` is a warning, not a failure."""
    outcome = status_class(status)
    if outcome == "fail" and (severity or "").strip().lower() in ("warn", "warning"):
        return "warn"
    return outcome


def checks(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    if not has_meta(con, "check_results"):
        return []
    rows = records(
        con,
        "SELECT table_name AS table, column_name AS column, check_name AS check, "
        "check_type AS type, severity, status, failed_rows, total_rows, measured, threshold, "
        "message, origin, seconds FROM meta.check_results WHERE run_id = ? "
        "ORDER BY table_name, column_name NULLS FIRST, check_name",
        [run_id],
    )
    order = {"fail": 0, "warn": 1, "skip": 2, "pass": 3}
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])
    rows.sort(key=lambda r: order[r["outcome"]])  # stable: failures first, then by table
    return rows


def slas(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    if not has_meta(con, "sla_results"):
        return []
    severity = "severity" if "severity" in table_columns(con, "meta", "sla_results") else "NULL"
    rows = records(
        con,
        "SELECT sla_name AS name, table_name AS table, column_name AS column, metric, measured, "
        f"target, comparison, unit, {severity}::VARCHAR AS severity, status, message "
        "FROM meta.sla_results WHERE run_id = ? ORDER BY sla_name",
        [run_id],
    )
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])
    return rows


def scores(con: duckdb.DuckDBPyConnection, run_id: int, runs: list[int]) -> dict[str, Any]:
    """Scores per table and dimension for this run, and each table's overall score per run."""
    empty: dict[str, Any] = {"run_id": None, "latest": {}, "runs": runs, "overall": {}}
    if not has_meta(con, "quality_scores") or not runs:
        return empty
    (scored,) = con.execute(
        "SELECT max(run_id) FROM meta.quality_scores WHERE run_id <= ?", [run_id]
    ).fetchone()
    latest: dict[str, dict[str, float]] = {}
    if scored is not None:
        for table, dim, score in con.execute(
            "SELECT table_name, dimension, avg(score) FROM meta.quality_scores WHERE run_id = ? "
            "GROUP BY ALL ORDER BY table_name, dimension",
            [scored],
        ).fetchall():
            latest.setdefault(table, {})[dim] = json_value(score)
    placeholders = ", ".join("?" for _ in runs)
    # A table's overall score, else the mean of the dimensions it was scored on.
    rows = con.execute(
        "SELECT run_id, table_name, coalesce(avg(score) FILTER (WHERE dimension = 'overall'), "
        "avg(score)) FROM meta.quality_scores "
        f"WHERE run_id IN ({placeholders}) GROUP BY ALL ORDER BY table_name, run_id",
        runs,
    ).fetchall()
    overall: dict[str, list[float | None]] = {}
    index = {r: i for i, r in enumerate(runs)}
    for run, table, score in rows:
        overall.setdefault(table, [None] * len(runs))[index[run]] = json_value(score)
    return {
        "run_id": int(scored) if scored is not None else None,
        "latest": latest,
        "runs": runs,
        "overall": overall,
    }


def null_rates(
    con: duckdb.DuckDBPyConnection, run_id: int, current: bool, tables: list[str]
) -> dict[str, Any]:
    """Null share per column: meta.column_profiles of the run, else measured on core now.

    Measuring is only honest for the build the core tables hold, so older runs without
    profiles get none.
    """
    if has_meta(con, "column_profiles"):
        (profiled,) = con.execute(
            "SELECT max(run_id) FROM meta.column_profiles WHERE run_id <= ?", [run_id]
        ).fetchone()
        if profiled is not None:
            out: dict[str, list[dict[str, Any]]] = {}
            for r in records(
                con,
                "SELECT table_name AS table, column_name AS column, row_count AS rows, "
                "null_count AS nulls FROM meta.column_profiles WHERE run_id = ? "
                "ORDER BY table_name, column_name",
                [profiled],
            ):
                out.setdefault(r.pop("table"), []).append(_rate(r))
            return {"origin": "meta.column_profiles", "run_id": int(profiled), "tables": out}
    if not current:
        return {"origin": None, "run_id": None, "tables": {}}
    out = {}
    for table in tables:
        cols = [c for c in table_columns(con, "core", table) if not c.startswith("_")]
        if not cols:
            continue
        counts = ", ".join(f"count({quote_ident(c)})" for c in cols)
        total, *present = con.execute(
            f"SELECT count(*), {counts} FROM core.{quote_ident(table)}"
        ).fetchone()
        out[table] = [
            _rate({"column": c, "rows": int(total), "nulls": int(total) - int(p)})
            for c, p in zip(cols, present, strict=True)
        ]
    return {"origin": "core tables (measured now)", "run_id": run_id, "tables": out}


def _rate(r: dict[str, Any]) -> dict[str, Any]:
    rows, nulls = r.get("rows") or 0, r.get("nulls") or 0
    r["null_rate"] = round(100.0 * nulls / rows, 4) if rows else None
    return r
