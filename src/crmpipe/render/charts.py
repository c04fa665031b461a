"""crmpipe's one chart module: palette, axes, ticks, legends and text for every chart drawn.

Two kinds of chart share it. The HTML run report's inline-SVG charts (line, horizontal bars,
grouped/stacked bars): each function returns one `<svg>` element as a string, ready to paste
into an HTML page — a title, axes with ticks and labels, a legend where there are several
series, and a `<title>` tooltip on every point and bar. And free-form charts (the funnel) laid
out once as shapes on a `Canvas`, written as a standalone SVG document (`canvas_svg`) or
rasterised to PNG (`canvas_png`: numpy rectangles, `render.font`'s bitmap font, zlib) — same
picture. No JavaScript, no fonts or styles fetched from anywhere, no plotting library, so a
chart opens offline; every piece of text (table, column and source names come from user data)
goes through `html.escape`. Sizes are in SVG user units.
"""

from __future__ import annotations

import html
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from crmpipe.render.font import draw_text

INK = "#1f2933"
MUTED = "#66788a"
GRID = "#d9e2ec"
#: Series colours, in order (colour-blind friendly, after Okabe & Ito).
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#56b4e9",
    "#8a6d00",
    "#000000",
)
WIDTH = 720
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"
#: The font of a standalone canvas SVG document.
CANVAS_FONT = "Helvetica, Arial, sans-serif"


def esc(text: object) -> str:
    """Text or attribute value made safe for HTML/SVG (quotes too)."""
    return html.escape(str(text), quote=True)


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def number(value: float) -> str:
    """A compact label: 1,234 / 12.5 / 0.25 / 0.00312."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"


def _nice_max(value: float) -> float:
    """A round axis maximum ≥ value (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    exp = 1.0
    while exp * 10 <= value:
        exp *= 10
    while exp > value:
        exp /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= value:
            return step * exp
    return 10 * exp  # pragma: no cover - the loop always returns


def _ticks(top: float, n: int = 4, bottom: float = 0.0) -> list[float]:
    return [bottom + (top - bottom) * i / n for i in range(n + 1)]


def _open(kind: str, title: str, width: float, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-label="{esc(title)}" data-chart="{kind}" style="{FONT}">',
        f"<title>{esc(title)}</title>",
        f'<text x="12" y="22" font-size="15" font-weight="600" fill="{INK}">{esc(title)}</text>',
    ]


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out: list[str] = ['<g class="legend">']
    for i, name in enumerate(names):
        out.append(
            f'<rect x="{x:.1f}" y="{y + i * 18 - 9:.1f}" width="11" height="11" '
            f'fill="{colour(i)}"/>'
            f'<text x="{x + 16:.1f}" y="{y + i * 18:.1f}" font-size="12" fill="{INK}">'
            f"{esc(_clip(name, 22))}</text>"
        )
    out.append("</g>")
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_max: float | None = None,
    y_min: float = 0.0,
    y_label: str = "",
    fmt: Callable[[float], str] = number,
) -> str:
    """One line per series over the x labels (None = no point there; the line breaks).

    The y axis runs from `y_min` (default 0; raise it to show small moves near the top of a
    scale, such as scores between 95 and 100) to `y_max` (default: a round number above the
    largest value); values outside are drawn at the edge.
    """
    names = list(series)
    legend_w = 170 if len(names) > 1 else 0
    left, right, top, bottom = 56, 20 + legend_w, 40, 46
    height = 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None]
    ymax = y_max if y_max is not None else _nice_max(max(values, default=0.0))
    n = max(len(x_labels), 1)

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + plot_h - plot_h * (min(max(v, y_min), ymax) - y_min) / (ymax - y_min)

    out = _open("line", title, WIDTH, height)
    out += _axes_y(left, top, plot_w, plot_h, ymax, fmt, y_label, y_min)
    step = max(1, n // 12)  # at most ~12 x labels
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            out.append(
                f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="{MUTED}">{esc(label)}</text>'
            )
    for si, name in enumerate(names):
        c = colour(si)
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(series[name]):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{px(i):.1f},{py(v):.1f}")
        if segment:
            segments.append(segment)
        out.append(f'<g class="series" data-series="{esc(name)}">')
        for seg in segments:
            if len(seg) > 1:
                points = " ".join(seg)
                out.append(
                    f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{points}"/>'
                )
        for i, v in enumerate(series[name]):
            if v is None:
                continue
            label = x_labels[i] if i < len(x_labels) else str(i)
            out.append(
                f'<circle class="point" cx="{px(i):.1f}" cy="{py(v):.1f}" r="3.5" fill="{c}">'
                f"<title>{esc(name)} · {esc(label)}: {esc(fmt(v))}</title></circle>"
            )
        out.append("</g>")
    if legend_w:
        out += _legend(names, WIDTH - legend_w + 10, top + 10)
    out.append("</svg>")
    return "\n".join(out)


def _axes_y(
    left: float,
    top: float,
    plot_w: float,
    plot_h: float,
    ymax: float,
    fmt: Callable[[float], str],
    y_label: str,
    ymin: float = 0.0,
) -> list[str]:
    out = ['<g class="axis axis-y">']
    for t in _ticks(ymax, bottom=ymin):
        y = top + plot_h - plot_h * (t - ymin) / (ymax - ymin)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{MUTED}">{esc(fmt(t))}</text>'
        )
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h:.1f}" stroke="{MUTED}"/>'
        f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" '
        f'y2="{top + plot_h:.1f}" stroke="{MUTED}"/>'
    )
    if y_label:
        out.append(
            f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="11" fill="{MUTED}" '
            f'text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
            f"{esc(y_label)}</text>"
        )
    out.append("</g>")
    return out


