"""The audit trail's sync cost at publish size (docs/audit.md): a throwaway PostgreSQL cluster,
a contacts table of N rows shaped like the published one (generated in SQL), and three syncs as
a publish runs them: the first (every row new), a second version with 0.1% of the rows changed,
1 in 10,000 gone and as many new, and a third identical one. Baseline measured in the same run:
`CREATE TABLE ... AS SELECT` of the same rows (a plain copy of the table, no trigger, no diff).

    uv run python benchmarks/audit.py --contacts 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import psycopg

from crmpipe.publish.audit import sync_audit
from crmpipe.publish.pgserver import start_cluster

_VERSION = """
CREATE TABLE {schema}.contacts (
  contact_id text PRIMARY KEY, entity_id text, first_name text, last_name text,
  full_name text, emails text[], phone text, phone_ext text, title text, department text,
  url text, url_domain text, created_at timestamp, _source text, _run_id bigint
);
INSERT INTO {schema}.contacts
SELECT 'c' || lpad(i::text, 8, '0'), 'e' || (i / 30), 'First' || (i % 5000),
  'Last' || (i % 20000), NULL,
  ARRAY['user' || i || CASE WHEN i % 1000 = {shift} THEN '.changed' ELSE '' END || '@example.gov'],
  '+1555' || lpad((i % 10000000)::text, 7, '0'), NULL, 'Title ' || (i % 1600), 'Dept', NULL,
  NULL, timestamp '2020-01-01' + (i || ' minutes')::interval, 'contacts', {run}
FROM generate_series({lo}, {hi}) i WHERE i % 10000 <> {gone};
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1_000_000)
    n = ap.parse_args().contacts
    cluster = start_cluster()
    try:
        conn = psycopg.connect(cluster.dsn(), autocommit=True)
        rows_out = []
        versions = [  # (schema, shift of the changed emails, ids gone, extra new ids, run)
            ("v1", -1, -1, 0, 1),
            ("v2", 7, 3, n // 10000, 2),
            ("v3", 7, 3, n // 10000, 3),
        ]
        for schema, shift, gone, extra, run in versions:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(
                _VERSION.format(schema=schema, shift=shift, gone=gone, lo=1, hi=n + extra, run=run)
            )
            conn.execute(f"ANALYZE {schema}.contacts")
            t0 = time.perf_counter()
            with conn.transaction():
                done, _ = sync_audit(
                    conn, schema, ["contacts"], action="publish", version=run, run_id=run
                )
            wall = time.perf_counter() - t0
            d = done[0]
            rows_out.append((f"sync {schema}", wall, d.inserted, d.updated, d.deleted))
        t0 = time.perf_counter()
        conn.execute("CREATE TABLE plain_copy AS SELECT * FROM v3.contacts")
        rows_out.append(("baseline: CREATE TABLE AS (plain copy)", time.perf_counter() - t0, n))
        (logged,) = conn.execute("SELECT count(*) FROM audit.contact_changes").fetchone()
        print(f"contacts: {n:,}; change log rows: {logged:,}; load: {os.getloadavg()}")
        print(f"{'step':42} {'wall s':>8} {'rows/s':>12} {'ins':>9} {'upd':>7} {'del':>5}")
        for name, wall, *counts in rows_out:
            tail = " ".join(f"{c:>7,}" for c in counts) if len(counts) == 3 else ""
            print(f"{name:42} {wall:8.2f} {n / wall:12,.0f} {tail}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS (this process, the server not included): {peak:.0f} MB")
        conn.close()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
