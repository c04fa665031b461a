"""Terminal presentation with rich: every table and console line the commands print.

Run summaries, search results, run lists, quarantine, resolution, the funnel and `crmpipe init`'s
guesses, sync summaries (run progress: `render.progress`).

Kept apart from the CLI so the shell and other front ends draw things the same way. The results
it draws are imported for their types only: drawing a search result must not load the pipeline
or the publish stack (tests/test_cli_imports.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from crmpipe.jsonvalues import json_value
from crmpipe.model import TABLES

if TYPE_CHECKING:
    from crmpipe.funnel.query import FunnelResult
    from crmpipe.init.guess import InitResult
    from crmpipe.marts.lead_summary import LeadSummary
    from crmpipe.pipeline import RunSummary
    from crmpipe.publish import PublishResult
    from crmpipe.quality.engine import CheckOutcome
    from crmpipe.quality.quarantine import QuarantineListing
    from crmpipe.search import SearchResult
    from crmpipe.sync import SyncSummary
    from crmpipe.warehouse.runs import RunRecord


def summary_table(summary: RunSummary) -> Table:
    """Per-table reconciliation: read = loaded + merged + quarantined + rejected."""
    t = Table(title=f"run {summary.run_id}: {summary.status} in {summary.seconds:.1f}s")
    for col in (
        "table",
        "read",
        "loaded",
        "merged dups",
        "quarantined",
        "rejected",
        "value issues",
        "balanced",
    ):
        t.add_column(col, justify="left" if col == "table" else "right")
    for c in [*summary.tables, summary.totals()]:
        t.add_row(
            c.table,
            f"{c.read:,}",
            f"{c.loaded:,}",
            f"{c.merged:,}",
            f"{c.quarantined:,}",
            f"{c.rejected:,}",
            f"{c.issues:,}",
            "✓" if c.balanced else "✗",
        )
    return t


def steps_table(summary: RunSummary) -> Table:
    t = Table(title="step timings")
    for col in ("step", "target", "rows", "seconds", "rows/s"):
        t.add_column(col, justify="left" if col in ("step", "target") else "right")
    for s in summary.steps:
        rate = f"{s.rows / s.seconds:,.0f}" if s.seconds > 0 and s.rows else ""
        t.add_row(s.step, s.target, f"{s.rows:,}", f"{s.seconds:.2f}", rate)
    return t


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def total_label(result: SearchResult) -> str:
    """'1,234' or '10,000+' when the count was capped."""
    return f"{result.total:,}+" if result.capped else f"{result.total:,}"


def result_table(
    result: SearchResult, title: str | None = None, caption: str | None = None
) -> Table:
    """The rows as a table; the caption says how many matched (or `caption`, e.g. for SQL)."""
    default = f"{total_label(result)} matching · {result.elapsed_ms:.0f} ms"
    t = Table(title=title, caption=caption or default)
    for col in result.columns:
        t.add_column(col, overflow="fold")
    for row in result.rows:
        t.add_row(*(_cell(v) for v in row))
    return t


def result_json(result: SearchResult) -> str:
    return json.dumps(
        {
            "total": result.total,
            "capped": result.capped,
            "rows": [
                {c: json_value(v) for c, v in zip(result.columns, row, strict=True)}
                for row in result.rows
            ],
        },
        indent=2,
    )


def result_csv(result: SearchResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(
            [
                ";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                for v in row
            ]
        )
    return buf.getvalue()


def runs_table(runs: Sequence[RunRecord]) -> Table:
    t = Table(title="runs")
    for col in (
        "run",
        "started",
        "duration",
        "status",
        "files new/skipped",
        "read",
        "loaded",
        "rejected",
        "quarantined",
        "checks failed",
        "message",
    ):
        t.add_column(
            col,
            justify="right"
            if col in ("run", "read", "loaded", "rejected", "quarantined", "checks failed")
            else "left",
        )
    for r in runs:
        secs = f"{r.seconds:.1f}s" if r.seconds is not None else ""
        colour = {"success": "green", "failed": "red", "checks_failed": "red"}.get(
            r.status, "yellow"
        )
        t.add_row(
            str(r.run_id),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            secs,
            f"[{colour}]{r.status}[/]",
            f"{r.files_loaded}/{r.files_skipped}",
            f"{r.rows_read:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_rejected:,}",
            f"{r.rows_quarantined:,}",
            f"{r.checks_failed:,}" + (f" (+{r.checks_warned:,} warn)" if r.checks_warned else ""),
            r.message or "",
        )
    return t


def publish_summary(result: PublishResult) -> str:
    """One paragraph on a publish: the version now serving, rows per table, notes."""
    tables = ", ".join(f"{name} {rows:,}" for name, rows in result.tables.items())
    lines = [
        f"[green]published:[/] version {result.version}"
        + (f" ({result.label})" if result.label else "")
        + f" serves as schema {result.schema}"
        + (" (changed in place" if result.mode == "in place" else " (")
        + f"{', ' if result.mode == 'in place' else ''}{result.seconds:.1f}s) — {tables}"
    ]
    if result.dropped:
        lines.append(f"  dropped old versions: {', '.join(result.dropped)}")
    lines += [f"  [yellow]note:[/] {note}" for note in result.notes]
    return "\n".join(lines)


def quality_summary(summary: RunSummary, shown: int = 8) -> str:
    """A few lines on the checks, SLAs and scores of a run (the full story is in the report)."""
    if not summary.checks and not summary.slas:
        if summary.up_to_date and (summary.checks_failed or summary.checks_warned):
            return (
                f"[red]checks:[/] the serving build has {summary.checks_failed} failed and "
                f"{summary.checks_warned} warning checks/SLAs (see crmpipe runs)"
            )
        return ""
    passed = sum(o.status == "pass" for o in summary.checks)
    lines = [
        f"checks: {passed}/{len(summary.checks)} pass · SLAs: "
        f"{sum(o.status == 'pass' for o in summary.slas)}/{len(summary.slas)} met · "
        + ("[red]" if summary.checks_failed else "[green]")
        + f"{summary.checks_failed} failed[/], [yellow]{summary.checks_warned} warned[/]"
    ]
    colour = {"fail": "red", "warn": "yellow"}
    bad = [
        (o.status, f"check {o.check.table}.{o.check.name}: {o.message}")
        for o in summary.checks
        if o.status != "pass"
    ] + [(o.status, f"SLA {o.sla.name}: {o.message}") for o in summary.slas if o.status != "pass"]
    bad.sort(key=lambda b: b[0] != "fail")
    for status, text in bad[:shown]:
        lines.append(f"  [{colour[status]}]{status}[/] {text}")
    # within its threshold an `error` check passes, yet its rows are still set aside
    for o in summary.checks:
        if o.status == "pass" and o.quarantined:
            lines.append(
                f"  [yellow]quarantined[/] {o.quarantined:,} rows of {o.check.table} "
                f"({o.check.name}, within its {o.threshold:g}% threshold): "
                f"crmpipe quarantine {o.check.table}"
            )
    if len(bad) > shown:
        lines.append(f"  ... and {len(bad) - shown} more (meta.check_results, meta.sla_results)")
    if summary.scores:
        scores = ", ".join(
            f"{t} {s['overall']:.0f}" for t, s in summary.scores.items() if "overall" in s
        )
        lines.append(f"quality scores (0–100): {scores}")
    return "\n".join(lines)


def quarantine_table(listing: QuarantineListing) -> Table:
    """Quarantined rows, or the count per table and check."""
    if listing.table is None:
        t = Table(title=f"quarantine: {listing.total:,} rows")
    else:
        shown = len(listing.rows)
        t = Table(
            title=f"quarantine.{listing.table}: {listing.total:,} rows",
            caption=(f"showing {shown:,}; --limit N for more" if shown < listing.total else None),
        )
    # The check, reason, lineage and key; the row's other values are in quarantine.<table>.
    width = len(listing.columns)
    if listing.table is not None:
        width = min(width, 5 + len(TABLES[listing.table].key))
    for col in listing.columns[:width]:
        t.add_column(col, overflow="fold")
    for row in listing.rows:
        t.add_row(*(_cell(v) for v in row[:width]))
    return t


def resolve_results_table(results: Sequence[Any]) -> Table:
    """One row per resolved table: records in, golden records out, how they were linked."""
    t = Table(title="resolution")
    for col in ("table", "records", "golden", "merged", "pre-pass", "Splink", "s", "model"):
        t.add_column(col, justify="left" if col in ("table", "model") else "right")
    for r in results:
        t.add_row(
            r.table,
            f"{r.records:,}",
            f"{r.golden:,}",
            f"{r.merged:,}",
            f"{r.prepass_pairs:,}",
            f"{r.splink_pairs:,}",
            f"{r.seconds:.1f}",
            r.note,
        )
    return t


def evaluation_table(ev: Any) -> Table:
    """Pairwise precision/recall/F1 and cluster-level figures of an evaluation."""
    t = Table(title=f"evaluation: {ev.table}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    rows = [
        ("records evaluated", f"{ev.records:,}"),
        ("true duplicate pairs", f"{ev.true_pairs:,}"),
        ("predicted pairs", f"{ev.predicted_pairs:,}"),
        ("correct pairs", f"{ev.true_positive_pairs:,}"),
        ("pairwise precision", f"{ev.precision:.4f}"),
        ("pairwise recall", f"{ev.recall:.4f}"),
        ("pairwise F1", f"{ev.f1:.4f}"),
        ("true clusters", f"{ev.true_clusters:,}"),
        ("predicted clusters", f"{ev.predicted_clusters:,}"),
        ("exactly right clusters", f"{ev.exact_clusters:,}"),
        ("cluster precision", f"{ev.cluster_precision:.4f}"),
        ("cluster recall", f"{ev.cluster_recall:.4f}"),
    ]
    if ev.unmatched_truth_rows:
        rows.append(("truth rows not in the warehouse", f"{ev.unmatched_truth_rows:,}"))
    for name, value in rows:
        t.add_row(name, value)
    return t


def explanation_tables(ex: Any) -> list[Table]:
    """The members side by side, then one waterfall table per linked pair."""
    members = Table(title=f"{ex.table} {ex.golden_id}: {len(ex.members)} source records")
    members.add_column("field", style="bold")
    for m in ex.members:
        members.add_column(str(m[ex.columns[0]]), overflow="fold")
    for col in [*ex.columns, "_source", "_file", "_row"]:
        values = [_cell(m.get(col)) for m in ex.members]
        if any(values):
            members.add_row(col, *values)
    out = [members]
    for p in ex.pairs:
        weight = f", match weight {p.match_weight:.2f}" if p.match_weight is not None else ""
        title = f"{p.left} ↔ {p.right}: {p.rule}, probability {p.match_probability:.4f}{weight}"
        t = Table(title=title)
        for col in ("comparison", "level", "left", "right", "weight", "tf adj."):
            t.add_column(col, justify="right" if col in ("weight", "tf adj.") else "left")
        if p.rule != "splink":
            t.add_row("exact pre-pass", p.rule, "", "", "linked", "")
            if p.steps and p.record:
                t.add_row("Splink's view", "", "", "", f"{p.record['match_weight']:+.2f}", "")
        if p.prior_weight is not None and p.steps:
            t.add_row("prior", "two random records match", "", "", f"{p.prior_weight:+.2f}", "")
        for s in p.steps:
            t.add_row(
                s.comparison,
                s.level,
                _cell(s.left),
                _cell(s.right),
                f"{s.match_weight:+.2f}",
                f"{s.tf_adjustment:+.2f}" if s.tf_adjustment else "",
            )
        out.append(t)
    if getattr(ex, "splits", None):
        out.append(splits_table(ex))
    if getattr(ex, "provenance", None):
        out.append(provenance_table(ex))
    return out


def splits_table(ex: Any) -> Table:
    """The links cut when the record's cluster was split, and where the other side went."""
    t = Table(title=f"{ex.golden_id}: links cut when its cluster was split")
    for col in ("left", "right", "probability", "rule", "why", "other golden record"):
        t.add_column(col, justify="right" if col == "probability" else "left")
    for s in ex.splits:
        t.add_row(
            s.left, s.right, f"{s.match_probability:.4f}", s.rule, s.reason, s.other_golden_id
        )
    return t


