"""Benchmark: the mover-CRM case, files → unified customers and job marts.

1. generates the case (default 1M customer records and 3M jobs across 20 branches), timed;
2. `crmpipe run` in a child process (its peak RSS is its own): wall, rows/s, step timings;
3. customer pairwise precision, recall and F1 against `truth_customers.csv`, and duplicate-job
   precision and recall against `truth_jobs.csv`;
4. a plain baseline in the same run: records with the same lower-cased, trimmed email are one
   customer; jobs with the same branch customer, move date and origin/destination text are one
   move — scored the same way.

Targets (issue 12): ≤ 90 s wall on 2 cores, ≤ 6 GB peak RSS, F1 ≥ 0.97, duplicate-job P/R ≥ 0.98.

Usage: uv run python benchmarks/movers.py [--customers N] [--branches B] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.movers import generate
from crmpipe.marts.movers_summary import movers_summary
from crmpipe.resolution.run import evaluate

_CHILD = """
import json, resource, sys, time
from crmpipe.config.load import load_config
from crmpipe.pipeline import run
t = time.perf_counter()
s = run(load_config(sys.argv[1]), force=True)
print(json.dumps({"wall": time.perf_counter() - t,
  "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024,
  "steps": [[x.step, x.target, x.seconds] for x in s.steps]}))
"""


def _baseline(data: Path) -> dict[str, float]:
    """Exact email for customers, exact text for jobs, scored against the truths."""
    con = duckdb.connect()
    d = str(data)
    con.execute(
        "CREATE TABLE c AS SELECT regexp_extract(filename, 'customers_(.+)\\.csv', 1) || ':' || "
        "\"Customer ID\" AS id, CASE WHEN contains(Email, '@') THEN lower(trim(Email)) END AS e "
        "FROM read_csv("
        f"'{d}/customers_*.csv', all_varchar=true, filename=true, ignore_errors=true)"
    )
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{d}/truth_customers.csv')")

    def pairs(sql: str) -> str:
        return f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM ({sql}) s GROUP BY s)"

    pred = con.execute(pairs("SELECT e FROM c WHERE e IS NOT NULL")).fetchone()[0] or 0
    true = con.execute(pairs("SELECT true_customer_id FROM t")).fetchone()[0]
    both = con.execute(pairs(
        "SELECT e, true_customer_id FROM c JOIN t ON t.customer_id = c.id WHERE e IS NOT NULL"
    )).fetchone()[0] or 0  # fmt: skip
    p, r = both / pred if pred else 1.0, both / true
    con.execute(
        "CREATE TABLE j AS SELECT regexp_extract(filename, 'jobs_(.+)\\.csv', 1) AS b, "
        '"Job ID" AS job, "Customer ID" AS c, "Move Date" AS m, "Origin Address" AS o, '
        f"\"Destination Address\" AS dd FROM read_csv('{d}/jobs_*.csv', all_varchar=true, "
        "filename=true, ignore_errors=true)"
    )
    con.execute(f"CREATE TABLE tj AS SELECT * FROM read_csv('{d}/truth_jobs.csv')")
    jp = con.execute(pairs("SELECT b, c, m, o, dd FROM j")).fetchone()[0] or 0
    jt = con.execute(pairs("SELECT group_id FROM tj")).fetchone()[0]
    jb = con.execute(pairs(
        "SELECT b, c, m, o, dd, group_id FROM j JOIN tj ON tj.job_id = b || ':' || job"
    )).fetchone()[0] or 0  # fmt: skip
    con.close()
    return {
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "jp": jb / jp if jp else 1.0,
        "jr": jb / jt if jt else 1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--branches", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/crmpipe-bench-movers"))
    args = ap.parse_args()
    out = Console()
    t0 = time.perf_counter()
    case = generate(args.dir, customers=args.customers, branches=args.branches)
    gen = time.perf_counter() - t0
    cfg = load_config(case.config_path)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(case.config_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    (ev,) = evaluate(cfg, case.folder / "data" / "truth_customers.csv")
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    summary = movers_summary(con, case.folder / "data" / "truth_jobs.csv")
    con.close()
    base = _baseline(case.folder / "data")
    rows = case.counts["customers"] + case.counts["jobs"]
    load = os.getloadavg()
    t = Table(title=f"movers: {args.customers:,} customers, {case.counts['jobs']:,} jobs, "
                    f"{args.branches} branches (one run)")  # fmt: skip
    for col in ("measure", "crmpipe", "baseline (exact email / exact text)", "target"):
        t.add_column(col)
    t.add_row("generate (s)", f"{gen:.1f}", "", "")
    t.add_row("pipeline wall (s)", f"{child['wall']:.1f}", "", "≤ 90")
    t.add_row("rows/s", f"{rows / child['wall']:,.0f}", "", "")
    t.add_row("peak RSS (GB)", f"{child['rss_gb']:.2f}", "", "≤ 6")
    t.add_row("customer pairwise F1", f"{ev.f1:.4f}", f"{base['f1']:.4f}", "≥ 0.97")
    t.add_row("dup-job precision", f"{summary.precision:.4f}", f"{base['jp']:.4f}", "≥ 0.98")
    t.add_row("dup-job recall", f"{summary.recall:.4f}", f"{base['jr']:.4f}", "≥ 0.98")
    t.add_row("load average", " ".join(f"{x:.2f}" for x in load), "", "")
    out.print(t)
    steps = Table(title="slowest steps")
    for col in ("step", "target", "seconds"):
        steps.add_column(col)
    for step, target, secs in sorted(child["steps"], key=lambda s: -s[2])[:6]:
        steps.add_row(step, target, f"{secs:.1f}")
    out.print(steps)


if __name__ == "__main__":
    main()
