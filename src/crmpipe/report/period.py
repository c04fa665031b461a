"""A period's quality report (`crmpipe report --since 7d`): the runs started in the period and,
per SLA and per check, how often it passed and its figures across them — runs counted, pass
rate, the latest and the worst value — as one plain dict of JSON values.

The period is a span back from now (`24h`, `7d`, `2w`) or an ISO date or timestamp, read on the
warehouse's clock (the one `meta.runs.started_at` is written with). Only the warehouse's meta
tables are read, a few rows per run; `report.period_html` draws the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

import crmpipe
from crmpipe.jsonvalues import json_value
from crmpipe.report.collect import ReportError, has_meta, records
from crmpipe.report.quality import check_outcome
from crmpipe.warehouse.connection import table_columns

#: `7d`, `24h`, `2w`: a span back from now.
_SPAN = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
#: Outcomes from worst to best: how the worst run of a check is chosen.
_RANK = {"fail": 0, "warn": 1, "skip": 2, "pass": 3}


def period_start(since: str, now: datetime) -> datetime:
    """The start of the period `since` names: now minus a span (`7d`, `24h`, `2w`), or an ISO
    date or timestamp; ReportError in one line otherwise."""
    text = since.strip().lower()
    span = _SPAN.fullmatch(text)
    if span and int(span.group(1)) > 0:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        start = datetime.fromisoformat(since.strip())
    except ValueError:
        start = None
    if start is None or span:
        raise ReportError(
            f"--since {since!r}: give a span back from now (24h, 7d, 2w) or an ISO date "
            "(2026-12-01) or timestamp (2026-12-01T08:00)"
        )
    if start.tzinfo is not None:  # the warehouse's clock has no zone: compare in UTC
        start = start.astimezone(UTC).replace(tzinfo=None)
    return start


def _period_runs(con: duckdb.DuckDBPyConnection, start: datetime, now: datetime) -> list[dict]:
    if not has_meta(con, "runs"):
        raise ReportError("no runs yet: run 'crmpipe run' first")
    runs = records(
        con,
        "SELECT run_id, started_at, date_diff('millisecond', started_at, finished_at) / 1000.0 "
        "AS seconds, status, coalesce(rows_read, 0) AS rows_read, "
        "coalesce(rows_loaded, 0) AS rows_loaded, coalesce(rows_quarantined, 0) "
        "AS rows_quarantined, checks_failed, checks_warned, message FROM meta.runs "
        "WHERE started_at >= ? AND started_at <= ? ORDER BY run_id",
        [start, now],
    )
    if not runs:
        (last,) = con.execute("SELECT max(started_at) FROM meta.runs").fetchone()
        newest = f"the newest started {json_value(last)}" if last else "there are none yet"
        raise ReportError(
            f"no runs since {json_value(start)} ({newest}); give a longer --since, or run "
            "'crmpipe run'"
        )
    return runs


def _summaries(
    rows: list[dict[str, Any]],
    key: tuple[str, ...],
    worst_key: Callable[[dict[str, Any]], tuple],
    item_fields: tuple[str, ...],
    run_fields: tuple[str, ...],
) -> list[dict]:
    """Rows (one per run and item, oldest run first) folded per item: runs, outcomes, pass
    rate, the latest run's `item_fields`, and the latest and the worst run (`worst_key`,
    smallest first; ties: the latest) with their `run_fields`."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in key), []).append(r)
    out = []
    for items in groups.values():
        counts = {o: sum(1 for r in items if r["outcome"] == o) for o in _RANK}
        latest = items[-1]
        worst = min(reversed(items), key=worst_key)
        shown = ("run_id", "status", "outcome", *run_fields, "message")
        out.append(
            {
                **{k: latest[k] for k in key},
                "runs": len(items),
                "passed": counts["pass"],
                "warned": counts["warn"],
                "failed": counts["fail"],
                "pass_rate": round(100.0 * counts["pass"] / len(items), 2),
                "latest": {k: latest[k] for k in shown},
                "worst": {k: worst[k] for k in shown},
                **{k: latest[k] for k in item_fields},
            }
        )
    # the items that failed most often first, then by name
    out.sort(key=lambda s: (-s["failed"], -s["warned"], [str(s[k]) for k in key]))
    return out


