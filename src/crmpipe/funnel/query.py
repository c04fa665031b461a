"""`crmpipe funnel`: the monthly sales funnel from `marts.rep_sales_funnel_monthly`, with the
drop-off between consecutive steps, as rows, CSV or JSON (terminal tables: `render.console`;
charts: `funnel.chart`).

The drop-off of a step in a month compares the deals that entered it that month with the deals
that entered the step before it that month: 1 - this / previous. "The step before" is the main
step before (3 → 2), and a sales-call sub-step's own stage (2.1 → 2, 3.1 → 3): the calls are
counted from activities and sit beside the stages rather than between them. It is a flow ratio,
not a cohort's: a deal entering step 1 in March and step 2 in April counts in different months.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date

import duckdb

from crmpipe.errors import CrmpipeError
from crmpipe.warehouse.connection import table_exists

MART = "rep_sales_funnel_monthly"

_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-(\d{1,2}))?\s*$")


class FunnelError(CrmpipeError):
    """No funnel in the warehouse, a bad month, or a chart we can't write; one line."""


@dataclass(frozen=True)
class FunnelStep:
    """One step of the funnel in order: "2.1" "Sales Call 1"."""

    order: int
    step: str
    kpi_name: str

    @property
    def label(self) -> str:
        return f"{self.step} {self.kpi_name}"


@dataclass(frozen=True)
class FunnelRow:
    """Deals entering one step in one month, and how that compares with the step before."""

    month: date
    funnel_step: str
    kpi_name: str
    deals_count: int
    previous_step: str | None
    previous_count: int | None
    conversion_rate: float | None  # deals_count / previous_count
    drop_off_rate: float | None  # 1 - conversion_rate


@dataclass
class FunnelResult:
    """The funnel for a range of months: its steps, months and one row per (month, step)."""

    steps: list[FunnelStep]
    months: list[date]
    rows: list[FunnelRow] = field(default_factory=list)

    def count(self, month: date, step: str) -> int:
        for r in self.rows:
            if r.month == month and r.funnel_step == step:
                return r.deals_count
        return 0

    def totals(self) -> list[FunnelRow]:
        """Deals entering each step over the whole range, with the drop-off between steps."""
        sums = {s.step: 0 for s in self.steps}
        for r in self.rows:
            sums[r.funnel_step] = sums.get(r.funnel_step, 0) + r.deals_count
        month = self.months[0] if self.months else date.min
        out: list[FunnelRow] = []
        for s in self.steps:
            prev = self.previous(s)
            out.append(_row(month, s, sums[s.step], prev, sums[prev.step] if prev else None))
        return out

    def previous(self, step: FunnelStep) -> FunnelStep | None:
        """The step `step` is compared with: a sub-step's parent (2.1 → 2), else the main
        step before it (3 → 2, skipping the sales call 2.1 that other deals may have had)."""
        if "." in step.step:
            parent = step.step.split(".")[0]
            return next((s for s in self.steps if s.step == parent), None)
        before = [s for s in self.steps if s.order < step.order and "." not in s.step]
        return before[-1] if before else None


def _rate(count: int, previous: int | None) -> tuple[float | None, float | None]:
    if not previous:
        return None, None
    conversion = count / previous
    return conversion, 1 - conversion


def _row(
    month: date, step: FunnelStep, count: int, prev: FunnelStep | None, prev_count: int | None
) -> FunnelRow:
    conversion, drop = _rate(count, prev_count)
    return FunnelRow(
        month,
        step.step,
        step.kpi_name,
        count,
        prev.step if prev else None,
        prev_count,
        conversion,
        drop,
    )


def parse_month(value: str | date | None, option: str = "month") -> date | None:
    """'2024-03' (or a date in it, '2024-03-15') → date(2024, 3, 1); None stays None."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.replace(day=1)
    m = _MONTH.match(value)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            return date(year, month, 1)
    raise FunnelError(f"{option}: expected a month as YYYY-MM, got {value!r}")


def _steps(con: duckdb.DuckDBPyConnection) -> list[FunnelStep]:
    if table_exists(con, "marts", "int_funnel_steps"):
        rows = con.execute(
            "SELECT step_order, funnel_step, kpi_name FROM marts.int_funnel_steps "
            "ORDER BY step_order"
        ).fetchall()
    else:  # a warehouse that published only the marts: order by the step number
        rows = con.execute(
            f"SELECT DISTINCT 0, funnel_step, kpi_name FROM marts.{MART} "
            "ORDER BY TRY_CAST(funnel_step AS DOUBLE), funnel_step"
        ).fetchall()
    return [FunnelStep(i, step, name) for i, (_, step, name) in enumerate(rows, start=1)]


def funnel(
    con: duckdb.DuckDBPyConnection,
    *,
    month_from: str | date | None = None,
    month_to: str | date | None = None,
) -> FunnelResult:
    """The monthly funnel between two months (inclusive, 'YYYY-MM'), with drop-off rates."""
    first = parse_month(month_from, "--from")
    last = parse_month(month_to, "--to")
    if first and last and first > last:
        raise FunnelError(f"--from {first:%Y-%m} is after --to {last:%Y-%m}")
    if not table_exists(con, "marts", MART):
        raise FunnelError(
            "no sales funnel in this warehouse: map the Pipedrive files (deal_changes, "
            "activities, stages, ...) in crmpipe.yml and run 'crmpipe run' (see docs/funnel.md)"
        )
    steps = _steps(con)
    counts = con.execute(
        f"SELECT month, funnel_step, deals_count FROM marts.{MART} "
        "WHERE (?::DATE IS NULL OR month >= ?::DATE) AND (?::DATE IS NULL OR month <= ?::DATE) "
        "ORDER BY month",
        [first, first, last, last],
    ).fetchall()
    by_key = {(m, s): int(n) for m, s, n in counts}
    months = sorted({m for m, _, _ in counts})
    result = FunnelResult(steps, months)
    for month in months:
        for step in steps:
            n = by_key.get((month, step.step), 0)
            prev = result.previous(step)
            result.rows.append(
                _row(month, step, n, prev, by_key.get((month, prev.step), 0) if prev else None)
            )
    return result


# --- output ----------------------------------------------------------------------------------


def _records(result: FunnelResult) -> list[dict[str, object]]:
    out = []
    for r in result.rows:
        rec = asdict(r)
        rec["month"] = r.month.strftime("%Y-%m")
        for k in ("conversion_rate", "drop_off_rate"):
            rec[k] = None if rec[k] is None else round(rec[k], 4)
        out.append(rec)
    return out


def funnel_csv(result: FunnelResult) -> str:
    """One line per (month, step): month, funnel_step, kpi_name, deals_count, rates."""
    buf = io.StringIO()
    records = _records(result)
    names = [f for f in FunnelRow.__dataclass_fields__]
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: "" if v is None else v for k, v in rec.items()})
    return buf.getvalue()


def funnel_json(result: FunnelResult) -> str:
    """{"steps": [...], "months": [...], "rows": [...], "totals": [...]} as indented JSON."""
    totals = [
        {
            "funnel_step": t.funnel_step,
            "kpi_name": t.kpi_name,
            "deals_count": t.deals_count,
            "drop_off_rate": None if t.drop_off_rate is None else round(t.drop_off_rate, 4),
        }
        for t in result.totals()
    ]
    doc = {
        "steps": [{"funnel_step": s.step, "kpi_name": s.kpi_name} for s in result.steps],
        "months": [m.strftime("%Y-%m") for m in result.months],
        "rows": _records(result),
        "totals": totals,
    }
    return json.dumps(doc, indent=2)
