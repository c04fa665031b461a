"""Benchmark: `crmpipe sync` of 100k records to a local misbehaving API.

Builds a warehouse with a generated `core.customers` table (default 100k rows), then in the
same run syncs it to a loopback API (tests/support/crm_api.py) that answers 10% of requests
429 or 500 and drops 1% of connections (seeded):

  1. batched (default 500 records per request);
  2. a plain baseline: one record per request, on the first --baseline-records rows (the same
     code path with `batch_size: 1`; per-request overhead dominates, so a subset suffices).

Each run is checked: every record created once (zero losses), under one idempotency key each
(zero duplicates). Prints wall, records/s, requests, retries, peak RSS and the load average:

  flock /tmp/crmpipe-bench.lock uv run python benchmarks/sync.py [--records N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crmpipe.config.schema import Config
from crmpipe.config.sync import SyncSpec
from crmpipe.sync import sync
from crmpipe.warehouse.connection import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.crm_api import ApiState, CrmApi  # noqa: E402

console = Console(width=160)


def _warehouse(path: Path, records: int) -> None:
    con = connect(path)
    con.execute(
        "CREATE OR REPLACE TABLE core.customers AS SELECT 'c' || i AS customer_id, "
        "'Customer ' || i AS name, 'user' || i || '@example.com' AS email, "
        "'+1555' || lpad(CAST(i AS VARCHAR), 7, '0') AS phone, i % 20 AS branch "
        "FROM range(?) AS t(i)",
        [records],
    )
    con.close()


def _once(path: Path, batch: int, where: str | None, seed: int) -> tuple[float, dict[str, int]]:
    state = ApiState(
        key_field="id", rates={"429": 0.05, "500": 0.05, "drop": 0.01}, seed=seed, keep_bodies=False
    )
    with CrmApi(state) as api:
        target = {
            "base_url": api.url,
            "endpoint": "/customers",
            "table": "customers",
            "key": "customer_id",
            "where": where,
            "fields": {"id": "customer_id", "name": "name", "email": "email", "phone": "phone"},
            "batch_size": batch,
            "retry": {"delays": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32]},
        }
        cfg = Config(warehouse=str(path), sync=SyncSpec.model_validate({"targets": {"t": target}}))
        con = connect(path)
        con.execute("DROP SCHEMA IF EXISTS sync CASCADE")
        (expected,) = con.execute(
            f"SELECT count(*) FROM core.customers WHERE {where or 'true'}"
        ).fetchone()
        con.close()
        started = time.perf_counter()
        (summary,) = sync(cfg, "t")
        wall = time.perf_counter() - started
    per_record = state.keys_per_record()
    return wall, {
        "records": expected,
        "sent": summary.sent,
        "requests": state.requests,
        "retried": summary.retried,
        "dropped": state.answered["dropped"],
        "duplicates": sum(n - 1 for n in per_record.values()),
        "losses": expected - len(per_record),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--baseline-records", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        _warehouse(path, args.records)
        rows = []
        for label, batch, where in (
            (f"batched ({args.batch}/request)", args.batch, None),
            (
                "baseline (1/request)",
                1,
                f"CAST(substr(customer_id, 2) AS INT) < {args.baseline_records}",
            ),
        ):
            walls, facts = [], {}
            for seed in range(args.repeat):
                wall, facts = _once(path, batch, where, seed)
                walls.append(wall)
                assert facts["duplicates"] == 0 and facts["losses"] == 0, facts
            wall = statistics.median(walls)
            rows.append((label, wall, facts))
    t = Table(title=f"crmpipe sync, median of {args.repeat} (load average {os.getloadavg()})")
    for col in (
        "run",
        "records",
        "wall s",
        "records/s",
        "requests",
        "retried",
        "dropped",
        "duplicates",
        "losses",
    ):
        t.add_column(col, justify="left" if col == "run" else "right")
    for label, wall, f in rows:
        t.add_row(
            label,
            f"{f['records']:,}",
            f"{wall:.2f}",
            f"{f['records'] / wall:,.0f}",
            f"{f['requests']:,}",
            f"{f['retried']:,}",
            f"{f['dropped']:,}",
            str(f["duplicates"]),
            str(f["losses"]),
        )
    console.print(t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak RSS {rss:,.0f} MB; 10% of requests 429/500, 1% dropped (seeded)")


if __name__ == "__main__":
    main()