def provenance_table(ex: Any) -> Table:
    """A golden record's field-level provenance: each column's surviving value and the source,
    file and row it came from (a facility's lead columns when the project builds leads)."""
    t = Table(title=f"{ex.golden_id}: each value and the source row it came from")
    for col in ("column", "value", "source", "file", "row"):
        t.add_column(col, overflow="fold", justify="right" if col == "row" else "left")
    for p in ex.provenance:
        name = p.file.replace("\\", "/").rsplit("/", 1)[-1] if p.file else ""
        t.add_row(p.column, _cell(p.value), p.source or "", name, _cell(p.row))
    return t


def init_table(result: InitResult) -> Table:
    """`crmpipe init`'s guesses: per file, the table and the columns mapped."""
    t = Table(title=f"wrote {result.path}")
    for col in ("file", "table", "mapped columns", "extension columns"):
        t.add_column(col, overflow="fold")
    for g in result.guesses:
        mapped = ", ".join(f"{c}←{h}" for c, h in g.columns.items())
        t.add_row(g.file.name, g.table or "[yellow]?[/]", mapped, ", ".join(g.extra))
    return t


def init_notes(result: InitResult) -> list[str]:
    """How each guess was made, one line per note, under the file's name."""
    return [f"  [dim]{g.file.name}:[/] {note}" for g in result.guesses for note in g.notes]


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.0%}"


