"""The run registry: one row per `crmpipe run` in `meta.runs`, one per step in `meta.run_steps`.

A run is registered before it starts and closed with its status and reconciliation counts, so
`crmpipe runs` and the report can show failed and interrupted runs as well as good ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass
class RunRecord:
    """One row of meta.runs, as `crmpipe runs` shows it."""

    run_id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    files_loaded: int
    files_skipped: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_quarantined: int
    rows_merged: int
    message: str | None
    checks_failed: int = 0
    checks_warned: int = 0

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def start_run(con: duckdb.DuckDBPyConnection, config_path: str | None) -> int:
    """Register a new run and return its id (ids increase by one per run)."""
    # A run still marked 'running' was killed: its transaction never committed.
    con.execute(
        "UPDATE meta.runs SET status = 'interrupted', message = 'the process stopped mid-run; "
        "nothing of it was kept' WHERE status = 'running'"
    )
    (last,) = con.execute("SELECT coalesce(max(run_id), 0) FROM meta.runs").fetchone()
    run_id = int(last) + 1
    con.execute(
        "INSERT INTO meta.runs (run_id, started_at, status, config_path) "
        "VALUES (?, now()::TIMESTAMP, 'running', ?)",
        [run_id, config_path],
    )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: int, status: str, message: str | None = None, **counts
) -> None:
    """Close a run with its status and the reconciliation counts."""
    cols = [
        "files_loaded",
        "files_skipped",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "rows_quarantined",
        "rows_merged",
    ]
    values = [int(counts.get(c, 0) or 0) for c in cols]
    sets = ", ".join(f"{c} = ?" for c in cols)
    con.execute(
        f"UPDATE meta.runs SET finished_at = now()::TIMESTAMP, status = ?, message = ?, {sets} "
        "WHERE run_id = ?",
        [status, message, *values, run_id],
    )


def record_step(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    step: str,
    target: str,
    started_at: datetime,
    seconds: float,
    rows: int,
    detail: str = "",
) -> None:
    con.execute(
        "INSERT INTO meta.run_steps VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, step, target, started_at, seconds, rows, detail],
    )


def list_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[RunRecord]:
    """The most recent runs, newest first."""
    rows = con.execute(
        "SELECT run_id, started_at, finished_at, status, coalesce(files_loaded, 0), "
        "coalesce(files_skipped, 0), coalesce(rows_read, 0), coalesce(rows_loaded, 0), "
        "coalesce(rows_rejected, 0), coalesce(rows_quarantined, 0), coalesce(rows_merged, 0), "
        "message, coalesce(checks_failed, 0), coalesce(checks_warned, 0) "
        "FROM meta.runs ORDER BY run_id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [RunRecord(*r) for r in rows]
