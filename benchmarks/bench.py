"""`make bench`: every benchmark at one scale, one after another, each run's figures appended to
`benchmarks/results/<name>.json` (benchmarks/results.py), then the latest table of each written
into docs/benchmarks.md with the change since the previous entry.

Scales:
  small  about 100k rows each: minutes in all, for a change's before → after on a laptop
  full   the issues' target sizes (4.5M contacts, 1M facilities, 1M customers…): an hour or more

Runs hold /tmp/crmpipe-bench.lock (as the scripts' usage lines ask of a shell), so they never
overlap another benchmark on the machine. Figures from a noisy machine are still recorded, with
the load average beside them.

Usage:
  uv run python benchmarks/bench.py [--scale small|full] [--only NAME ...] [--list]
  make bench SCALE=full
"""

from __future__ import annotations

import argparse
import fcntl
import subprocess
import sys
import time
from pathlib import Path

from results import DOC, RESULTS, render

HERE = Path(__file__).resolve().parent
LOCK = Path("/tmp/crmpipe-bench.lock")

# name → (script, arguments at each scale). Each runs in its own process, so one benchmark's
# memory never counts in the next one's peak RSS.
SCALES: dict[str, dict[str, tuple[str, list[str]]]] = {
    "small": {
        "pipeline": ("pipeline.py", ["--contacts", "100000", "--repeat", "10", "--keep"]),
        "postgres": ("postgres.py", ["--contacts", "100000", "--repeat", "10", "--keep"]),
        "checks": ("checks.py", ["--contacts", "100000", "--keep"]),
        "resolve": ("resolve.py", ["--contacts", "100000", "--keep", "--febrl"]),
        "incremental": ("incremental.py", ["--contacts", "100000", "--new", "5000", "--keep"]),
        "publish_incremental": (
            "publish_incremental.py",
            ["--contacts", "100000", "--new", "5000", "--repeat", "3", "--keep", "--check"],
        ),
        "leads": ("leads.py", ["--facilities", "100000", "--leads", "10000", "--repeat", "1"]),
        "movers": ("movers.py", ["--customers", "100000", "--branches", "20"]),
        "crm_merge": ("crm_merge.py", ["--contacts", "100000"]),
        "serve": ("serve.py", ["--contacts", "100000", "--seconds", "15"]),
        "sync": ("sync.py", ["--records", "20000", "--repeat", "1"]),
        "audit": ("audit.py", ["--contacts", "100000"]),
        "report": ("report.py", ["--contacts", "20000", "--runs", "50"]),
    },
    "full": {
        "pipeline": ("pipeline.py", ["--contacts", "4500000", "--repeat", "10", "--keep"]),
        "postgres": ("postgres.py", ["--contacts", "4500000", "--repeat", "20", "--keep"]),
        "checks": ("checks.py", ["--contacts", "4500000", "--keep"]),
        "resolve": ("resolve.py", ["--contacts", "1000000", "--keep", "--febrl", "--aliases"]),
        "incremental": ("incremental.py", ["--contacts", "4500000", "--new", "50000", "--keep"]),
        "publish_incremental": (
            "publish_incremental.py",
            ["--contacts", "4500000", "--new", "50000", "--repeat", "3", "--keep", "--no-full"],
        ),
        "leads": ("leads.py", ["--facilities", "1000000", "--repeat", "3"]),
        "movers": ("movers.py", ["--customers", "1000000", "--branches", "20"]),
        "crm_merge": ("crm_merge.py", ["--contacts", "1000000", "--repeat", "3"]),
        "serve": ("serve.py", ["--contacts", "1000000", "--swap"]),
        "sync": ("sync.py", ["--records", "100000", "--repeat", "3"]),
        "audit": ("audit.py", ["--contacts", "1000000"]),
        "report": ("report.py", []),
    },
}


def bench(scale: str, only: list[str] | None = None, results: Path = RESULTS) -> list[str]:
    """Run the benchmarks of `scale` (or the `only` ones) in turn; returns those that failed."""
    plan = SCALES[scale]
    unknown = sorted(set(only or []) - set(plan))
    if unknown:
        raise SystemExit(f"error: no benchmark {', '.join(unknown)}; known: {', '.join(plan)}")
    failed = []
    for name, (script, args) in plan.items():
        if only and name not in only:
            continue
        print(f"\n=== {name}: {script} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(HERE / "results.py"), "record", "--results", str(results)]
        with LOCK.open("a") as lock:  # one benchmark at a time on this machine
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = subprocess.run([*command, name, str(HERE / script), *args], check=False)
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"=== {name}: {status} in {time.perf_counter() - started:.0f} s", flush=True)
        if done.returncode:
            failed.append(name)
    return failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="small")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    ap.add_argument("--list", action="store_true", help="print what a scale runs and stop")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args()
    if args.list:
        for name, (script, argv) in SCALES[args.scale].items():
            print(f"{name:10} python benchmarks/{script} {' '.join(argv)}")
        return
    failed = bench(args.scale, args.only, args.results)
    render(args.results, args.doc)
    print(f"\nfigures: {args.results}/*.json · latest tables: {args.doc}")
    if failed:
        raise SystemExit(f"error: {len(failed)} benchmark(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
