"""Benchmark: the childcare-leads case at scale, files → marts.leads, with facility F1.

1. generates the case (default 1M facility rows from 3 lists with 30% overlap, plus 100k CRM
   leads) with crmpipe.demo.datasets.childcare_case, or reuses it with `--keep`;
2. runs the pipeline `--repeat` times, each in a child process on a fresh warehouse (its peak
   RSS is its own): per-step seconds (median over the runs), whole-run wall and rows/s;
3. facility pairwise precision / recall / F1 against the generator's `truth.csv`, with
   crmpipe.resolution.evaluate (what `crmpipe resolve --evaluate` uses);
4. a plain baseline in the same run: records with the same cleaned E.164 phone are the same
   facility, scored against the same truth (in DuckDB, on the same records).

Prints the load average at the start and end: the machines are 2 cores and shared.

Usage: flock /tmp/crmpipe-bench.lock uv run python benchmarks/leads.py [--facilities N]
       [--leads N] [--repeat K] [--keep] [--dir D]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from childrun import child_run
from crmpipe.config.load import load_config
from crmpipe.demo.datasets.childcare_case import generate
from crmpipe.model import ENTITIES
from crmpipe.resolution.evaluate import Evaluation, evaluate_truth, pairwise_metrics
from crmpipe.warehouse.connection import connect

console = Console(width=120)
ROOT = Path(__file__).resolve().parents[1]

#: The baseline: one facility per cleaned E.164 phone (records without a phone stay alone).
BASELINE_SQL = """
SELECT s.record_id, any_value(coalesce(r.phone, 'rec:' || s.record_id)) AS pred,
       any_value(t.facility_id) AS truth
FROM core.entity_sources s
JOIN resolved.entity_records r ON r.entity_id = s.record_id
JOIN _base_truth t ON t.source = s.source AND t.row = s.row
 AND t.file = regexp_replace(s.file, '^.*[/\\\\]', '')
GROUP BY s.record_id
"""


def baseline(con: Any, truth: Path) -> tuple[Evaluation, float]:
    """The exact-phone baseline's figures and its seconds."""
    t0 = time.perf_counter()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _base_truth AS SELECT source, CAST(row AS BIGINT) AS row, "
        "source || '.csv' AS file, facility_id FROM read_csv(?, header = true, "
        "all_varchar = true) WHERE lower(coalesce(malformed, '')) NOT IN ('1', 'true')",
        [str(truth)],
    )
    ev = pairwise_metrics(con, BASELINE_SQL, "entities (exact phone)")
    return ev, time.perf_counter() - t0


