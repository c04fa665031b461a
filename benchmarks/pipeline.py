"""Benchmark: the public-sector case at scale, files → searchable DuckDB, then search latency.

Prints one table per measurement:
  1. generation of the case (default 4.5M contacts, 150k entities);
  2. `crmpipe run` in a child process (so its peak RSS is its own): wall time, rows/s and the
     per-step timings it records in meta.run_steps;
  3. the three reference queries and EXTRA_QUERIES, top 50 with the capped count and with an
     exact one, p50/p95 over repeated runs;
  4. a plain baseline on a 100k-row slice — pandas reads the CSV and a Python loop cleans each
     row, then rows are inserted one by one — against crmpipe on the same slice
     (checks and resolution off, like the baseline), as a ratio.

Usage: uv run python benchmarks/pipeline.py [--contacts N] [--repeat N] [--keep] [--queries-only]
(`--queries-only`: only step 3, on the warehouse an earlier `--keep` run left.)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console
from rich.table import Table

from childrun import child_run
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.demo.runner import REFERENCE_QUERIES
from crmpipe.search import search
from crmpipe.warehouse.connection import connect

console = Console()
ROOT = Path(__file__).resolve().parents[1]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def bench_generate(folder: Path, contacts: int) -> tuple[float, object]:
    t0 = time.perf_counter()
    case = pursuit.generate(folder, contacts=contacts, seed=0)
    return time.perf_counter() - t0, case


#: Measured besides the reference queries (issue 16): a code on an entity column and a date
#: range, both matching hundreds of thousands of contacts at 4.5M.
EXTRA_QUERIES = ("state:CA", "created>2024-01-01")


def bench_queries(config: Path, repeat: int) -> list[tuple[str, str, float, float, str]]:
    """(query, count, p50 ms, p95 ms, matches) of each query, top 50 with the configured
    count cap and with an exact count."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    rows = []
    for query in (*REFERENCE_QUERIES, *EXTRA_QUERIES):
        for cap in (cfg.search.count_cap, None):
            times, label = [], ""
            for i in range(repeat + 2):
                r = search(
                    con,
                    query,
                    aliases=cfg.search.aliases,
                    shorthands=cfg.search.shorthands,
                    limit=50,
                    count_cap=cap,
                )
                if i >= 2:  # two warm-up runs
                    times.append(r.elapsed_ms)
                label = f"{r.total:,}{'+' if r.capped else ''}"
            p50, p95 = _percentiles(times)
            rows.append((query, "exact" if cap is None else f"capped {cap:,}", p50, p95, label))
    con.close()
    return rows


def print_queries(config: Path, repeat: int) -> None:
    load = os.getloadavg()[0]
    q = Table(title=f"search on DuckDB, top 50 ({repeat} runs each)")
    for col in ("query", "matches", "p50 ms", "p95 ms"):
        q.add_column(col, justify="left" if col == "query" else "right")
    for query, count, p50, p95, label in bench_queries(config, repeat):
        # one label per row (results.py matches rows across entries by their first cell)
        q.add_row(f"{query} ({count})", label, f"{p50:.1f}", f"{p95:.1f}")
    console.print(q)
    console.print(f"load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after")


# --- the plain baseline: what a pandas script does ------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
_NULLS = {"", "n/a", "na", "null", "none", "-", "nan"}


def _baseline_clean_row(row: dict) -> tuple:
    def val(v):
        v = "" if v is None else str(v).strip()
        return None if v.lower() in _NULLS else v

    emails = []
    for e in re.split(r"[,;\s]+", val(row.get("email")) or ""):
        e = e.lower()
        if e and _EMAIL.match(e) and e not in emails:
            emails.append(e)
    digits = re.sub(r"\D", "", (val(row.get("phone")) or "").split("x")[0])
    phone = "+1" + digits[-10:] if len(digits) in (10, 11) else None
    names = [val(row.get(k)) for k in ("first_name", "last_name")]
    names = [n.title() if n and (n.isupper() or n.islower()) else n for n in names]
    return (
        val(row.get("contact_id")),
        val(row.get("place_id")),
        *names,
        ";".join(emails),
        phone,
        val(row.get("title")),
    )


