"""Benchmark: publishing one new drop to PostgreSQL in place, against a full versioned publish
of the same warehouse (the plain baseline, in the same run).

1. The case of benchmarks/incremental.py (N contacts, a held-back drop of --new contacts),
   built without the drop (or kept in `base/` with --keep), and published in full from there:
   the version serving before the drop.
2. The drop is run (`crmpipe run`, incremental) on a copy of that warehouse.
3. --repeat times: a publish of the warehouse with the drop, which goes in place (timed), then
   a publish of the warehouse without it (in place too, the drop's rows taken out again: timed
   as "back"), so the next round starts from the same published rows. The record of what was
   published (`warehouse.published.duckdb`) is handed from one warehouse folder to the other.
   Each publish runs in a child process (its own peak RSS).
4. Once: a full publish of the warehouse with the drop (`--full`): the baseline. With --check,
   the published state after the last in-place publish and after the full one are compared
   table by table (row count and an order-independent checksum of every row).

Prints each publish's wall time, peak RSS, mode and rows sent, the medians, and the load
average. The server: CRMPIPE_PG_DSN when set, else a throwaway cluster with
benchmarks/postgres.py's durable settings.

Usage: uv run python benchmarks/publish_incremental.py [--contacts N] [--new N] [--repeat N]
       [--dir DIR] [--keep] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from crmpipe.publish.pgserver import start_cluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
from childrun import child_run  # noqa: E402
from incremental import prepare  # noqa: E402
from postgres import BENCH_SETTINGS, server  # noqa: E402

console = Console(width=None if os.isatty(1) else 140)
ROOT = Path(__file__).resolve().parents[1]
DB = "crmpipe_pubinc"

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from crmpipe.config.load import load_config
from crmpipe.publish import publish_build
t0 = time.perf_counter()
r = publish_build(load_config(Path(sys.argv[1])), sys.argv[2], full=sys.argv[3] == "full")
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "rss_kb": u.ru_maxrss, "mode": r.mode,
  "notes": r.notes, "changed": r.changed, "steps": r.steps, "version": r.version}))
"""


def publish_child(config: Path, dsn: str, full: bool) -> dict:
    """One publish in a child process: wall, peak RSS, mode, rows sent, notes."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(config), dsn, "full" if full else "auto"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"publish failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _db_dsn(dsn: str, name: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = name
    return make_conninfo(**params)


def _admin(dsn: str, *sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in sql:
            conn.execute(s)


def checksums(dsn: str) -> dict[str, tuple[int, str]]:
    """Per table of the serving schema: rows and an order-independent checksum of them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'crmpipe' AND c.relkind IN ('r', 'm') ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            n, s = conn.execute(
                f"SELECT count(*), sum(hashtextextended(t::text, 0)::numeric) "
                f'FROM crmpipe."{name}" t'
            ).fetchone()
            out[name] = (int(n), str(s))
        return out


def _show(label: str, got: dict, load: float) -> None:
    console.print(
        f"{label}: {got['wall']:.2f} s, {got['rss_kb'] / 1024**2:.2f} GB, {got['mode']}, "
        f"load {load:.2f}; {got['notes'][0] if got['notes'] else ''}"
    )
    for name, seconds in got["steps"]:
        console.print(f"    {name}: {seconds:.2f} s")


