"""Benchmark: two CRMs into one at scale — contact exports → golden contacts and companies.

1. generates the case (default 1M contact rows from HubSpot and Salesforce, 30% of the people
   in both) with crmpipe.demo.datasets.crm_merge, and maps it with `crmpipe init`'s guess as
   it is (no edits), or reuses it with `--keep`;
2. runs the pipeline `--repeat` times, each in a child process on a fresh warehouse (its peak
   RSS is its own): whole-run wall, rows/s, peak RSS, and the resolve steps' seconds;
3. pairwise precision / recall / F1 for contacts and companies against the generator's
   truth (crmpipe.demo.crm_merge, what `crmpipe demo crm-merge` prints);
4. the plain baseline in the same run: contact rows with the same (lower-cased) first e-mail
   are one person, scored against the same truth.

Prints the load average at the start and end: the machines are 2 cores and shared.
Targets (issue 14): ≤ 60 s wall, ≤ 6 GB peak RSS, F1 ≥ 0.97 for contacts and companies.

Usage: flock /tmp/crmpipe-bench.lock uv run python benchmarks/crm_merge.py [--contacts N]
       [--repeat K] [--keep] [--dir D]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from childrun import child_run
from crmpipe.config.load import load_config
from crmpipe.demo.crm_merge import crm_merge_figures
from crmpipe.demo.datasets.crm_merge import generate
from crmpipe.init.guess import init
from crmpipe.warehouse.connection import connect

console = Console(width=120)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="reuse the generated files")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/crmpipe-bench-crm-merge"))
    args = ap.parse_args()
    console.print(f"load average at start: {load()}")
    folder = args.dir
    config = folder / "crmpipe.yml"
    if not (args.keep and config.exists()):
        t0 = time.perf_counter()
        made = generate(folder, contacts=args.contacts)
        gen = time.perf_counter() - t0
        init(folder / "data", output=config, force=True)
        console.print(f"generated {made.counts} in {gen:.1f}s; mapped by crmpipe init")
    cfg = load_config(config)
    runs = []
    for _ in range(args.repeat):
        shutil.rmtree(cfg.warehouse_path.parent, ignore_errors=True)
        runs.append(child_run(config))
    walls = [r["wall"] for r in runs]
    last = runs[-1]
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        t0 = time.perf_counter()
        f = crm_merge_figures(con, folder / "truth.csv")
        score_s = time.perf_counter() - t0
    finally:
        con.close()
    wall = statistics.median(walls)
    rows = f.contact_rows
    t = Table(title=f"crm-merge: {rows:,} contact rows, {len(runs)} run(s) (median)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("wall (files → golden contacts and companies)", f"{wall:.1f} s")
    if len(runs) > 1:
        t.add_row(
            "  each run: wall, peak RSS",
            " · ".join(f"{r['wall']:.1f} s, {r['rss_kb'] / 1024 / 1024:.2f} GB" for r in runs),
        )
    t.add_row("rows/s", f"{rows / wall:,.0f}")
    t.add_row("peak RSS", f"{max(r['rss_kb'] for r in runs) / 1024 / 1024:.2f} GB")
    for step, target, secs, _, _ in last["steps"]:
        if step in ("resolve", "clean", "ingest", "index"):
            t.add_row(f"  {step} {target}", f"{secs:.1f} s")
    t.add_row("people: rows → golden (truth)", f"{rows:,} → {f.contacts:,} ({f.true_people:,})")
    t.add_row(
        "companies: records → golden (truth)",
        f"{f.company_records:,} → {f.companies:,} ({f.true_companies:,})",
    )
    t.add_row("people found in both CRMs (truth)", f"{f.in_both:,} ({f.true_in_both:,})")
    for label, s in (
        ("contacts", f.contacts_score),
        ("companies", f.companies_score),
        ("baseline: exact e-mail (contacts)", f.baseline),
    ):
        t.add_row(f"{label} P / R / F1", f"{s.precision:.4f} / {s.recall:.4f} / {s.f1:.4f}")
    t.add_row("scoring seconds", f"{score_s:.1f}")
    console.print(t)
    console.print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
