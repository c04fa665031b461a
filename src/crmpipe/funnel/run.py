"""`crmpipe funnel` for a project: read the monthly funnel from its warehouse, write the chart.

The one library call behind the command; `funnel.query` answers from an open connection and
`funnel.chart` draws, this opens the project's warehouse for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crmpipe.config.load import load_config
from crmpipe.funnel.chart import check_chart_path, write_funnel_chart
from crmpipe.funnel.query import FunnelResult
from crmpipe.funnel.query import funnel as monthly_funnel
from crmpipe.warehouse.connection import connect


@dataclass(frozen=True)
class FunnelRun:
    """The funnel asked for, and where its chart was written (None: no chart asked for)."""

    result: FunnelResult
    chart: Path | None


def funnel(
    config: Path | None,
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    chart: Path | None = None,
) -> FunnelRun:
    """The project's funnel between two months ('YYYY-MM'), and its chart written to `chart`.

    A chart path of a type we can't write fails before any work is done.
    """
    if chart is not None:
        check_chart_path(chart)  # fail before the work, not after
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        result = monthly_funnel(con, month_from=month_from, month_to=month_to)
    finally:
        con.close()
    written = write_funnel_chart(result, chart) if chart is not None else None
    return FunnelRun(result, written)