def funnel_table(
    result: FunnelResult, title: str = "sales funnel: deals entering each step"
) -> Table:
    """Months down, steps across (numbers; the caption names them), plus a total row."""
    t = Table(title=title, caption="  ".join(s.label for s in result.steps))
    t.add_column("month")
    for s in result.steps:
        t.add_column(s.step, justify="right")
    for month in result.months:
        t.add_row(
            month.strftime("%Y-%m"), *(f"{result.count(month, s.step):,}" for s in result.steps)
        )
    t.add_section()
    t.add_row("total", *(f"{r.deals_count:,}" for r in result.totals()), style="bold")
    return t


def dropoff_table(result: FunnelResult) -> Table:
    """The drop-off from the step before, per month and over the range (blank: nothing before)."""
    t = Table(title="drop-off from the step before (3 vs 2, 4 vs 3, ...; 2.1 vs 2, 3.1 vs 3)")
    t.add_column("month")
    for s in result.steps[1:]:
        t.add_column(s.step, justify="right")
    for month in result.months:
        rows = [r for r in result.rows if r.month == month][1:]
        t.add_row(month.strftime("%Y-%m"), *(_pct(r.drop_off_rate) for r in rows))
    t.add_section()
    t.add_row("total", *(_pct(r.drop_off_rate) for r in result.totals()[1:]), style="bold")
    return t


