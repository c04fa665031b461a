"""Benchmark: what the data-quality checks cost on the public-sector case (default 4.5M contacts).

The same generated files are run from a fresh warehouse with checks off and with checks on
(default checks from the model, the project's SLAs, scores and profiles), alternating, each run
in a child process so its peak RSS is its own. Prints one table: wall time, CPU time (user +
system; steadier than wall on a shared machine), the checks' own steps (`check <table>` and
`slas`), peak RSS — medians of --repeat N — and what checks add: the median of the paired
differences (each "on" run minus the "off" run before it) and the checks' own step time.
Target (issue 4): checks and SLAs add ≤ 15 s at 4.5M contacts.

Usage: uv run python benchmarks/checks.py [--contacts N] [--repeat N] [--keep]
(run long benchmarks under `flock /tmp/crmpipe-bench.lock ...` on shared machines)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from childrun import child_run
from crmpipe.demo.datasets import pursuit

console = Console()
ROOT = Path(__file__).resolve().parents[1]
CHECK_STEPS = ("check", "slas")


def _child_run(config: Path, checks: bool) -> dict:
    """Run the pipeline in a child process from a fresh warehouse; return its figures."""
    shutil.rmtree(config.parent / ".crmpipe", ignore_errors=True)
    result = child_run(config, checks=checks)
    result["check_seconds"] = sum(s[2] for s in result["steps"] if s[0] in CHECK_STEPS)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=4_500_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mode (medians)")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data")
    ap.add_argument("--keep", action="store_true", help="reuse generated files if present")
    args = ap.parse_args()

    folder = args.dir / f"pursuit-{args.contacts}"
    config = folder / "crmpipe.yml"
    if not (args.keep and config.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        pursuit.generate(folder, contacts=args.contacts, seed=0)
        console.print(f"generated {args.contacts:,} contacts in {time.perf_counter() - t0:.1f}s")
    else:  # the project file may come from an older version: write the current one
        config.write_text(pursuit.CONFIG_YML, encoding="utf-8")

    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for i in range(args.repeat):
        for mode in ("off", "on"):
            r = _child_run(config, mode == "on")
            runs[mode].append(r)
            console.print(
                f"  run {i + 1} checks {mode}: {r['wall']:.1f}s wall, {r['cpu']:.1f}s CPU, "
                f"checks' steps "
                f"{r['check_seconds']:.2f}s, peak RSS {r['rss_kb'] / 1024:,.0f} MB",
                highlight=False,
            )

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    load = os.getloadavg()
    t = Table(
        title=f"checks off vs on, {args.contacts:,} contacts, median of {args.repeat} "
        f"({os.cpu_count()} cores, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f})"
    )
    cols = ("checks", "wall s", "CPU s", "checks' own steps s", "peak RSS MB", "checks / SLAs")
    for col in cols:
        t.add_column(col, justify="left" if col == "checks" else "right")
    last = runs["on"][-1]
    for mode in ("off", "on"):
        t.add_row(
            mode,
            f"{med(mode, 'wall'):.1f}",
            f"{med(mode, 'cpu'):.1f}",
            f"{med(mode, 'check_seconds'):.2f}",
            f"{med(mode, 'rss_kb') / 1024:,.0f}",
            f"{last['checks']} / {last['slas']}" if mode == "on" else "",
        )
    # Each "on" run is paired with the "off" run just before it: the median of the pairs'
    # differences is less sensitive to other work on the machine than a difference of medians.
    pairs = list(zip(runs["off"], runs["on"], strict=True))
    added = statistics.median(on["wall"] - off["wall"] for off, on in pairs)
    cpu = statistics.median(on["cpu"] - off["cpu"] for off, on in pairs)
    own = med("on", "check_seconds")
    t.add_row("[b]added (paired)", f"[b]{added:+.1f}", f"{cpu:+.1f}", f"{own:.2f}", "", "")
    console.print(t)
    steps: dict[str, list[float]] = {}
    for r in runs["on"]:
        for step, target, secs, *_ in r["steps"]:
            if step in CHECK_STEPS:
                steps.setdefault(f"{step} {target}", []).append(secs)
    s = Table(title="the checks' steps (median seconds)")
    s.add_column("step")
    s.add_column("seconds", justify="right")
    for name, values in steps.items():
        s.add_row(name, f"{statistics.median(values):.2f}")
    console.print(s)
    console.print(
        f"target: ≤ 15 s added — checks' own steps {own:.2f}s, paired wall difference "
        f"{added:+.1f}s: {'[green]met' if max(own, added) <= 15 else '[red]missed'}[/] "
        f"(failed {last['failed']}, warned {last['warned']}, quarantined {last['quarantined']:,})"
    )


if __name__ == "__main__":
    main()
