"""The mover-CRM generator: files per branch, their shapes, the planted mess and the truths."""

from __future__ import annotations

import csv

import duckdb

from crmpipe.demo.datasets.movers import CUSTOMER_HEADER, JOB_HEADER, generate


def _rows(path):
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return list(csv.reader(fh))


def test_files_per_branch_with_headers_and_counts(tmp_path):
    case = generate(tmp_path, customers=600, branches=4, seed=3)
    data = tmp_path / "data"
    for b in ("b01", "b02", "b03", "b04"):
        cust, jobs = _rows(data / f"customers_{b}.csv"), _rows(data / f"jobs_{b}.csv")
        assert tuple(cust[0]) == CUSTOMER_HEADER and tuple(jobs[0]) == JOB_HEADER
        good = [r for r in cust[1:] if len(r) == len(CUSTOMER_HEADER)]
        assert len(good) == case.counts[f"customers_{b}.csv"]
    assert case.counts["customers"] == 600
    assert sum(case.counts[f"customers_b0{i}.csv"] for i in range(1, 5)) == 600
    assert case.counts["duplicate_jobs"] > 0 and case.counts["unknown_customer_jobs"] > 0
    assert case.counts["malformed_lines"] == 4  # branches b01 and b04, one per file
    branches = _rows(data / "branches.csv")
    assert [r[0] for r in branches[1:]] == ["b01", "b02", "b03", "b04"]
    assert case.config_path.is_file()


def test_truths_name_every_customer_and_the_repeated_jobs(tmp_path):
    case = generate(tmp_path, customers=800, branches=3, seed=1)
    data = tmp_path / "data"
    truth = _rows(data / "truth_customers.csv")
    assert truth[0] == ["customer_id", "true_customer_id"] and len(truth) == 801
    ids = {r[0] for r in truth[1:]}
    assert len(ids) == 800  # branch + local id is unique
    people = {r[1] for r in truth[1:]}
    assert len(people) == case.counts["people"]
    groups = _rows(data / "truth_jobs.csv")[1:]
    assert len(groups) >= 2 * case.counts["duplicate_jobs"] * 0.9
    # a person entered at two branches has one true id across both
    by_person: dict[str, set[str]] = {}
    for rid, pid in truth[1:]:
        by_person.setdefault(pid, set()).add(rid.split(":")[0])
    assert any(len(b) > 1 for b in by_person.values())


def test_same_seed_same_files_and_mess_present(tmp_path):
    a = generate(tmp_path / "a", customers=300, branches=2, seed=7)
    b = generate(tmp_path / "b", customers=300, branches=2, seed=7)
    for f in ("customers_b01.csv", "jobs_b02.csv", "truth_jobs.csv"):
        assert (a.folder / "data" / f).read_bytes() == (b.folder / "data" / f).read_bytes()
    con = duckdb.connect()
    phones = con.execute(
        "SELECT count(DISTINCT regexp_replace(Phone, '[0-9]', '9', 'g')) FROM read_csv(?, "
        "all_varchar=true, ignore_errors=true)",
        [str(a.folder / "data" / "customers_b01.csv")],
    ).fetchone()[0]
    assert phones >= 3  # several phone layouts
