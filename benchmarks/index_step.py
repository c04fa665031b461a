"""Benchmark: the index step alone (`build_searches`) on a copy of a kept warehouse.

1. the full rebuild of the search tables (what a first run or `crmpipe run --force` does);
2. the in-place update of an incremental run (search.refresh): `--changed` contacts get a new
   title in `core.contacts` (a copy of the warehouse restored before each run), then the
   index step updates their rows only.

Each is timed `--repeat` times (median and each run), on a copy of the warehouse made
beforehand (not timed), so the kept warehouse is left as it was.

Usage: flock /tmp/crmpipe-bench.lock uv run --frozen python benchmarks/index_step.py
       DIR_OF_CRMPIPE_YML [--repeat 3] [--changed 50000]
(e.g. the folder `benchmarks/pipeline.py --keep --dir D` leaves: D/pursuit-1000000).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from crmpipe.build.core import build_searches
from crmpipe.config.load import load_config
from crmpipe.warehouse.connection import connect


def _copy(warehouse: Path, scratch: Path) -> Path:
    target = scratch / "warehouse.duckdb"
    shutil.copyfile(warehouse, target)
    return target


def time_full(cfg, warehouse: Path, scratch: Path) -> float:
    copy = _copy(warehouse, scratch)
    con = connect(copy)
    try:
        t0 = time.perf_counter()
        build_searches(con, cfg, full=True)
        return time.perf_counter() - t0
    finally:
        con.close()


def time_in_place(cfg, warehouse: Path, scratch: Path, changed: int) -> tuple[float, int]:
    copy = _copy(warehouse, scratch)
    con = connect(copy)
    try:
        # every contact_id hashed: a spread-out sample of `changed` contacts, the same each run
        con.execute(
            "UPDATE core.contacts SET title = coalesce(title, '') || ' (changed)' "
            "WHERE contact_id IN (SELECT contact_id FROM core.contacts "
            "ORDER BY hash(contact_id) LIMIT ?)",
            [changed],
        )
        t0 = time.perf_counter()
        done = build_searches(con, cfg, full=False)
        seconds = time.perf_counter() - t0
        keys = sum((b.changed or 0) for b in done.values())
        return seconds, keys
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder of the project's crmpipe.yml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--changed", type=int, default=50_000)
    args = ap.parse_args()
    cfg = load_config(args.folder / "crmpipe.yml")
    warehouse = Path(cfg.warehouse_path)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        scratch = Path(tmp)
        full = [time_full(cfg, warehouse, scratch) for _ in range(args.repeat)]
        in_place = [
            time_in_place(cfg, warehouse, scratch, args.changed) for _ in range(args.repeat)
        ]
    secs = [s for s, _ in in_place]
    print(
        f"full rebuild: median {statistics.median(full):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in full)})"
    )
    print(
        f"in place ({in_place[0][1]:,} keys): median {statistics.median(secs):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in secs)})"
    )
    print(f"load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
