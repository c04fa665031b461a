"""The funnel chart: funnel rows laid out as shapes, written as SVG, an HTML page or PNG.

The chart is laid out once as shapes (rectangles and text) on a `render.charts.Canvas`, which
writes them as SVG or rasterises them to PNG — no network, no new dependency, same picture.
This module holds only what is the funnel's own: the layout, its colours, the HTML page with
the counts as tables, and the chart file types `--chart` takes. Two panels:
the deals entering each step over the whole range, with the drop-off from the step before; and
a month × step grid of the counts, shaded per step so each step's busy months stand out.
"""

from __future__ import annotations

import html
from pathlib import Path

from crmpipe.funnel.query import FunnelError, FunnelResult
from crmpipe.render.charts import GRID, INK, MUTED, Canvas, canvas_png, canvas_svg, shade

#: Chart file types `write_funnel_chart` knows, by suffix.
CHART_SUFFIXES: tuple[str, ...] = (".svg", ".html", ".png")

STAGE_BAR = "#2f6fb3"
CALL_BAR = "#e08a1e"
WIDTH = 960


def check_chart_path(path: Path | str) -> Path:
    """`path` if its suffix is a chart type we write; else FunnelError naming the ones we do."""
    p = Path(path)
    if p.suffix.lower() not in CHART_SUFFIXES:
        shown = p.suffix or "no extension"
        raise FunnelError(
            f"--chart {p}: unsupported chart type ({shown}); use {', '.join(CHART_SUFFIXES)}"
        )
    return p


# --- the layout --------------------------------------------------------------------------------


def _is_call(step: str) -> bool:
    """Sub-steps (2.1, 3.1) are the sales calls, counted from activities."""
    return "." in step


def _range_label(result: FunnelResult) -> str:
    if not result.months:
        return "no months"
    first, last = result.months[0], result.months[-1]
    return f"{first:%Y-%m}" if first == last else f"{first:%Y-%m} to {last:%Y-%m}"


def layout(result: FunnelResult) -> Canvas:
    """The chart as shapes on a WIDTH-wide canvas (height follows the number of steps)."""
    steps = result.steps
    totals = result.totals()
    label_w, row_h, top = 230.0, 26.0, 64.0
    panel1_h = len(steps) * row_h
    months = result.months
    cell_w = min(56.0, (WIDTH - label_w - 20) / max(len(months), 1))
    grid_top = top + panel1_h + 70
    height = grid_top + 30 + len(steps) * row_h + 40
    c = Canvas(WIDTH, height)
    c.rect(0, 0, WIDTH, height, "#ffffff")
    c.text(20, 30, f"Sales funnel, {_range_label(result)}", size=18, bold=True)
    c.text(
        20,
        50,
        "Deals entering each step (first entry per deal) and drop-off from the step before",
        size=12,
        fill=MUTED,
    )

    biggest = max((t.deals_count for t in totals), default=0) or 1
    bar_w = WIDTH - label_w - 170
    for i, t in enumerate(totals):
        y = top + i * row_h
        colour = CALL_BAR if _is_call(t.funnel_step) else STAGE_BAR
        c.text(label_w - 10, y + 17, f"{t.funnel_step}  {t.kpi_name}", size=12, anchor="end")
        w = bar_w * t.deals_count / biggest
        c.rect(label_w, y + 4, w, row_h - 8, colour)
        c.text(label_w + w + 6, y + 17, f"{t.deals_count:,}", size=12, bold=True)
        if t.drop_off_rate is not None:
            c.text(
                WIDTH - 20, y + 17, f"{-t.drop_off_rate:+.0%}", size=12, anchor="end", fill=MUTED
            )
    c.text(WIDTH - 20, top - 6, "vs previous step", size=10, anchor="end", fill=MUTED)
    c.rect(20, top + panel1_h + 12, 12, 12, STAGE_BAR)
    c.text(38, top + panel1_h + 22, "stage reached (deal_changes)", size=11, fill=MUTED)
    c.rect(230, top + panel1_h + 12, 12, 12, CALL_BAR)
    c.text(248, top + panel1_h + 22, "sales call done (activities)", size=11, fill=MUTED)

    c.text(20, grid_top - 16, "Deals entering each step, by month", size=14, bold=True)
    for j, month in enumerate(months):
        x = label_w + j * cell_w
        c.text(x + cell_w / 2, grid_top + 14, f"{month:%b}", size=10, anchor="middle", fill=MUTED)
        if j == 0 or month.month == 1:
            c.text(
                x + cell_w / 2, grid_top + 2, f"{month:%Y}", size=10, anchor="middle", fill=MUTED
            )
    for i, step in enumerate(steps):
        y = grid_top + 22 + i * row_h
        c.text(label_w - 10, y + 17, f"{step.step}  {step.kpi_name}", size=12, anchor="end")
        counts = [result.count(m, step.step) for m in months]
        peak = max(counts, default=0) or 1
        colour = CALL_BAR if _is_call(step.step) else STAGE_BAR
        for j, n in enumerate(counts):
            x = label_w + j * cell_w
            share = n / peak
            c.rect(x + 1, y + 1, cell_w - 2, row_h - 2, shade(colour, share) if n else "#f5f7fa")
            if cell_w >= 26:
                c.text(
                    x + cell_w / 2,
                    y + 17,
                    f"{n:,}",
                    size=10,
                    anchor="middle",
                    fill="#ffffff" if share > 0.55 else INK,
                )
    c.text(20, height - 14, "crmpipe · marts.rep_sales_funnel_monthly", size=10, fill=MUTED)
    return c


