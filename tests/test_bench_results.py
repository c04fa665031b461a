"""`make bench`'s record of figures: a benchmark's printed tables kept in
benchmarks/results/<name>.json and rendered with the change since the previous entry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_PY = ROOT / "benchmarks" / "results.py"
BENCH_PY = ROOT / "benchmarks" / "bench.py"

FAKE = """
import argparse, sys
from rich.console import Console
from rich.table import Table
ap = argparse.ArgumentParser()
ap.add_argument("--wall", type=float)
ap.add_argument("--fail", action="store_true")
args = ap.parse_args()
t = Table(title="speed")
t.add_column("step")
t.add_column("wall")
t.add_column("rows/s")
t.add_row("run", f"{args.wall:.1f} s", "[green]32,800[/]")
t.add_row("baseline", "45.8 s", "n/a")
Console().print(t)
Console().print("load average 0.5")
sys.exit(2 if args.fail else 0)
"""


def _record(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp / "fake.py"
    script.write_text(FAKE)
    command = [sys.executable, str(RESULTS_PY), "record", "--results", str(tmp / "r")]
    return subprocess.run(
        [*command, "fake", str(script), *args], capture_output=True, text=True, check=False
    )


def test_a_run_is_printed_and_appended_with_its_tables(tmp_path: Path) -> None:
    first = _record(tmp_path, "--wall", "10")
    second = _record(tmp_path, "--wall", "12.5")
    assert first.returncode == second.returncode == 0, first.stderr
    assert "32,800" in first.stdout  # the script still prints as it does on its own
    history = json.loads((tmp_path / "r" / "fake.json").read_text())
    assert len(history) == 2
    entry = history[1]
    assert entry["tables"] == [
        {
            "title": "speed",
            "columns": ["step", "wall", "rows/s"],
            "rows": [["run", "12.5 s", "32,800"], ["baseline", "45.8 s", "n/a"]],
        }
    ]
    assert entry["lines"] == ["load average 0.5"]
    assert entry["machine"]["cpus"] >= 1 and len(entry["load"]) == 2
    assert entry["command"].endswith("fake.py --wall 12.5") and entry["exit"] == 0


def test_render_shows_the_latest_table_with_changes(tmp_path: Path) -> None:
    _record(tmp_path, "--wall", "10")
    _record(tmp_path, "--wall", "12.5")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written text stays.\n")
    command = [sys.executable, str(RESULTS_PY), "render", "--results", str(tmp_path / "r")]
    for _ in range(2):  # a second render replaces the block instead of adding one
        subprocess.run([*command, "--doc", str(doc)], check=True)
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written text stays.")
    assert text.count("<!-- results:start -->") == 1
    assert "| run | 12.5 s (+25%) | 32,800 |" in text  # unchanged figures carry no change
    assert "| baseline | 45.8 s | n/a |" in text


def test_a_failing_benchmark_keeps_its_status(tmp_path: Path) -> None:
    done = _record(tmp_path, "--wall", "1", "--fail")
    assert done.returncode == 2
    assert json.loads((tmp_path / "r" / "fake.json").read_text())[0]["exit"] == 2


def test_bench_lists_a_scale_and_names_unknown_benchmarks() -> None:
    listed = subprocess.run(
        [sys.executable, str(BENCH_PY), "--scale", "full", "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pipeline.py --contacts 4500000" in listed.stdout
    wrong = subprocess.run(
        [sys.executable, str(BENCH_PY), "--only", "nosuch"], capture_output=True, text=True
    )
    assert wrong.returncode == 1 and "no benchmark nosuch" in wrong.stderr