def evaluate(config: Path, truth: Path) -> tuple[Evaluation, Evaluation, float, dict[str, int]]:
    """crmpipe's figures, the baseline's, the baseline's seconds and the leads mart's counts."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path)
    try:
        ours = evaluate_truth(con, ENTITIES, truth)
        base, base_s = baseline(con, truth)
        leads, new = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_new_lead) FROM marts.leads"
        ).fetchone()
        return ours, base, base_s, {"leads": int(leads), "new_leads": int(new)}
    finally:
        con.close()


def case(args: argparse.Namespace) -> tuple[Path, Path, float]:
    """The case's config and truth (generated unless kept), and the generation's seconds."""
    folder = args.dir / f"f{args.facilities}-l{args.leads}"
    config = folder / "crmpipe.yml"
    gen_s = 0.0
    if not (args.keep and config.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        generate(folder, facilities=args.facilities, leads=args.leads, shared=False)
        gen_s = time.perf_counter() - t0
    return config, folder / "data" / "truth.csv", gen_s


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_steps(runs: list[dict[str, Any]]) -> None:
    """Per-step seconds, the median over the runs (steps keyed by step and target)."""
    t = Table(title=f"run steps (median of {len(runs)} run(s))")
    for col in ("step", "target", "rows", "seconds", "rows/s"):
        t.add_column(col, justify="left" if col in ("step", "target") else "right")
    for i, (step, target, _, rows, _) in enumerate(runs[0]["steps"]):
        secs = _med([r["steps"][i][2] for r in runs if len(r["steps"]) > i])
        rate = f"{rows / secs:,.0f}" if secs > 0 and rows else ""
        t.add_row(step, target, f"{rows:,}", f"{secs:.2f}", rate)
    console.print(t)


def print_summary(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    figures: tuple[Evaluation, Evaluation, float, dict[str, int]],
    loads: tuple[float, float],
) -> None:
    ours, base, base_s, marts = figures
    walls = [r["wall"] for r in runs]
    wall = _med(walls)
    rss = max(r["rss_kb"] for r in runs) / 1024**2
    read = runs[0]["read"]
    t = Table(
        title=f"childcare leads, {args.facilities:,} facility rows + {args.leads:,} CRM leads "
        f"({os.cpu_count()} cores, load {loads[0]:.2f} at start, {loads[1]:.2f} at end)"
    )
    for col in ("measure", "crmpipe", "baseline (exact phone)", "target"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    t.add_row(
        f"files → leads, wall s (median of {len(runs)})",
        f"{wall:.1f}",
        f"{base_s:.1f} (grouping only)",
        "≤ 60",
    )
    t.add_row("wall s, each run", ", ".join(f"{w:.1f}" for w in walls), "", "")
    t.add_row("rows read / s", f"{read / wall:,.0f}", "", "")
    t.add_row("CPU s (median)", f"{_med([r['cpu'] for r in runs]):.1f}", "", "")
    t.add_row("peak RSS of a run, GB (max)", f"{rss:.2f}", "", "≤ 6")
    t.add_row("facility records scored", f"{ours.records:,}", f"{base.records:,}", "")
    t.add_row("true pairs", f"{ours.true_pairs:,}", f"{base.true_pairs:,}", "")
    t.add_row("predicted pairs", f"{ours.predicted_pairs:,}", f"{base.predicted_pairs:,}", "")
    t.add_row("pairwise precision", f"{ours.precision:.4f}", f"{base.precision:.4f}", "")
    t.add_row("pairwise recall", f"{ours.recall:.4f}", f"{base.recall:.4f}", "")
    t.add_row("[b]pairwise F1", f"[b]{ours.f1:.4f}", f"[b]{base.f1:.4f}", "≥ 0.95")
    t.add_row("truth rows matching no record", f"{ours.unmatched_truth_rows:,}", "", "")
    t.add_row("marts.leads rows / new leads", f"{marts['leads']:,} / {marts['new_leads']:,}", "",
              "")  # fmt: skip
    t.add_row("reconciliation balanced", "yes" if all(r["balanced"] for r in runs) else "NO", "",
              "")  # fmt: skip
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--facilities", type=int, default=1_000_000, help="facility rows, 3 lists")
    ap.add_argument("--leads", type=int, default=100_000, help="CRM lead rows")
    ap.add_argument("--repeat", type=int, default=3, help="fresh-warehouse runs")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data" / "leads")
    ap.add_argument("--keep", action="store_true", help="reuse generated files if present")
    args = ap.parse_args(argv)

    config, truth, gen_s = case(args)
    made = f"generated in {gen_s:.1f} s" if gen_s else "kept"
    console.print(f"case: {config.parent} ({made})")
    load0 = os.getloadavg()[0]
    runs = []
    for i in range(args.repeat):
        shutil.rmtree(config.parent / ".crmpipe", ignore_errors=True)
        res = child_run(config)
        console.print(f"run {i + 1}: {res['wall']:.1f} s, peak RSS {res['rss_kb'] / 1024:,.0f} MB")
        runs.append(res)
    load1 = os.getloadavg()[0]
    print_steps(runs)
    print_summary(args, runs, evaluate(config, truth), (load0, load1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