def sla_summaries(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> list[dict[str, Any]]:
    """Per SLA over the runs: pass rate, measured mean/min/max, the latest and the worst run
    (lowest measured for a `>=` target, highest for `<=` and `<`)."""
    if not has_meta(con, "sla_results") or not run_ids:
        return []
    severity = "severity" if "severity" in table_columns(con, "meta", "sla_results") else "NULL"
    rows = records(
        con,
        "SELECT run_id, sla_name AS name, table_name AS table, column_name AS column, metric, "
        f"measured, target, comparison, unit, {severity}::VARCHAR AS severity, status, message "
        "FROM meta.sla_results WHERE list_contains(?, run_id) ORDER BY run_id, sla_name",
        [run_ids],
    )
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])

    def worst(r: dict[str, Any]) -> tuple:
        m = r["measured"]
        lower_is_worse = (r["comparison"] or ">=").startswith(">")
        figure = (m if lower_is_worse else -m) if m is not None else float("inf")
        return (_RANK[r["outcome"]], figure)

    fields = ("table", "column", "metric", "target", "comparison", "unit", "severity")
    out = _summaries(rows, ("name",), worst, fields, ("measured",))
    for s in out:
        measured = [r["measured"] for r in rows if r["name"] == s["name"]]
        values = [m for m in measured if m is not None]
        s.update(
            mean=round(sum(values) / len(values), 4) if values else None,
            min=min(values) if values else None,
            max=max(values) if values else None,
        )
    return out


def check_summaries(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> list[dict[str, Any]]:
    """Per check (table and name) over the runs: pass rate, failed rows in all, the latest and
    the worst run (worst outcome, then most failed rows)."""
    if not has_meta(con, "check_results") or not run_ids:
        return []
    rows = records(
        con,
        "SELECT run_id, table_name AS table, column_name AS column, check_name AS check, "
        "check_type AS type, severity, status, failed_rows, total_rows, measured, threshold, "
        "message FROM meta.check_results WHERE list_contains(?, run_id) "
        "ORDER BY run_id, table_name, check_name",
        [run_ids],
    )
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])
    out = _summaries(
        rows,
        ("table", "check"),
        lambda r: (_RANK[r["outcome"]], -(r["failed_rows"] or 0)),
        ("column", "type", "severity", "threshold"),
        ("failed_rows", "total_rows", "measured"),
    )
    for s in out:
        mine = [r for r in rows if (r["table"], r["check"]) == (s["table"], s["check"])]
        s["failed_rows"] = sum(r["failed_rows"] or 0 for r in mine)
    return out


def score_summaries(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> list[dict[str, Any]]:
    """Each table's overall quality score (0-100) over the runs: mean, lowest, latest."""
    if not has_meta(con, "quality_scores") or not run_ids:
        return []
    return records(
        con,
        "WITH per_run AS (SELECT run_id, table_name, coalesce(avg(score) FILTER "
        "(WHERE dimension = 'overall'), avg(score)) AS score FROM meta.quality_scores "
        "WHERE list_contains(?, run_id) GROUP BY ALL) "
        'SELECT table_name AS "table", count(*) AS runs, round(avg(score), 2) AS mean, '
        "min(score) AS lowest, arg_max(score, run_id) AS latest FROM per_run "
        "GROUP BY table_name ORDER BY table_name",
        [run_ids],
    )


def _checked_runs(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> int:
    """How many of the runs recorded check or SLA results (a run that rebuilt nothing has
    none: it kept the build before it)."""
    found: set[int] = set()
    for name in ("check_results", "sla_results"):
        if has_meta(con, name):
            found |= {
                int(r)
                for (r,) in con.execute(
                    f"SELECT DISTINCT run_id FROM meta.{name} WHERE list_contains(?, run_id)",
                    [run_ids],
                ).fetchall()
            }
    return len(found)


def period_content(
    con: duckdb.DuckDBPyConnection, since: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report of the runs started since `since` (see `period_start`) as JSON values."""
    if now is None:
        (now,) = con.execute("SELECT now()::TIMESTAMP").fetchone()
    start = period_start(since, now)
    runs = _period_runs(con, start, now)
    ids = [r["run_id"] for r in runs]
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"] or "unknown"] = statuses.get(r["status"] or "unknown", 0) + 1
    checks = check_summaries(con, ids)
    slas = sla_summaries(con, ids)
    return {
        "crmpipe_version": crmpipe.__version__,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "period": {"since": since, "from": json_value(start), "to": json_value(now)},
        "runs": {
            "count": len(runs),
            "checked": _checked_runs(con, ids),
            "first": ids[0],
            "last": ids[-1],
            "by_status": statuses,
        },
        "slas": slas,
        "checks": checks,
        "scores": score_summaries(con, ids),
        "history": runs,
    }
