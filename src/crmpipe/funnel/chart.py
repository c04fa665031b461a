"""Funnel charts without a plotting library: SVG, a self-contained HTML page, and PNG.

The chart is laid out once as a list of shapes (rectangles and text) on a `Canvas`; the SVG
writer turns the shapes into elements, the PNG writer rasterises them itself (numpy rectangles,
a built-in 5×7 bitmap font, zlib) — no network, no new dependency, same picture. Two panels:
the deals entering each step over the whole range, with the drop-off from the step before; and
a month × step grid of the counts, shaded per step so each step's busy months stand out.
"""

from __future__ import annotations

import html
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crmpipe.funnel.query import FunnelError, FunnelResult

#: Chart file types `write_funnel_chart` knows, by suffix.
CHART_SUFFIXES: tuple[str, ...] = (".svg", ".html", ".png")

INK = "#1f2933"
MUTED = "#66788a"
GRID = "#d9e2ec"
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


# --- the layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 12
    anchor: str = "start"  # start | middle | end
    fill: str = INK
    bold: bool = False


@dataclass
class Canvas:
    width: float
    height: float
    shapes: list[Rect | Text] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.shapes.append(Rect(x, y, max(w, 0.0), max(h, 0.0), fill))

    def text(self, x: float, y: float, text: str, **style: object) -> None:
        self.shapes.append(Text(x, y, text, **style))  # type: ignore[arg-type]


def _is_call(step: str) -> bool:
    """Sub-steps (2.1, 3.1) are the sales calls, counted from activities."""
    return "." in step


def _shade(base: str, share: float) -> str:
    """`base` blended into white: share 0 → almost white, 1 → the full colour."""
    r, g, b = (int(base[i : i + 2], 16) for i in (1, 3, 5))
    t = 0.08 + 0.92 * max(0.0, min(1.0, share))
    return "#{:02x}{:02x}{:02x}".format(*(round(255 - (255 - c) * t) for c in (r, g, b)))


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
            c.rect(x + 1, y + 1, cell_w - 2, row_h - 2, _shade(colour, share) if n else "#f5f7fa")
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


def _svg_shape(s: Rect | Text) -> str:
    if isinstance(s, Rect):
        return (
            f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" '
            f'fill="{s.fill}"/>'
        )
    weight = ' font-weight="bold"' if s.bold else ""
    return (
        f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size:g}" text-anchor="{s.anchor}" '
        f'fill="{s.fill}"{weight}>{html.escape(s.text)}</text>'
    )


def funnel_svg(result: FunnelResult) -> str:
    """The chart as a standalone SVG document."""
    c = layout(result)
    body = "\n".join(_svg_shape(s) for s in c.shapes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{c.width:.0f}" height="{c.height:.0f}" '
        f'viewBox="0 0 {c.width:.0f} {c.height:.0f}" font-family="Helvetica, Arial, sans-serif">\n'
        f"<title>Sales funnel, {html.escape(_range_label(result))}</title>\n{body}\n</svg>\n"
    )


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


# --- PNG ---------------------------------------------------------------------------------------

# A 5×7 bitmap font: each glyph is 7 rows of 5 columns ('#' = ink). Lower-case text is drawn
# with the capitals (small caps), which keeps the table to the characters the chart uses.
_GLYPHS: dict[str, tuple[str, ...]] = {
    " ": (".....",) * 7,
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    "·": (".....", ".....", ".....", "..#..", ".....", ".....", "....."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
}
_GLYPHS["−"] = _GLYPHS["-"]
_MASKS = {ch: np.array([[c == "#" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _draw_text(img: np.ndarray, t: Text, scale: int, px: int) -> None:
    """Blit `t` with the bitmap font; `scale` dots per font pixel, `px` image pixels per unit."""
    glyph_px = 6 * scale  # 5 columns + 1 of spacing
    chars = [ch if ch in _MASKS else ch.upper() for ch in t.text]
    chars = [ch if ch in _MASKS else "?" for ch in chars]
    width = len(chars) * glyph_px - scale
    x0 = round(t.x * px)
    if t.anchor == "middle":
        x0 -= width // 2
    elif t.anchor == "end":
        x0 -= width
    y0 = round(t.y * px) - 7 * scale
    colour = _rgb(t.fill)
    for i, ch in enumerate(chars):
        mask = np.kron(_MASKS[ch], np.ones((scale, scale), dtype=bool))
        if t.bold:
            mask = mask | np.roll(mask, 1, axis=1)
        gx = x0 + i * glyph_px
        h, w = mask.shape
        ys, xs = max(0, -y0), max(0, -gx)
        ye, xe = min(h, img.shape[0] - y0), min(w, img.shape[1] - gx)
        if ye <= ys or xe <= xs:
            continue
        region = img[y0 + ys : y0 + ye, gx + xs : gx + xe]
        region[mask[ys:ye, xs:xe]] = colour


def _png_bytes(img: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `img` (height × width × 3, uint8)."""
    h, w, _ = img.shape
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), img.reshape(h, w * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def funnel_png(result: FunnelResult, *, density: int = 2) -> bytes:
    """The chart rasterised at `density` pixels per SVG unit, as PNG bytes."""
    c = layout(result)
    img = np.full((round(c.height * density), round(c.width * density), 3), 255, dtype=np.uint8)
    for s in c.shapes:
        if isinstance(s, Rect):
            x0, y0 = round(s.x * density), round(s.y * density)
            x1, y1 = round((s.x + s.w) * density), round((s.y + s.h) * density)
            img[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = _rgb(s.fill)
    for s in c.shapes:
        if isinstance(s, Text):
            # Bitmap glyphs are 7 dots high: about the cap height of the SVG's font size.
            scale = max(1, round(s.size * density / 10))
            _draw_text(img, s, scale, density)
    return _png_bytes(img)


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
