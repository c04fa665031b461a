"""Benchmark: `crmpipe report` on a warehouse with a long run history.

Builds a generated public-sector case (default 50k contacts), runs the pipeline once, then
writes a history of synthetic runs into meta (default 200 runs, each with step timings, table
counts, ~60 check results, SLAs, quality scores for every table and dimension, column profiles
and an alert), the volume a year of daily runs leaves behind. Then it times, in the same
process and on the same warehouse:

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

from crmpipe.config import load_config
from crmpipe.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.report import collect, render_html, render_json
from crmpipe.warehouse import connect

console = Console()
DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "timeliness", "overall")


def synthesize_history(path: Path, runs: int) -> None:
    """Add `runs` - 1 runs after run 1, shaped like real ones, with set-based SQL."""
    con = connect(path)
    try:
        con.execute(
            "INSERT INTO meta.runs SELECT r.run_id, started_at + INTERVAL (r.run_id) DAY, "
            "finished_at + INTERVAL (r.run_id) DAY, CASE WHEN r.run_id % 17 = 0 THEN 'failed' "
            "ELSE 'success' END, config_path, files_loaded, files_skipped, rows_read, "
            "rows_loaded, rows_rejected, rows_quarantined, rows_merged, message, "
            "r.run_id % 3, r.run_id % 5 FROM meta.runs, range(2, ? + 1) r(run_id) "
            "WHERE meta.runs.run_id = 1",
            [runs],
        )
        for table in ("run_steps", "table_counts"):
            cols = [c for c, *_ in con.execute(f"DESCRIBE meta.{table}").fetchall()]
            rest = ", ".join(c for c in cols if c != "run_id")
            con.execute(
                f"INSERT INTO meta.{table} SELECT r.run_id, {rest} FROM meta.{table} t, "
                "range(2, ? + 1) r(run_id) WHERE t.run_id = 1",
                [runs],
            )
        profiles = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'core' AND column_name NOT LIKE '\\_%' ESCAPE '\\'"
        ).fetchall()
        tables = sorted({t for t, _ in profiles})
        con.execute(
            "CREATE TEMP TABLE cols AS SELECT * FROM (VALUES "
            + ", ".join("(?, ?)" for _ in profiles)
            + ") v(table_name, column_name)",
            [v for p in profiles for v in p],
        )
        con.execute(
            "INSERT INTO meta.column_profiles SELECT r, table_name, column_name, 100000, "
            "(hash(r, column_name) % 100000)::BIGINT FROM cols, range(1, ? + 1) t(r)",
            [runs],
        )
        con.execute(
            "INSERT INTO meta.check_results SELECT r, table_name, column_name, "
            "column_name || '_not_null', 'not_null', CASE WHEN hash(column_name) % 2 = 0 "
            "THEN 'error' ELSE 'warn' END, CASE WHEN hash(r, column_name) % 10 = 0 THEN 'fail' "
            "ELSE 'pass' END, hash(r, column_name) % 50, 100000, 1.0, 0.0, 'measured', "
            "'default', 0.01 FROM cols, range(1, ? + 1) t(r)",
            [runs],
        )
        con.execute(
            "INSERT INTO meta.quality_scores SELECT r, t.table_name, d.dim, "
            "70 + (hash(r, t.table_name, d.dim) % 300) / 10.0 FROM (SELECT DISTINCT table_name "
            "FROM cols) t, (VALUES " + ", ".join(f"('{d}')" for d in DIMENSIONS) + ") d(dim), "
            "range(1, ? + 1) x(r)",
            [runs],
        )
        for name, col, metric, target, cmp, unit in [
            ("email completeness", "emails", "completeness", 95, ">=", "%"),
            ("phone completeness", "phone", "completeness", 95, ">=", "%"),
            ("email validity", "emails", "validity", 100, ">=", "%"),
            ("freshness", "created_at", "max_age", 30, "<=", "days"),
            ("duplicate rate", "contact_id", "duplicates", 1, "<", "%"),
        ]:
            con.execute(
                "INSERT INTO meta.sla_results SELECT r, ?, 'contacts', ?, ?, "
                "? + (hash(r, ?) % 10) - 5, ?, ?, ?, CASE WHEN hash(r, ?) % 4 = 0 THEN 'fail' "
                "ELSE 'pass' END, 'measured' FROM range(1, ? + 1) t(r)",
                [name, col, metric, target, name, target, cmp, unit, name, runs],
            )
        con.execute(
            "INSERT INTO meta.alerts SELECT r, now()::TIMESTAMP, 'http://127.0.0.1:9/hook', "
            "'check_failed', 'sent', 1, 'checks failed' FROM range(1, ? + 1) t(r) "
            "WHERE r % 3 = 0",
            [runs],
        )
        con.execute("CHECKPOINT")
        counts = {
            t: con.execute(f"SELECT count(*) FROM meta.{t}").fetchone()[0]
            for t in ("runs", "run_steps", "check_results", "quality_scores", "column_profiles")
        }
        console.print(f"history: {counts}  tables: {', '.join(tables)}", highlight=False)
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
        content = collect(con, None, history)
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
