"""The rich tables `crmpipe demo movers` prints: unification and duplicate jobs, the SLAs with
their figures, and rolling job counts per branch."""

from __future__ import annotations

from rich.table import Table

from crmpipe.marts.movers_summary import MoversSummary
from crmpipe.quality.slas import SlaOutcome


def movers_table(s: MoversSummary) -> Table:
    """Customers before → after unification, and the jobs booked twice."""
    t = Table(title="mover CRM: customers and jobs")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("customer records (branch + local id)", f"{s.records:,}")
    t.add_row("golden customers after unification", f"{s.golden:,}", style="bold")
    t.add_row("records that repeated a customer", f"{s.merged_share:.2f}%")
    t.add_section()
    t.add_row("moves booked more than once", f"{s.duplicate_groups:,}")
    t.add_row("duplicate jobs (not kept)", f"{s.duplicate_jobs:,}")
    if s.precision is not None and s.recall is not None:
        t.add_row("duplicate-job precision / recall", f"{s.precision:.4f} / {s.recall:.4f}")
    return t


def sla_table(outcomes: list[SlaOutcome]) -> Table:
    """Every SLA with its figure and target."""
    t = Table(title="SLAs")
    for col in ("SLA", "status", "figure"):
        t.add_column(col)
    for o in outcomes:
        style = {"pass": "green", "warn": "yellow"}.get(o.status, "red")
        t.add_row(o.sla.name, f"[{style}]{o.status}[/{style}]", o.message)
    return t


def rolling_table(s: MoversSummary) -> Table:
    """Each branch's job counts over 30, 60 and 90 days up to the latest day."""
    t = Table(title="rolling job counts per branch (marts.jobs_rolling)")
    for col in ("branch", "day", "30 days", "60 days", "90 days"):
        t.add_column(col, justify="right" if "days" in col else "left")
    for branch, day, d30, d60, d90 in s.rolling:
        t.add_row(branch, day, f"{d30:,}", f"{d60:,}", f"{d90:,}")
    return t
