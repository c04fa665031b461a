"""The period report's HTML page (`crmpipe report --since 7d`), drawn from `report.period`'s
content dict with the run report's stylesheet, building blocks and Content-Security-Policy:
one self-contained file, no script, every value from the warehouse escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmpipe.render.charts import esc
from crmpipe.report.markup import Column, badge, col, empty, figure, fmt, page, seconds, table, when
from crmpipe.report.quality import status_class

SECTIONS = (
    ("summary", "Summary"),
    ("slas", "SLAs over the period"),
    ("checks", "Checks over the period"),
    ("scores", "Quality scores"),
    ("runs", "Runs"),
)


def _target(r: dict[str, Any]) -> str:
    return f"{r['comparison'] or ''} {figure(r['target'], r['unit'])}".strip()


def _rate_class(s: dict[str, Any]) -> str:
    return "fail" if s["failed"] else "warn" if s["warned"] else "pass"


def _run_cell(key: str, show: Callable[[dict[str, Any], dict[str, Any]], str]) -> Column:
    """A cell of the latest or worst run: its figure, outcome badge and run id."""
    return (
        key,
        "num",
        lambda s: (
            f"{esc(show(s, s[key]))} {badge(s[key]['status'], s[key]['outcome'])} "
            f'<span class="note">run {esc(s[key]["run_id"])}</span>'
        ),
    )


def summary(c: dict[str, Any]) -> str:
    p, runs = c["period"], c["runs"]
    items = [
        ("from", when(p["from"])),
        ("to", when(p["to"])),
        ("runs", fmt(runs["count"])),
        ("runs with results", fmt(runs["checked"])),
        ("first / last run", f"{runs['first']} / {runs['last']}"),
    ] + [(f"runs {status}", fmt(n)) for status, n in sorted(runs["by_status"].items())]
    kpis = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    failing = sum(1 for s in c["slas"] if s["failed"]) + sum(1 for s in c["checks"] if s["failed"])
    return (
        f'<dl class="kpis">{kpis}</dl><p>{failing:,} SLAs and checks failed at least once in '
        "the period. A run that rebuilt nothing records no results (it kept the build before "
        "it), so it counts among the runs but not in the pass rates.</p>"
    )


def slas(c: dict[str, Any]) -> str:
    rows = c["slas"]
    if not rows:
        return empty("no SLAs evaluated in this period")
    for r in rows:
        r["rate_class"] = _rate_class(r)
    cols: list[Column] = [
        col("SLA", "name"),
        col("table", "table"),
        col("column", "column"),
        ("target", "num", lambda r: esc(_target(r))),
        col("runs", "runs", True),
        ("pass rate", "num", lambda r: esc(f"{r['pass_rate']:g} %")),
        col("failed", "failed", True),
        ("mean", "num", lambda r: esc(figure(r["mean"], r["unit"]))),
        _run_cell("latest", lambda s, x: figure(x["measured"], s["unit"])),
        _run_cell("worst", lambda s, x: figure(x["measured"], s["unit"])),
    ]  # fmt: skip
    return table(cols, rows, row_class="rate_class")


def checks(c: dict[str, Any]) -> str:
    rows = c["checks"]
    if not rows:
        return empty("no checks recorded in this period")
    for r in rows:
        r["rate_class"] = _rate_class(r)
    cols: list[Column] = [
        col("table", "table"),
        col("column", "column"),
        col("check", "check"),
        col("severity", "severity"),
        col("runs", "runs", True),
        ("pass rate", "num", lambda r: esc(f"{r['pass_rate']:g} %")),
        col("failed", "failed", True),
        col("failed rows (all runs)", "failed_rows", True),
        _run_cell("latest", lambda _, x: f"{fmt(x['failed_rows'] or 0)} rows"),
        _run_cell("worst", lambda _, x: f"{fmt(x['failed_rows'] or 0)} rows"),
    ]
    return table(cols, rows, row_class="rate_class")


def scores(c: dict[str, Any]) -> str:
    rows = c["scores"]
    if not rows:
        return empty("no quality scores recorded in this period")
    cols = [
        col("table", "table"),
        col("runs", "runs", True),
        col("mean", "mean", True),
        col("lowest", "lowest", True),
        col("latest", "latest", True),
    ]
    return table(cols, rows)


def runs(c: dict[str, Any]) -> str:
    cols = [
        col("run", "run_id", True),
        col("started", "started_at", show=when),
        col("duration", "seconds", True, show=seconds),
        ("status", "", lambda r: badge(r["status"], status_class(r["status"]))),
        col("read", "rows_read", True),
        col("loaded", "rows_loaded", True),
        col("quarantined", "rows_quarantined", True),
        col("checks failed", "checks_failed", True),
        col("checks warned", "checks_warned", True),
        col("message", "message"),
    ]
    return table(cols, c["history"])


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "summary": summary,
    "slas": slas,
    "checks": checks,
    "scores": scores,
    "runs": runs,
}


def render_period_html(c: dict[str, Any]) -> str:
    """The period content (`report.period`) as one self-contained HTML page."""
    p = c["period"]
    title = f"crmpipe quality since {p['since']}: {c['runs']['count']} runs"
    subtitle = (
        f"{esc(when(p['from']))} → {esc(when(p['to']))} · report generated "
        f"{esc(when(c['generated_at']))} UTC by crmpipe {esc(c['crmpipe_version'])}"
    )
    return page(title, subtitle, SECTIONS, RENDERERS, c, "crmpipe report --since ... --json")