def checks_table(checks: list[CheckOutcome]) -> Table:
    """The sales-funnel case's data checks (meta.check_results, origin mart) as a table."""
    t = Table(title="data checks (meta.check_results)")
    t.add_column("check", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("measured", justify="right", no_wrap=True)
    t.add_column("detail", overflow="fold", ratio=1)
    colours = {"pass": "green", "warn": "yellow", "fail": "red"}
    for o in checks:
        t.add_row(
            o.check.name,
            f"[{colours.get(o.status, 'white')}]{o.status}[/]",
            f"{o.failed:,}",
            f"{o.check.table}: {o.message}",
        )
    return t


def leads_table(summary: LeadSummary) -> Table:
    """The childcare demo's answer: facility rows per source, then what the leads product made."""
    t = Table(title="childcare leads (marts.leads)")
    t.add_column("what")
    t.add_column("count", justify="right")
    for source, rows in summary.rows_per_source.items():
        t.add_row(f"facility rows from {source}", f"{rows:,}")
    t.add_section()
    t.add_row("facilities (one lead each)", f"{summary.facilities:,}", style="bold")
    t.add_row("  merged across two or more lists", f"{summary.in_several_lists:,}")
    t.add_row("  in the lists and already a CRM lead", f"{summary.matched_crm:,}")
    t.add_row("  in the lists, new leads", f"{summary.new_leads:,}")
    t.add_row("  CRM leads no list mentions", f"{summary.crm_only:,}")
    return t


def sync_table(summaries: Sequence[SyncSummary]) -> Table:
    """`crmpipe sync`: per target, what was sent, left unchanged, retried and rejected."""
    t = Table(title="sync (sync.runs; rejected records in sync.dead_letters)")
    for col in ("target", "status", "sent", "unchanged", "retried", "rejected", "waiting"):
        t.add_column(col, justify="left" if col in ("target", "status") else "right")
    t.add_column("records/s", justify="right")
    colours = {"done": "green", "stopped": "yellow", "failed": "red"}
    for s in summaries:
        rate = s.sent / s.seconds if s.seconds > 0 else 0.0
        t.add_row(
            s.target,
            f"[{colours.get(s.status, 'white')}]{s.status}[/]",
            *(f"{n:,}" for n in (s.sent, s.unchanged, s.retried, s.rejected, s.waiting)),
            f"{rate:,.0f}",
        )
    return t