def bench_baseline(csv_path: Path, rows: int, workdir: Path) -> tuple[float, float]:
    """pandas + Python loop + row inserts on `rows` rows vs crmpipe run on the same slice."""
    import duckdb
    import pandas as pd

    slice_dir = workdir / "slice"
    shutil.rmtree(slice_dir, ignore_errors=True)
    slice_dir.mkdir(parents=True)
    with csv_path.open("rb") as src, (slice_dir / "contacts.csv").open("wb") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)

    t0 = time.perf_counter()
    df = pd.read_csv(
        slice_dir / "contacts.csv",
        dtype=str,
        keep_default_na=False,
        on_bad_lines="skip",
        encoding_errors="replace",
    )
    con = duckdb.connect(str(slice_dir / "baseline.duckdb"))
    con.execute(
        "CREATE TABLE contacts (contact_id VARCHAR, entity_id VARCHAR, first_name "
        "VARCHAR, last_name VARCHAR, emails VARCHAR, phone VARCHAR, title VARCHAR)"
    )
    con.execute("BEGIN")
    for row in df.to_dict("records"):
        con.execute("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?)", _baseline_clean_row(row))
    con.execute("COMMIT")
    con.close()
    baseline = time.perf_counter() - t0

    (slice_dir / "crmpipe.yml").write_text(
        "warehouse: crmpipe.duckdb\nsources:\n  contacts:\n    path: contacts.csv\n"
        "    table: contacts\n    columns: {contact_id: contact_id, entity_id: place_id, "
        "first_name: first_name, last_name: last_name, emails: email, phone: phone, "
        "title: title, department: department, created_at: created_at}\n"
        # Like for like: the baseline neither checks nor resolves duplicates.
        "resolve:\n  contacts: {enabled: false}\n"
    )
    t0 = time.perf_counter()
    from crmpipe.pipeline import run_path

    run_path(slice_dir / "crmpipe.yml", checks=False)
    ours = time.perf_counter() - t0
    return baseline, ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=4_500_000)
    ap.add_argument("--repeat", type=int, default=30, help="runs per query for percentiles")
    ap.add_argument("--baseline-rows", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data")
    ap.add_argument("--keep", action="store_true", help="reuse generated files if present")
    ap.add_argument(
        "--queries-only",
        action="store_true",
        help="only time the searches, on the warehouse a --keep run left",
    )
    args = ap.parse_args()

    folder = args.dir / f"pursuit-{args.contacts}"
    if args.queries_only:
        print_queries(folder / "crmpipe.yml", args.repeat)
        return
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    if args.keep and (folder / "crmpipe.yml").exists():
        # reuse the files of an earlier run (generation is not timed then)
        gen_t, case = (
            0.0,
            SimpleNamespace(
                config_path=folder / "crmpipe.yml", files=sorted(folder.glob("*.csv")), counts={}
            ),
        )
    else:
        gen_t, case = bench_generate(folder, args.contacts)
    gen_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(folder / ".crmpipe", ignore_errors=True)

    res = child_run(case.config_path)
    t = Table(
        title=f"files → searchable DuckDB ({args.contacts:,} contacts, {os.cpu_count()} cores)"
    )
    for col in ("step", "target", "rows", "seconds", "rows/s"):
        t.add_column(col, justify="left" if col in ("step", "target") else "right")
    t.add_row(
        "generate",
        "all files",
        f"{sum(case.counts.get(f.name, 0) for f in case.files):,}",
        f"{gen_t:.1f}",
        f"(peak RSS {gen_rss:,.0f} MB)",
    )
    for step, target, secs, nrows, _ in res["steps"]:
        t.add_row(
            step,
            target,
            f"{nrows:,}",
            f"{secs:.2f}",
            f"{nrows / secs:,.0f}" if secs > 0 and nrows else "",
        )
    t.add_row(
        "[b]run total",
        "",
        f"{res['read']:,} read",
        f"[b]{res['wall']:.1f}",
        f"{res['read'] / res['wall']:,.0f}",
    )
    console.print(t)
    console.print(
        f"peak RSS of the run: [b]{res['rss_kb'] / 1024:,.0f} MB[/]; loaded "
        f"{res['loaded']:,}, rejected {res['rejected']:,}, "
        f"search rows {res['search_rows']:,}"
    )

    print_queries(case.config_path, args.repeat)

    contacts_csv = sorted(folder.glob("contacts_*.csv"))[0]
    base, ours = bench_baseline(contacts_csv, args.baseline_rows, args.dir)
    b = Table(title=f"plain baseline vs crmpipe on a {args.baseline_rows:,}-row slice")
    for col in ("pipeline", "seconds", "rows/s"):
        b.add_column(col, justify="left" if col == "pipeline" else "right")
    b.add_row(
        "pandas + Python loop + row inserts", f"{base:.2f}", f"{args.baseline_rows / base:,.0f}"
    )
    b.add_row(
        "crmpipe run (ingest, clean, build, index)",
        f"{ours:.2f}",
        f"{args.baseline_rows / ours:,.0f}",
    )
    b.add_row("[b]speed-up", f"[b]{base / ours:.1f}×", "")
    console.print(b)


if __name__ == "__main__":
    main()
