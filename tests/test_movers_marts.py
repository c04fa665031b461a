"""The job marts against an independent computation in plain Python over the same core rows,
and the duplicate jobs against the generator's truth."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import timedelta

import duckdb
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.movers import generate
from crmpipe.pipeline import run


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movers_marts")
    case = generate(folder, customers=1200, branches=3, seed=5)
    cfg = load_config(case.config_path)
    run(cfg)
    c = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    yield c, case
    c.close()


def _jobs(con):
    return con.execute(
        "SELECT j.job_id, j.customer_id, j.branch_id, j.move_date, j.status, j.created_at, "
        "j.price, o.address_key, d.address_key FROM core.jobs j "
        "JOIN marts.job_addresses o ON o.raw = j.origin_address "
        "JOIN marts.job_addresses d ON d.raw = j.destination_address"
    ).fetchall()


def _groups(jobs, days=7):
    by = defaultdict(list)
    for j in jobs:
        by[(j[1], j[7], j[8])].append(j)
    groups = []
    for rows in by.values():
        rows.sort(key=lambda r: (r[3], r[0]))
        run = [rows[0]]
        for r in rows[1:]:
            if (r[3] - run[-1][3]).days <= days:
                run.append(r)
            else:
                groups.append(run)
                run = [r]
        groups.append(run)
    return [g for g in groups if len(g) > 1]


def test_duplicates_match_python_and_truth(con):
    con, case = con
    groups = _groups(_jobs(con))
    expected = {frozenset(j[0] for j in g) for g in groups}
    rows = con.execute("SELECT group_id, job_id, kept FROM marts.jobs_duplicates").fetchall()
    got = defaultdict(set)
    for g, job, _ in rows:
        got[g].add(job)
    assert {frozenset(v) for v in got.values()} == expected
    assert sum(k for *_, k in rows) == len(expected)  # one kept per group
    with (case.folder / "data" / "truth_jobs.csv").open() as fh:
        truth = defaultdict(set)
        for r in csv.DictReader(fh):
            truth[r["group_id"]].add(r["job_id"])

    def pairs(gs):
        return {(a, b) for g in gs for a in g for b in g if a < b}

    t, p = pairs(truth.values()), pairs(got.values())
    assert len(t & p) / len(p) >= 0.98 and len(t & p) / len(t) >= 0.98


def test_lifetime_and_rolling_match_python(con):
    con, _ = con
    dropped = {r[0] for r in con.execute(
        "SELECT job_id FROM marts.jobs_duplicates WHERE NOT kept").fetchall()}  # fmt: skip
    jobs = [j for j in _jobs(con) if j[0] not in dropped]
    life = defaultdict(lambda: [0, 0.0, None, None])
    for j in jobs:
        x = life[j[1]]
        x[0] += 1
        if j[4] and j[4].lower() == "completed":
            x[1] += j[6] or 0
        x[2] = j[3] if x[2] is None else min(x[2], j[3])
        x[3] = j[3] if x[3] is None else max(x[3], j[3])
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT customer_id, jobs, revenue, first_move, last_move FROM marts.customer_lifetime"
    ).fetchall()}  # fmt: skip
    assert set(got) == set(life)
    for cid, (n, rev, first, last) in life.items():
        assert got[cid][0] == n and abs(got[cid][1] - rev) < 1e-6
        assert (got[cid][2], got[cid][3]) == (first, last)
    day_counts = defaultdict(int)
    for j in jobs:
        day_counts[(j[2], j[3])] += 1
    rows = con.execute(
        "SELECT id, day, jobs_30d, jobs_60d, jobs_90d FROM marts.jobs_rolling "
        "WHERE level = 'branch' AND dayofyear(day) % 17 = 0"
    ).fetchall()
    assert rows
    for branch, day, *counts in rows:
        for w, n in zip((30, 60, 90), counts, strict=True):
            want = sum(day_counts.get((branch, day - timedelta(days=k)), 0) for k in range(w))
            assert n == want, (branch, day, w)