# --- SVG and HTML ----------------------------------------------------------------------------


def funnel_svg(result: FunnelResult) -> str:
    """The chart as a standalone SVG document."""
    return canvas_svg(layout(result), f"Sales funnel, {_range_label(result)}")


def funnel_html(result: FunnelResult) -> str:
    """A self-contained page: the SVG chart, then the counts and drop-offs as tables."""
    head = "".join(f"<th>{html.escape(s.step)}</th>" for s in result.steps)
    legend = "".join(
        f"<li><b>{html.escape(s.step)}</b> {html.escape(s.kpi_name)}</li>" for s in result.steps
    )
    rows = []
    for month in result.months:
        cells = "".join(f"<td>{result.count(month, s.step):,}</td>" for s in result.steps)
        rows.append(f"<tr><th>{month:%Y-%m}</th>{cells}</tr>")
    totals = result.totals()
    rows.append(
        "<tr class=total><th>total</th>"
        + "".join(f"<td>{t.deals_count:,}</td>" for t in totals)
        + "</tr>"
    )
    drops = "".join(
        f"<td>{'' if t.drop_off_rate is None else f'{t.drop_off_rate:.0%}'}</td>" for t in totals
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Sales funnel, {html.escape(_range_label(result))}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: {INK}; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid {GRID}; text-align: right; }}
tr.total {{ font-weight: bold; }}
ul {{ columns: 3; color: {MUTED}; }}
</style></head><body>
{funnel_svg(result)}
<h2>Deals entering each step, by month</h2>
<table><tr><th>month</th>{head}</tr>
{chr(10).join(rows)}
<tr><th>drop-off</th>{drops}</tr></table>
<ul>{legend}</ul>
<p>Drop-off: 1 − deals entering the step ÷ deals entering the step before (same months).</p>
</body></html>
"""


# --- PNG and writing --------------------------------------------------------------------------


def funnel_png(result: FunnelResult, *, density: int = 2) -> bytes:
    """The chart rasterised at `density` pixels per SVG unit, as PNG bytes."""
    return canvas_png(layout(result), density=density)


def write_funnel_chart(result: FunnelResult, path: Path | str) -> Path:
    """Write the chart to `path`; its suffix (.svg, .html or .png) picks the format."""
    p = check_chart_path(path)
    suffix = p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        p.write_text(funnel_svg(result), encoding="utf-8")
    elif suffix == ".html":
        p.write_text(funnel_html(result), encoding="utf-8")
    else:
        p.write_bytes(funnel_png(result))
    return p