def _hand_over(source: Path, target: Path) -> None:
    """The record of what was published, from one warehouse folder to the other."""
    shutil.copy2(source / "warehouse.published.duckdb", target / "warehouse.published.duckdb")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=50_000, help="contacts in the new drop")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data" / "incremental")
    ap.add_argument("--keep", action="store_true", help="reuse the case and its base/ warehouse")
    ap.add_argument("--repeat", type=int, default=3, help="in-place publishes (median shown)")
    ap.add_argument("--check", action="store_true", help="compare with the full publish")
    ap.add_argument(
        "--no-full",
        action="store_true",
        help="skip the full publish after the drop (it needs room for a second version; the "
        "full publish before the drop is the baseline then)",
    )
    ap.add_argument("--max-wal", default="8GB", help="the cluster's max_wal_size (disk room)")
    args = ap.parse_args()
    folder = args.dir / f"c{args.contacts}-n{args.new}"
    config, held, _ = prepare(folder, args.contacts, args.new, args.keep)
    state, base = folder / ".crmpipe", folder / "base"
    drop = folder / held.name
    drop.unlink(missing_ok=True)
    console.print(f"load average at start: {os.getloadavg()}")
    if not (args.keep and (base / "warehouse.duckdb").exists()):
        shutil.rmtree(state, ignore_errors=True)
        r = child_run(config)
        console.print(f"case run without the drop: {r['wall']:.1f} s")
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(state, base)
    (base / "warehouse.published.duckdb").unlink(missing_ok=True)
    text = config.read_text()
    assert ".crmpipe/warehouse.duckdb" in text, "the case's warehouse is .crmpipe/warehouse.duckdb"
    before = folder / "base.yml"
    before.write_text(text.replace(".crmpipe/warehouse.duckdb", "base/warehouse.duckdb"))
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(base, state)
    shutil.copy2(held, drop)
    os.utime(drop)
    r = child_run(config)
    console.print(f"the drop's run: {r['wall']:.1f} s")
    if os.environ.get("CRMPIPE_PG_DSN", "").strip():
        admin, cluster = server(False)
    else:
        cluster = start_cluster({**BENCH_SETTINGS, "max_wal_size": args.max_wal})
        admin = cluster.dsn("postgres")
    try:
        _admin(admin, f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}")
        dsn = _db_dsn(admin, DB)
        first_load = os.getloadavg()[0]
        first = publish_child(before, dsn, full=False)
        console.print(f"full publish before the drop: {first['wall']:.1f} s ({first['mode']})")
        rows, backs = [], []
        for i in range(args.repeat):
            _hand_over(base, state)
            load = os.getloadavg()[0]
            got = publish_child(config, dsn, full=False)
            rows.append({**got, "load": load})
            _show(f"in place {i + 1}", got, load)
            if i == args.repeat - 1:
                break
            _hand_over(state, base)
            load = os.getloadavg()[0]
            back = publish_child(before, dsn, full=False)
            backs.append({**back, "load": load})
            _show(f"back {i + 1}", back, load)
        inc_sums = checksums(dsn) if args.check and not args.no_full else None
        load = os.getloadavg()[0]
        if args.no_full:
            full, load = first, first_load
        else:
            full = publish_child(config, dsn, full=True)
            _show("full", full, load)
        table = Table(title=f"publish after one {args.new:,}-contact drop, {args.contacts:,}")
        for col in ("publish", "wall s", "peak RSS GB", "mode", "load"):
            table.add_column(col)
        for label, runs in (("in place", rows), ("back (the drop taken out)", backs)):
            if runs:
                table.add_row(
                    f"{label} (median of {len(runs)})",
                    f"{statistics.median(x['wall'] for x in runs):.2f}",
                    f"{statistics.median(x['rss_kb'] for x in runs) / 1024**2:.2f}",
                    ", ".join(sorted({x["mode"] for x in runs})),
                    f"{statistics.median(x['load'] for x in runs):.2f}",
                )
        table.add_row(
            "full versioned rebuild (baseline)" + (", before the drop" if args.no_full else ""),
            f"{full['wall']:.2f}",
            f"{full['rss_kb'] / 1024**2:.2f}",
            full["mode"],
            f"{load:.2f}",
        )
        console.print(table)
        med = statistics.median(x["wall"] for x in rows)
        console.print(f"ratio full / in place: {full['wall'] / med:.1f}x")
        if inc_sums is not None:
            full_sums = checksums(dsn)
            console.print(f"in place equals full: {inc_sums == full_sums}")
            for name in sorted(set(inc_sums) | set(full_sums)):
                if inc_sums.get(name) != full_sums.get(name):
                    console.print(f"  differs: {name} {inc_sums.get(name)} {full_sums.get(name)}")
        console.print(f"load average at end: {os.getloadavg()}")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