def hbar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    x_max: float | None = None,
    x_label: str = "",
    fmt: Callable[[float], str] = number,
    bar_colour: str = PALETTE[0],
) -> str:
    """One horizontal bar per (label, value), top to bottom in the order given."""
    label_w = min(220, 16 + 7 * max((len(_clip(k, 30)) for k, _ in items), default=4))
    left, right, top, bottom = label_w, 70, 40, 40
    row_h = 20
    plot_w = WIDTH - left - right
    plot_h = max(row_h * len(items), row_h)
    height = top + plot_h + bottom
    vmax = x_max if x_max is not None else _nice_max(max((v for _, v in items), default=0.0))
    out = _open("hbar", title, WIDTH, height)
    out.append('<g class="axis axis-x">')
    for t in _ticks(vmax):
        x = left + plot_w * t / vmax
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="11" text-anchor="middle" '
            f'fill="{MUTED}">{esc(fmt(t))}</text>'
        )
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="{MUTED}"/>')
    if x_label:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" '
            f'text-anchor="middle" fill="{MUTED}">{esc(x_label)}</text>'
        )
    out.append("</g>")
    for i, (label, value) in enumerate(items):
        y = top + i * row_h
        w = plot_w * min(max(value, 0.0), vmax) / vmax
        out.append(
            f'<g class="bar"><text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end" '
            f'fill="{INK}">{esc(_clip(label, 30))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{bar_colour}"><title>{esc(label)}: {esc(fmt(value))}</title></rect>'
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11" fill="{MUTED}">'
            f"{esc(fmt(value))}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out)


def grouped_bar_chart(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    stacked: bool = False,
    y_label: str = "",
    fmt: Callable[[float], str] = number,
) -> str:
    """Vertical bars per category, one per series side by side (or stacked)."""
    names = list(series)
    legend_w = 150
    left, right, top, bottom = 64, 20 + legend_w, 40, 60
    height = 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    n = max(len(categories), 1)
    if stacked:
        totals = [sum(series[s][i] for s in names) for i in range(len(categories))]
    else:
        totals = [v for s in names for v in series[s]]
    ymax = _nice_max(max(totals, default=0.0))
    slot = plot_w / n
    bar_w = slot * 0.7 / (1 if stacked else max(len(names), 1))
    out = _open("stacked" if stacked else "grouped", title, WIDTH, height)
    out += _axes_y(left, top, plot_w, plot_h, ymax, fmt, y_label)
    for ci, cat in enumerate(categories):
        x0 = left + slot * ci + slot * 0.15
        out.append(
            f'<text x="{left + slot * (ci + 0.5):.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle" fill="{INK}">{esc(_clip(cat, max(6, int(slot / 7))))}</text>'
        )
        base = 0.0
        for si, name in enumerate(names):
            v = max(float(series[name][ci]), 0.0)
            h = plot_h * v / ymax
            if stacked:
                x, y = x0, top + plot_h - plot_h * base / ymax - h
                base += v
            else:
                x, y = x0 + si * bar_w, top + plot_h - h
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour(si)}"><title>{esc(cat)} · {esc(name)}: {esc(fmt(v))}</title>'
                "</rect>"
            )
    out += _legend(names, WIDTH - legend_w + 10, top + 10)
    out.append("</svg>")
    return "\n".join(out)


# --- canvas charts: shapes, written as SVG or PNG ---------------------------------------------


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


def shade(base: str, share: float) -> str:
    """`base` blended into white: share 0 → almost white, 1 → the full colour."""
    r, g, b = (int(base[i : i + 2], 16) for i in (1, 3, 5))
    t = 0.08 + 0.92 * max(0.0, min(1.0, share))
    return "#{:02x}{:02x}{:02x}".format(*(round(255 - (255 - c) * t) for c in (r, g, b)))


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


def canvas_svg(c: Canvas, title: str) -> str:
    """The canvas as a standalone SVG document titled `title`."""
    body = "\n".join(_svg_shape(s) for s in c.shapes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{c.width:.0f}" height="{c.height:.0f}" '
        f'viewBox="0 0 {c.width:.0f} {c.height:.0f}" font-family="{CANVAS_FONT}">\n'
        f"<title>{html.escape(title)}</title>\n{body}\n</svg>\n"
    )


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


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


def canvas_png(c: Canvas, *, density: int = 2) -> bytes:
    """The canvas rasterised at `density` pixels per SVG unit, as PNG bytes."""
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
            draw_text(
                img,
                s.text,
                round(s.x * density),
                round(s.y * density),
                _rgb(s.fill),
                scale=scale,
                anchor=s.anchor,
                bold=s.bold,
            )
    return _png_bytes(img)
