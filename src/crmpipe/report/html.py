"""The run report's HTML page, drawn from `report.content`'s content dict.

One file: inline CSS, inline SVG charts, no script, no link to anything outside it, and a
Content-Security-Policy that forbids fetching, so it opens (and prints) offline and a hostile
name in the data can neither run code nor phone home. Every value from the warehouse is
escaped; sections with nothing to show say so in words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmpipe.render import charts as svgcharts
from crmpipe.render.charts import esc
from crmpipe.report.markup import (
    CSP,
    Column,
    badge,
    col,
    empty,
    figure,
    fmt,
    page,
    seconds,
    table,
    when,
)
from crmpipe.report.quality import status_class

__all__ = ["CSP", "RENDERERS", "SECTIONS", "render_html"]


#: Quality dimensions, in the order the report shows them (meta.quality_scores.dimension).
DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "timeliness", "overall")

SECTIONS = (
    ("summary", "Summary"),
    ("steps", "Steps"),
    ("tables", "Tables"),
    ("checks", "Checks"),
    ("slas", "SLAs"),
    ("quality", "Quality scores"),
    ("nulls", "Null rates"),
    ("sources", "Rejects & quarantine"),
    ("schema-changes", "Schema changes"),
    ("alerts", "Alerts"),
    ("history", "Run history"),
)


# --- sections --------------------------------------------------------------------------------


def summary(c: dict[str, Any]) -> str:
    run, checks = c["run"], c["checks_summary"]
    items = [
        ("status", run["status"]),
        ("started", when(run["started_at"])),
        ("duration", seconds(run["seconds"])),
        ("files new / skipped", f"{run['files_loaded']:,} / {run['files_skipped']:,}"),
        ("rows read", fmt(run["rows_read"])),
        ("rows loaded", fmt(run["rows_loaded"])),
        ("rows rejected", fmt(run["rows_rejected"])),
        ("rows quarantined", fmt(run["rows_quarantined"])),
        ("duplicates merged", fmt(run["rows_merged"])),
        ("checks failed", fmt(checks["failed"])),
        ("checks warned", fmt(checks["warned"])),
        ("checks run", fmt(checks["total"])),
    ]
    kpis = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items[1:])
    kpis = (
        f"<div><dt>status</dt><dd>{badge(run['status'], status_class(run['status']))}</dd></div>"
        + kpis
    )
    body = f'<dl class="kpis">{kpis}</dl>'
    if run.get("message"):
        body += f"<p><strong>message:</strong> {esc(run['message'])}</p>"
    if run.get("config_path"):
        body += f'<p class="note">project file: {esc(run["config_path"])}</p>'
    return body


def steps(c: dict[str, Any]) -> str:
    rows = c["steps"]
    if not rows:
        return empty("no steps recorded for this run")
    chart = svgcharts.hbar_chart(
        "Step timings (seconds)",
        [(f"{r['step']} {r['target']}", r["seconds"] or 0.0) for r in rows],
        x_label="seconds",
    )
    cols = [
        col("step", "step"),
        col("target", "target"),
        col("rows", "rows", True),
        ("seconds", "num", lambda r: esc(f"{r['seconds'] or 0:,.2f}")),
        col("detail", "detail"),
    ]
    return f'<div class="charts">{chart}</div>' + table(cols, rows)


def tables(c: dict[str, Any]) -> str:
    rows = c["tables"]
    if not rows:
        return empty("no table counts recorded for this run (nothing was built yet)")
    cols = [
        col("table", "table"),
        col("read", "read", True),
        col("loaded", "loaded", True),
        col("merged dups", "merged", True),
        col("quarantined", "quarantined", True),
        col("rejected", "rejected", True),
        col("value issues", "value_issues", True),
        ("balanced", "", lambda r: "✓" if r["balanced"] else "✗"),
    ]
    note = ""
    if c["build_run_id"] != c["run"]["run_id"]:
        note = (
            f'<p class="note">This run built nothing new; the counts are those of run '
            f"{esc(c['build_run_id'])}'s build, which it kept.</p>"
        )
    return note + table(cols, rows)


def checks(c: dict[str, Any]) -> str:
    rows = c["checks"]
    if not rows:
        return empty("no checks recorded for this run")
    s = c["checks_summary"]
    head = (
        f"<p>{s['total']:,} checks: {s['passed']:,} passed, {s['warned']:,} warned, "
        f"{s['failed']:,} failed.</p>"
    )
    cols = [
        ("status", "", lambda r: badge(r["status"], r["outcome"])),
        col("table", "table"),
        col("column", "column"),
        col("check", "check"),
        col("type", "type"),
        col("severity", "severity"),
        col("failed rows", "failed_rows", True),
        col("of rows", "total_rows", True),
        col("measured", "measured", True),
        col("threshold", "threshold", True),
        col("message", "message"),
    ]
    return head + table(cols, rows, row_class="outcome")


def slas(c: dict[str, Any]) -> str:
    rows = c["slas"]
    if not rows:
        return empty("no SLAs evaluated for this run")
    cols: list[Column] = [
        ("status", "", lambda r: badge(r["status"], r["outcome"])),
        col("SLA", "name"),
        col("table", "table"),
        col("column", "column"),
        col("metric", "metric"),
        ("measured", "num", lambda r: esc(figure(r["measured"], r["unit"]))),
        (
            "target",
            "num",
            lambda r: esc(f"{r['comparison'] or ''} {figure(r['target'], r['unit'])}".strip()),
        ),
    ]
    if any(r.get("severity") for r in rows):
        cols.append(col("severity", "severity"))
    cols.append(col("message", "message"))
    return table(cols, rows, row_class="outcome")


def quality(c: dict[str, Any]) -> str:
    q = c["quality"]
    if not q["overall"] and not q["latest"]:
        return empty("no quality scores recorded for this run or the runs before it")
    parts = []
    if q["overall"]:
        parts.append(
            svgcharts.line_chart(
                f"Data-quality score per table, last {len(q['runs'])} runs",
                [f"run {r}" for r in q["runs"]],
                q["overall"],
                y_max=100,
                y_min=_score_floor(q["overall"]),
                y_label="score (0–100)",
            )
        )
    body = f'<div class="charts">{"".join(parts)}</div>'
    if q["latest"]:
        dims = [d for d in _dimensions(q["latest"])]
        rows = [{"table": t, **scores} for t, scores in sorted(q["latest"].items())]
        cols = [col("table", "table")] + [
            col(d, d, True, lambda v: "" if v is None else f"{v:.1f}") for d in dims
        ]
        body += f"<h3>Scores of run {esc(q['run_id'])}</h3>" + table(cols, rows)
    return body


def _score_floor(series: dict[str, list[float | None]]) -> float:
    """Where the score axis starts: 0, or a multiple of 10 below the lowest score when all are
    high (scores of 99.1 and 99.6 would be one flat line on a 0–100 axis)."""
    low = min((v for vs in series.values() for v in vs if v is not None), default=0.0)
    if low < 50:
        return 0.0
    return float(min(90, int((low - 2) // 10) * 10))


def _dimensions(latest: dict[str, dict[str, float]]) -> list[str]:

    seen = {d for scores in latest.values() for d in scores}
    return [d for d in DIMENSIONS if d in seen] + sorted(seen - set(DIMENSIONS))


def nulls(c: dict[str, Any]) -> str:
    n = c["null_rates"]
    if not n["tables"]:
        return empty("no column profiles for this run (and its build is no longer in core)")
    charts = []
    for table_name, columns in sorted(n["tables"].items()):
        items = [(r["column"], r["null_rate"] or 0.0) for r in columns]
        charts.append(
            svgcharts.hbar_chart(
                f"Null rate per column: {table_name}",
                items,
                x_max=100,
                x_label="% of rows null",
                fmt=lambda v: f"{v:.1f}%",
            )
        )
    note = f'<p class="note">from {esc(n["origin"])}, run {esc(n["run_id"])}</p>'
    return note + f'<div class="charts">{"".join(charts)}</div>'


def sources(c: dict[str, Any]) -> str:
    rows = c["sources"]
    if not rows or not any(r["rejected"] or r["quarantined"] for r in rows):
        body = empty("no rejected or quarantined rows for this run")
    else:
        chart = svgcharts.grouped_bar_chart(
            "Rejected and quarantined rows per source",
            [r["source"] for r in rows],
            {
                "rejected": [float(r["rejected"]) for r in rows],
                "quarantined": [float(r["quarantined"]) for r in rows],
            },
            y_label="rows",
        )
        cols = [
            col("source", "source"),
            col("table", "table"),
            col("rejected", "rejected", True),
            col("quarantined", "quarantined", True),
        ]
        body = f'<div class="charts">{chart}</div>' + table(cols, rows)
    if c["quarantine"]:
        cols = [
            col("table", "table"),
            col("source", "source"),
            col("check", "check"),
            col("rows", "rows", True),
        ]
        body += "<h3>Quarantined rows by check</h3>" + table(cols, c["quarantine"])
    if c.get("quarantine_note"):
        body += f'<p class="note">{esc(c["quarantine_note"])}</p>'
    if c["rejected_lines"]:
        cols = [
            col("source", "source"),
            col("file", "file"),
            col("line", "line", True),
            col("column", "column"),
            col("error", "error_type"),
            col("message", "message"),
        ]
        body += f"<h3>Lines rejected in this run (first {len(c['rejected_lines'])})</h3>" + table(
            cols, c["rejected_lines"]
        )
    return body


def schema_changes(c: dict[str, Any]) -> str:
    rows = c["schema_changes"]
    if not rows:
        return empty("no schema changes detected in this run")
    cols = [
        col("source", "source"),
        col("file", "file"),
        col("change", "change"),
        col("column", "column"),
        col("detected", "detected_at", show=when),
    ]
    return table(cols, rows)


def alerts(c: dict[str, Any]) -> str:
    rows = c["alerts"]
    if not rows:
        return empty("no alerts sent for this run")
    cols = [
        col("sent", "sent_at", show=when),
        col("event", "event"),
        col("to", "url"),
        col("status", "status"),
        col("attempts", "attempts", True),
        col("message", "message"),
    ]
    return table(cols, rows)


def history(c: dict[str, Any]) -> str:
    rows = c["history"]
    cols = [
        col("run", "run_id", True),
        col("started", "started_at", show=when),
        col("duration", "seconds", True, show=seconds),
        ("status", "", lambda r: badge(r["status"], status_class(r["status"]))),
        col("read", "rows_read", True),
        col("loaded", "rows_loaded", True),
        col("rejected", "rows_rejected", True),
        col("quarantined", "rows_quarantined", True),
        col("checks failed", "checks_failed", True),
        col("checks warned", "checks_warned", True),
        col("message", "message"),
    ]
    return table(cols, rows)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "summary": summary,
    "steps": steps,
    "tables": tables,
    "checks": checks,
    "slas": slas,
    "quality": quality,
    "nulls": nulls,
    "sources": sources,
    "schema-changes": schema_changes,
    "alerts": alerts,
    "history": history,
}


def render_html(c: dict[str, Any]) -> str:
    """The content (`report.content`) as one self-contained HTML page."""
    run = c["run"]
    subtitle = (
        f"started {esc(when(run['started_at']))} · {esc(seconds(run['seconds']))} · report "
        f"generated {esc(when(c['generated_at']))} UTC by crmpipe {esc(c['crmpipe_version'])}"
    )
    title = f"crmpipe run {run['run_id']}: {run['status']}"
    return page(title, subtitle, SECTIONS, RENDERERS, c, "crmpipe report --json")
