"""Benchmark figures kept over time: each run of a benchmark script appends what it printed
(its rich tables, as text) to `benchmarks/results/<name>.json`, with the date, the commit, the
machine and the load average; `render` writes the latest table of each benchmark, with the
change since the previous entry, into docs/benchmarks.md.

The scripts are not changed for this: `record` runs one in this process with `rich`'s
`Console.print` wrapped, so every table a script prints is also captured. That keeps each
script runnable on its own, exactly as its docstring says.

Usage:
  uv run python benchmarks/results.py record NAME SCRIPT [ARGS...]   (one run, appended)
  uv run python benchmarks/results.py render [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
NUMBER = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def plain(cell: object) -> str:
    """A table cell as the text a reader sees (rich markup removed)."""
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        try:
            return Text.from_markup(cell).plain
        except Exception:  # not markup after all: keep it as printed
            return cell
    return str(cell)


def table_json(table: Table) -> dict:
    """A rich table as its title, headers and rows of plain text."""
    columns = [plain(c.header) for c in table.columns]
    cells = [[plain(x) for x in c._cells] for c in table.columns]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    return {"title": plain(table.title or ""), "columns": columns, "rows": rows}


def _commit() -> str:
    """The checked-out commit, marked `-dirty` when the tree has changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _shown(script: Path) -> str:
    """The script's path as a command from the repository root would name it."""
    return str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else str(script)


def machine() -> dict:
    """What the figures were measured on."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def capture(script: Path, args: list[str]) -> tuple[list[dict], list[str], int]:
    """Run `script` with `args` as `__main__` here, returning the tables and lines it printed and
    its exit status. Printing is unchanged: the wrapper only keeps a copy."""
    tables: list[dict] = []
    lines: list[str] = []
    original = Console.print

    def keep(self: Console, *objects: object, **kwargs: object) -> None:
        for obj in objects:
            if isinstance(obj, Table):
                tables.append(table_json(obj))
            elif isinstance(obj, str | Text):
                lines.append(plain(obj))
        original(self, *objects, **kwargs)

    Console.print = keep  # type: ignore[method-assign]
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))
    status = 0
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        Console.print = original  # type: ignore[method-assign]
        sys.argv, sys.path[:] = saved_argv, saved_path
    return tables, lines, status


def record(name: str, script: Path, args: list[str], results: Path = RESULTS) -> dict:
    """Run one benchmark and append its entry to `results/<name>.json`; returns the entry."""
    if not script.is_file():
        raise SystemExit(f"error: no benchmark script {script}")
    load_start, started = os.getloadavg()[0], time.perf_counter()
    tables, lines, status = capture(script, args)
    entry = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "command": " ".join(["python", _shown(script), *args]),
        "load": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "wall_s": round(time.perf_counter() - started, 1),
        "exit": status,
        "tables": tables,
        "lines": lines,
    }
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    history = json.loads(path.read_text()) if path.exists() else []
    history.append(entry)
    path.write_text(json.dumps(history, indent=1, ensure_ascii=False) + "\n")
    return entry


def number(text: str) -> float | None:
    """The number a cell starts with (`3.05 s`, `32,801`, `−4%`), or None."""
    m = NUMBER.match(text.strip())
    return float(m.group().replace(",", "").replace("−", "-")) if m else None


def change(new: str, old: str | None) -> str:
    """`new`, followed by its change since `old` when both are numbers and it moved."""
    a, b = number(new), None if old is None else number(old)
    if a is None or b is None or b == 0 or a == b:
        return new
    return f"{new} ({(a - b) / abs(b) * 100:+.0f}%)"


def _rows_by_label(table: dict) -> dict[str, list[str]]:
    return {row[0]: row for row in table["rows"] if row}


def table_markdown(table: dict, previous: dict | None) -> str:
    """A table in Markdown, each number followed by its change since `previous` (same title,
    same row label, same column)."""
    before = _rows_by_label(previous) if previous else {}
    cols = table["columns"]
    out = [f"**{table['title']}**\n" if table["title"] else ""]
    out.append("| " + " | ".join(c or " " for c in cols) + " |")
    out.append("|" + "---|" * len(cols))
    for row in table["rows"]:
        old = before.get(row[0]) if row else None
        cells = [
            cell if i == 0 else change(cell, old[i] if old and i < len(old) else None)
            for i, cell in enumerate(row)
        ]
        out.append(
            "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
        )
    return "\n".join(out)


def entry_markdown(history: list[dict]) -> str:
    """The latest entry of one benchmark, compared with the one before it."""
    last = history[-1]
    prev = history[-2] if len(history) > 1 else None
    load = " → ".join(str(x) for x in last["load"])
    head = (
        f"### {last['name']} — {last['date'][:10]}, commit {last['commit']}, "
        f"{last['wall_s']} s, load {load}\n\n`{last['command']}`"
    )
    since = (
        f" Changes in brackets are since {prev['date'][:10]} ({prev['commit']})." if prev else ""
    )
    parts = [head + (f"\n\n{since.strip()}" if since else "")]
    by_title = {t["title"]: t for t in prev["tables"]} if prev else {}
    parts += [table_markdown(t, by_title.get(t["title"])) for t in last["tables"]]
    return "\n\n".join(parts)


def render(results: Path = RESULTS, doc: Path = DOC) -> str:
    """Write the latest figures of every benchmark with results into `doc`, between the
    results markers (added at the end the first time). Returns the block written."""
    histories = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    body = "\n\n".join(entry_markdown(h) for h in histories if h) or "No results recorded yet."
    block = f"{START}\n{body}\n{END}"
    text = doc.read_text() if doc.exists() else ""
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = (
            text.rstrip("\n") + "\n\n## Latest recorded figures (`make bench`)\n\n" + block + "\n"
        )
    doc.write_text(text)
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run one benchmark script and append its figures")
    rec.add_argument("name")
    rec.add_argument("script", type=Path)
    rec.add_argument("args", nargs=argparse.REMAINDER)
    rec.add_argument("--results", type=Path, default=RESULTS)
    ren = sub.add_parser("render", help="write the latest figures into docs/benchmarks.md")
    ren.add_argument("--results", type=Path, default=RESULTS)
    ren.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args()
    if args.command == "record":
        entry = record(args.name, args.script.resolve(), args.args, args.results)
        sys.exit(entry["exit"])
    render(args.results, args.doc)


if __name__ == "__main__":
    main()
