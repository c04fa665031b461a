"""Benchmark: one new file of contacts into a resolved warehouse (incremental resolution).

1. generates the public-sector case (default 1M contacts, 5% planted duplicates) and holds back
   the last `--new` data lines of `contacts_1.csv` as `contacts_9.csv`, a drop that arrives
   later (their people's other records stay in the warehouse);
2. `crmpipe run` without it (a fresh warehouse, full resolution), then with it: the second
   run's resolve step is incremental (only the new records and their blocked pairs scored);
3. `crmpipe resolve --full --keep-model` on the same warehouse: every pair scored again with
   the model the incremental run used (no training), whose golden records must be the
   incremental run's; then `crmpipe resolve --full`: the plain way, every pair scored and the
   model trained again, in the same run;
4. pairwise precision/recall/F1 against the truth (by contact id) after each, and how many
   golden records differ between the incremental and each full resolution.

Each run is a child process (its peak RSS its own).

With `--repeat N` the drop's run is repeated N times, each on a copy of the warehouse as the
first run left it, and the table shows the median run (each run's figures are printed too).

Usage: flock /tmp/crmpipe-bench.lock uv run python benchmarks/incremental.py [--contacts N]
       [--new N] [--keep] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from childrun import child_run
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.model import CONTACTS
from crmpipe.resolution.evaluate import Evaluation, evaluate_truth
from crmpipe.warehouse.connection import connect

console = Console(width=120)
ROOT = Path(__file__).resolve().parents[1]

_FULL = """\
import json, resource, sys, time
from crmpipe.config.load import load_config
from crmpipe.resolution.run import resolve
t0 = time.perf_counter()
keep = sys.argv[2] == "keep"
[r] = resolve(load_config(sys.argv[1]), tables=["contacts"], full=True, keep_model=keep)
print(json.dumps({"seconds": time.perf_counter() - t0, "mode": r.mode,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def prepare(folder: Path, contacts: int, new: int, keep: bool) -> tuple[Path, Path, Path]:
    """The case, its held-back drop and an id-keyed truth: (config, held drop, truth)."""
    config, held, truth = (
        folder / "crmpipe.yml",
        folder / "held" / "contacts_9.csv",
        folder / "truth_ids.csv",
    )
    if keep and config.exists() and held.exists():
        return config, held, truth
    shutil.rmtree(folder, ignore_errors=True)
    pursuit.generate(folder, contacts=contacts)
    source = folder / "contacts_1.csv"
    stat = source.stat()
    lines = source.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    source.write_bytes(header + b"".join(body[:-new]))
    os.utime(source, (stat.st_atime, stat.st_mtime))  # its place in recency stays
    held.parent.mkdir()
    held.write_bytes(header + b"".join(body[-new:]))
    con = connect(folder / "truth.duckdb")
    try:
        con.execute(
            "COPY (SELECT DISTINCT contact_id, person_id AS true_id FROM read_csv(?, header = "
            "true, all_varchar = true) WHERE contact_id IS NOT NULL) TO ? (HEADER)",
            [str(folder / "resolve_truth.csv"), str(truth)],
        )
    finally:
        con.close()
    (folder / "truth.duckdb").unlink()
    return config, held, truth


def figures(
    config: Path, truth: Path
) -> tuple[Evaluation, dict[str, set[str]], str, int, dict[str, float]]:
    """(pairwise figures, golden id → its records, the last resolution's mode, changed, and
    its phase timings)."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        ev = evaluate_truth(con, CONTACTS, truth)
        groups = {
            g: set(ids)
            for g, ids in con.execute(
                "SELECT golden_id, list(DISTINCT record_id) FROM core.contact_sources "
                "GROUP BY golden_id"
            ).fetchall()
        }
        mode, changed, timings = con.execute(
            "SELECT mode, changed, timings_json FROM meta.resolve_models "
            "WHERE table_name = 'contacts' "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchall()[0]
    finally:
        con.close()
    return ev, groups, mode, changed or 0, json.loads(timings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=50_000, help="contacts in the new drop")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data" / "incremental")
    ap.add_argument("--keep", action="store_true", help="reuse the generated case")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of the new drop, each on the warehouse the first run left (restored from a "
        "copy); the table shows the median one",
    )
    args = ap.parse_args()
    folder = args.dir / f"c{args.contacts}-n{args.new}"
    config, held, truth = prepare(folder, args.contacts, args.new, args.keep)
    drop = folder / held.name
    drop.unlink(missing_ok=True)
    shutil.rmtree(folder / ".crmpipe", ignore_errors=True)
    console.print(f"load average at start: {os.getloadavg()}")

    first = child_run(config)
    base = folder / ".crmpipe-base"
    if args.repeat > 1:  # the warehouse as the first run left it, for each repeat of the drop
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(folder / ".crmpipe", base)
    runs = []
    for i in range(max(args.repeat, 1)):
        if i:
            shutil.rmtree(folder / ".crmpipe")
            shutil.copytree(base, folder / ".crmpipe")
        shutil.copy2(held, drop)
        os.utime(drop)  # the newest file
        os.sync()  # the restored copy written out before the run, not while it is measured
        runs.append(child_run(config))
        console.print(
            f"drop run {i + 1}: whole {runs[-1]['wall']:.2f} s, resolve "
            f"{sum(s[2] for s in runs[-1]['steps'] if s[0] == 'resolve'):.2f} s, "
            f"load {os.getloadavg()[0]:.2f}"
        )
    shutil.rmtree(base, ignore_errors=True)
    # the median run by wall time (the last run's warehouse is the one evaluated below: every
    # run starts from the same copy, so each leaves the same clusters)
    second = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    inc, inc_groups, mode, changed, phases = figures(config, truth)

    def full_resolution(how: str) -> tuple[dict, float, Evaluation, int]:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _FULL, str(config), how],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        wall = time.perf_counter() - t0
        ev, groups, _, _, _ = figures(config, truth)
        apart = {frozenset(g) for g in inc_groups.values()} ^ {
            frozenset(g) for g in groups.values()
        }
        return res, wall, ev, len(apart)

    kept_res, kept_wall, kept, differ_kept = full_resolution("keep")  # the incremental's model
    full_res, full_wall, full, differ = full_resolution("train")

    def step(res: dict, name: str) -> float:
        return sum(s[2] for s in res["steps"] if s[0] == name)

    t = Table(title=f"{args.contacts:,} contacts, then a new drop of {args.new:,}")
    columns = ("first run (full)", "new drop (incremental)", "--full --keep-model", "--full")
    for col in ("measure", *columns):
        t.add_column(col, justify="left" if col == "measure" else "right")
    t.add_row(
        "whole run, wall s",
        f"{first['wall']:.1f}",
        f"{second['wall']:.1f}",
        f"{kept_wall:.1f}",
        f"{full_wall:.1f}",
    )
    t.add_row(
        "resolve step, s",
        f"{step(first, 'resolve'):.1f}",
        f"{step(second, 'resolve'):.1f}",
        f"{kept_res['seconds']:.1f}",
        f"{full_res['seconds']:.1f}",
    )
    t.add_row(
        "peak RSS, GB",
        *(f"{r['rss_kb'] / 1024**2:.2f}" for r in (first, second, kept_res, full_res)),
    )
    t.add_row("resolution", "full", mode, kept_res["mode"], full_res["mode"])
    t.add_row("new or changed records scored", "", f"{changed:,}", "", "")
    for label, attr in (("precision", "precision"), ("recall", "recall"), ("F1", "f1")):
        t.add_row(
            f"pairwise {label}",
            "",
            *(f"{getattr(e, attr):.4f}" for e in (inc, kept, full)),
        )
    t.add_row(
        "golden records differing from the incremental run's",
        "",
        "",
        f"{differ_kept:,}",
        f"{differ:,}",
    )
    console.print(t)
    steps = Table(title="the new drop's run, per step")
    for col in ("step", "target", "seconds", "rows", "detail"):
        steps.add_column(col, justify="right" if col in ("seconds", "rows") else "left")
    for name, target, secs, rows, detail in second["steps"]:
        steps.add_row(name, target, f"{secs:.2f}", f"{rows:,}", detail)
    console.print(steps)
    console.print(
        "incremental resolve phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items())
    )
    console.print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
