"""Benchmark: `crmpipe report` on a warehouse with a long run history.

Builds a generated public-sector case (default 50k contacts), runs the pipeline once (with its
checks, SLAs, scores and profiles), then copies that run's rows in every per-run meta table into
a history of synthetic runs (default 200 runs: the volume most of a year of daily runs leaves).
Then it times, in the same process and on the same warehouse:

  1. the report of the newest run as HTML and as JSON (history 10 and the whole history), and
     without column profiles (null rates then measured on the core tables);
  2. a plain baseline: `SELECT *` of every meta table into Python and `json.dumps` of it — the
     least any report has to do to read the same tables.

Prints wall time (best of --repeat) and output size. Run it under the shared lock so it does
not overlap other benchmarks:

  flock /tmp/crmpipe-bench.lock uv run python benchmarks/report.py [--contacts N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.report.content import render_json, report_content
from crmpipe.report.html import render_html
from crmpipe.warehouse.connection import connect

console = Console()


#: Meta tables with one set of rows per run, copied from run 1 into every synthetic run.
PER_RUN = (
    "run_steps",
    "table_counts",
    "check_results",
    "sla_results",
    "quality_scores",
    "column_profiles",
    "alerts",
    "schema_changes",
)


def synthesize_history(path: Path, runs: int) -> None:
    """Add runs 2..`runs` after the real run 1: copies of its rows in every per-run meta table
    (what the pipeline and the checks engine wrote), with quality scores that move a little."""
    con = connect(path)
    try:
        con.execute(
            "INSERT INTO meta.runs BY NAME SELECT t.* EXCLUDE (run_id, started_at, finished_at), "
            "x.r AS run_id, t.started_at + to_days(x.r::INTEGER) AS started_at, "
            "t.finished_at + to_days(x.r::INTEGER) AS finished_at "
            "FROM meta.runs t, range(2, ? + 1) x(r) WHERE t.run_id = 1",
            [runs],
        )
        for table in PER_RUN:
            con.execute(
                f"INSERT INTO meta.{table} BY NAME SELECT t.* EXCLUDE (run_id), x.r AS run_id "
                f"FROM meta.{table} t, range(2, ? + 1) x(r) WHERE t.run_id = 1",
                [runs],
            )
        con.execute(
            "UPDATE meta.quality_scores SET score = greatest(0, score - "
            "(hash(run_id, table_name, dimension) % 100) / 10.0) WHERE run_id > 1"
        )
        con.execute("CHECKPOINT")
        counts = {
            t: con.execute(f"SELECT count(*) FROM meta.{t}").fetchone()[0]
            for t in ("runs", *PER_RUN)
        }
        console.print(f"history: {counts}", highlight=False)
    finally:
        con.close()


def baseline(path: Path) -> str:
    """Every meta table, whole, into Python and out as JSON."""
    con = connect(path, read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'meta'"
            ).fetchall()
        ]
        dump = {}
        for name in names:
            cur = con.execute(f"SELECT * FROM meta.{name}")
            cols = [d[0] for d in cur.description]
            dump[name] = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        return json.dumps(dump, default=str)
    finally:
        con.close()


def crmpipe_report(path: Path, history: int, as_json: bool) -> str:
    con = connect(path, read_only=True)
    try:
        content = report_content(con, None, history)
    finally:
        con.close()
    return render_json(content) if as_json else render_html(content)


def best(fn: Callable[[], str], repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = len(fn().encode())
        times.append(time.perf_counter() - t0)
    return min(times), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warehouse", type=Path, help="report on this warehouse instead (as is)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crmpipe-report-bench-"))
    try:
        if args.warehouse:
            path = tmp / "warehouse.duckdb"
            shutil.copy(args.warehouse, path)
        else:
            t0 = time.perf_counter()
            case = pursuit.generate(tmp / "case", contacts=args.contacts, seed=1)
            cfg = load_config(case.config_path)
            run(cfg)
            path = cfg.warehouse_path
            console.print(
                f"case of {args.contacts:,} contacts built in {time.perf_counter() - t0:.1f}s"
            )
            synthesize_history(path, args.runs)
        console.print(f"warehouse {path.stat().st_size / 1e6:.1f} MB")
        t = Table(title=f"report of the newest run (best of {args.repeat})")
        for c in ("what", "seconds", "output"):
            t.add_column(c, justify="left" if c == "what" else "right")
        cases: list[tuple[str, Callable[[], str]]] = [
            ("crmpipe report, HTML, history 10", lambda: crmpipe_report(path, 10, False)),
            ("crmpipe report, JSON, history 10", lambda: crmpipe_report(path, 10, True)),
            (
                f"crmpipe report, HTML, history {args.runs}",
                lambda: crmpipe_report(path, args.runs, False),
            ),
            ("baseline: SELECT * FROM meta.* → JSON", lambda: baseline(path)),
        ]
        if not args.warehouse:  # without profiles the report measures null rates on core
            bare = tmp / "no-profiles.duckdb"
            shutil.copy(path, bare)
            con = connect(bare)
            con.execute("DELETE FROM meta.column_profiles")
            con.close()
            cases.insert(
                3,
                (
                    "crmpipe report, HTML, null rates measured on core",
                    lambda: crmpipe_report(bare, 10, False),
                ),
            )
        for label, fn in cases:
            seconds, size = best(fn, args.repeat)
            t.add_row(label, f"{seconds:.3f}", f"{size / 1024:,.0f} KB")
        console.print(t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
