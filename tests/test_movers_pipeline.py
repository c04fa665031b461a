"""The mover-CRM case end to end on a small generated case: branch from the file name, local
ids, standardised branch names, unknown customers quarantined, reconciliation, unification."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.movers import generate
from crmpipe.pipeline import run
from crmpipe.resolution.run import evaluate


@pytest.fixture(scope="module")
def movers(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("movers")
    case = generate(folder, customers=1500, branches=4, seed=2)
    cfg = load_config(case.config_path)
    summary = run(cfg)
    return case, cfg, summary


def test_every_source_row_reconciles(movers):
    case, cfg, summary = movers
    for t in summary.tables:
        assert t.balanced, t
    jobs = next(t for t in summary.tables if t.table == "jobs")
    assert jobs.quarantined == case.counts["unknown_customer_jobs"]
    assert sum(t.rejected for t in summary.tables) == case.counts["malformed_lines"]


def test_keys_are_branch_local_and_names_standardised(movers):
    case, cfg, _ = movers
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM core.branches").fetchall()}
        assert names == {"Austin", "Dallas", "Houston", "Denver"}
        states = {r[0] for r in con.execute("SELECT state FROM core.branches").fetchall()}
        assert states == {"TX", "CO"}
        (bad,) = con.execute(
            "SELECT count(*) FROM core.customer_sources WHERE NOT regexp_full_match("
            "record_id, 'b0[1-4]:[0-9]+')"
        ).fetchone()
        assert bad == 0
        reason = con.execute("SELECT DISTINCT _reason FROM quarantine.jobs").fetchall()
        assert reason and "customer" in str(reason[0][0])
        # every job points at a golden customer
        (orphans,) = con.execute(
            "SELECT count(*) FROM core.jobs j ANTI JOIN core.customers c USING (customer_id)"
        ).fetchone()
        assert orphans == 0
    finally:
        con.close()


def test_unification_against_the_truth(movers):
    case, cfg, _ = movers
    (ev,) = evaluate(cfg, case.folder / "data" / "truth_customers.csv")
    assert ev.table == "customers"
    assert ev.f1 >= 0.95


def test_unknown_customer_jobs_are_quarantined_and_the_run_succeeds(movers):
    """A job naming a customer its branch lacks is set aside with the reason; within the 1%
    threshold the relationship check passes and the run exits 0."""
    case, cfg, summary = movers
    assert summary.exit_code == 0 and summary.status == "success"
    (check,) = [o for o in summary.checks if o.check.name == "relationship_customer_id"]
    assert check.status == "pass" and check.quarantined == case.counts["unknown_customer_jobs"]
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT _check, _reason FROM quarantine.jobs").fetchall()
    finally:
        con.close()
    assert len(rows) == case.counts["unknown_customer_jobs"]
    assert all(c == "relationship_customer_id" and "has no match in customers" in r
               for c, r in rows)  # fmt: skip


def test_a_branch_without_its_customer_file_fails_the_run(tmp_path):
    """Beyond the threshold (a whole branch's customers missing) the check fails: exit 3."""
    case = generate(tmp_path, customers=300, branches=2, seed=5)
    (tmp_path / "data" / "customers_b02.csv").unlink()
    summary = run(load_config(case.config_path))
    assert summary.exit_code == 3 and summary.status == "checks_failed"
    (check,) = [o for o in summary.checks if o.check.name == "relationship_customer_id"]
    assert check.status == "fail" and check.quarantined == check.failed > 0
