"""HTML building blocks for the run report: its stylesheet, cell formatting, badges, tables
and sections.

Every value from the warehouse passes through `esc`; a cell function returns HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crmpipe.render.charts import esc

#: No scripts, no network: styles inline, images only as data: URIs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --ink:#1f2933; --muted:#66788a; --line:#d9e2ec; --pass:#1b7f3b; --warn:#a86400;
  --fail:#c0262d; --skip:#66788a; --bg:#f7f9fb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif; color:var(--ink);
  background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; }
header p { margin:0; color:var(--muted); }
nav { padding:8px 28px; background:#fff; border-bottom:1px solid var(--line); }
nav a { margin-right:14px; color:#0b5cad; text-decoration:none; font-size:13px; }
main { padding:8px 28px 40px; max-width:1180px; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; margin:16px 0;
  padding:12px 18px 16px; }
h2 { font-size:17px; margin:4px 0 10px; }
h3 { font-size:14px; margin:14px 0 6px; color:var(--muted); }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left;
  vertical-align:top; }
th { background:#eef2f6; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:0 8px; border-radius:9px; color:#fff; font-size:12px;
  font-weight:600; }
.badge.pass { background:var(--pass); } .badge.warn { background:var(--warn); }
.badge.fail { background:var(--fail); } .badge.skip { background:var(--skip); }
tr.fail td { background:#fdf0f0; } tr.warn td { background:#fff8eb; }
.kpis { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:10px;
  margin:0; }
.kpis div { border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
.kpis dt { color:var(--muted); font-size:12px; } .kpis dd { margin:0; font-size:18px;
  font-weight:600; }
.empty { color:var(--muted); font-style:italic; margin:6px 0; }
.note { color:var(--muted); font-size:12px; }
.charts svg { max-width:100%; height:auto; display:block; margin:8px 0; }
footer { color:var(--muted); font-size:12px; padding:0 28px 24px; }
"""


def fmt(value: Any) -> str:
    """A cell's text: thousands separators, short floats, blank for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:,.4g}"
    return str(value)


def figure(value: Any, unit: str | None) -> str:
    """A measured value with its unit (`12.5 s`), or the bare value when it has none."""
    text = fmt(value)
    return f"{text} {unit}".strip() if text and unit else text


def when(value: str | None) -> str:
    """ISO timestamp → 'YYYY-MM-DD HH:MM:SS'."""
    return (value or "").replace("T", " ")[:19]


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} s" if value < 100 else f"{value / 60:,.1f} min"


def badge(status: str | None, outcome: str) -> str:
    return f'<span class="badge {outcome}">{esc(status or outcome)}</span>'


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


Column = tuple[str, str, Callable[[dict[str, Any]], str]]  # header, css class, cell html


def table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], row_class: str = "") -> str:
    """An HTML table; cell functions return HTML (escape what they take from the data)."""
    head = "".join(f'<th class="{cls}">{esc(h)}</th>' for h, cls, _ in columns)
    body = []
    for r in rows:
        cls = f' class="{esc(r.get(row_class, ""))}"' if row_class else ""
        cells = "".join(f'<td class="{c}">{cell(r)}</td>' for _, c, cell in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def col(header: str, key: str, num: bool = False, show: Callable[[Any], str] = fmt) -> Column:
    return (header, "num" if num else "", lambda r: esc(show(r.get(key))))


def section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{esc(title)}</h2>{body}</section>'


def page(
    title: str,
    subtitle: str,
    sections: Sequence[tuple[str, str]],
    renderers: dict[str, Callable[[dict[str, Any]], str]],
    content: dict[str, Any],
    json_command: str,
) -> str:
    """One self-contained HTML report page: header, section links, each section rendered from
    `content`, and a footer naming the command that prints the same content as JSON.

    `subtitle` is already-escaped HTML; every other value is escaped here."""
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in sections)
    body = "\n".join(section(k, t, renderers[k](content)) for k, t in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>"
        "<footer>Self-contained report: no scripts, no network. The same content is available "
        f"as JSON with <code>{esc(json_command)}</code>.</footer></body></html>\n"
    )
