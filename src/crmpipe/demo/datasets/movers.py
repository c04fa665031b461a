"""The mover-CRM case (docs/movers.md): per-branch customer and job exports, a branches list,
the crmpipe.yml that maps them, and the ground truth of customers and jobs booked twice.

`generate(folder, customers=N, branches=B)` writes into `folder/data/`:

- `branches.csv`: `Branch ID, Branch Name, State`, the names and states spelt in any form;
- `customers_<branch>.csv`: `Customer ID` (local to the branch), names, email, phone, one-field
  address, `Created`, `Updated`; a person entered at several branches has a record at each;
- `jobs_<branch>.csv`: `Job ID`, `Customer ID` (the branch's), move date, origin and
  destination, volume, weight, price, status, `Created`;
- `truth_customers.csv` (`customer_id` = `<branch>:<local id>`, `true_customer_id`) and
  `truth_jobs.csv` (`job_id`, `group_id`: the jobs of one move booked more than once).

Rows are made by DuckDB queries (crmpipe.demo.datasets.movers_sql, movers_jobs) and written
with COPY, so a million customers and three million jobs take seconds, not minutes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from crmpipe.demo.datasets import GeneratedCase
from crmpipe.demo.datasets import movers_vocab as mv
from crmpipe.demo.datasets.mess import malformed_line
from crmpipe.demo.datasets.movers_config import write_config
from crmpipe.demo.datasets.movers_jobs import make_jobs
from crmpipe.demo.datasets.movers_sql import (
    JOBS_PER_CUSTOMER,
    REENTRY_RATE,
    install_vocab,
    make_customers,
    make_people,
)
from crmpipe.sqltext import sql_str

CUSTOMER_HEADER = (
    "Customer ID", "First Name", "Last Name", "Email", "Phone", "Address", "Created", "Updated",
)  # fmt: skip
JOB_HEADER = (
    "Job ID", "Customer ID", "Move Date", "Origin Address", "Destination Address",
    "Volume (cu ft)", "Weight (lbs)", "Price", "Status", "Created",
)  # fmt: skip
#: Branches whose files get a malformed line (every third one).
MALFORMED_EVERY = 3


def branch_id(index: int) -> str:
    """The id of the branch at `index` (0-based): b01, b02, …"""
    return f"b{index + 1:02d}"


def _branch_sql() -> str:
    return "'b' || lpad(CAST(branch + 1 AS VARCHAR), 2, '0')"


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    con.execute(f"COPY ({select}) TO {sql_str(str(path))} (FORMAT csv, HEADER true)")


def _write_branches(folder: Path, branches: int) -> int:
    lines = ["Branch ID,Branch Name,State"]
    for i, (city, st, st_name, _, _) in enumerate(mv.BRANCHES[:branches]):
        names = mv.branch_name_variants(city, st)
        states = mv.state_variants(st, st_name)
        name, state = names[i % len(names)], states[(i // 2) % len(states)]
        quoted = f'"{name}"' if "," in name else name
        lines.append(f"{branch_id(i)},{quoted},{state}")
    (folder / "branches.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return branches


def _append_malformed(path: Path, fields: list[str], kind: str, index: int) -> None:
    with path.open("ab") as fh:
        fh.write(malformed_line(kind, fields, index=index, name_field=1, suffix_field=2))


def generate(
    folder: Path, *, customers: int = 20_000, branches: int = 8, seed: int = 0,
    duplicate_days: int = 7,
) -> GeneratedCase:  # fmt: skip
    """Write the case into `folder` and return what was written (see the module docstring)."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if not 1 <= branches <= len(mv.BRANCHES):
        raise ValueError(f"branches must be between 1 and {len(mv.BRANCHES)}")
    folder = Path(folder)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for old in [*data.glob("customers_*.csv"), *data.glob("jobs_*.csv")]:
        old.unlink()
    people = max(1, round(customers * (1 - REENTRY_RATE)))
    jobs = customers * JOBS_PER_CUSTOMER
    con = duckdb.connect()
    try:
        install_vocab(con, seed, branches)
        make_people(con, people, branches, seed)
        make_customers(con, customers, people, branches, seed)
        make_jobs(con, jobs, customers, branches, seed)
        counts = _write(con, data, branches)
    finally:
        con.close()
    counts["branches.csv"] = _write_branches(data, branches)
    counts["people"] = people
    files = sorted(data.glob("customers_*.csv")) + sorted(data.glob("jobs_*.csv"))
    files.append(data / "branches.csv")
    config = write_config(folder, data, branches, duplicate_days=duplicate_days)
    return GeneratedCase(folder, config, data / "truth_customers.csv", files, counts)


def _write(con: duckdb.DuckDBPyConnection, data: Path, branches: int) -> dict[str, int]:
    """Write the per-branch files and the truths; the data rows of each, and the mess planted."""
    counts: dict[str, int] = {"malformed_lines": 0}
    b = _branch_sql()
    for i in range(branches):
        bid = branch_id(i)
        cust, jobs = data / f"customers_{bid}.csv", data / f"jobs_{bid}.csv"
        _copy(
            con,
            'SELECT local_id AS "Customer ID", first_name AS "First Name", last_name AS '
            '"Last Name", email AS "Email", phone AS "Phone", address AS "Address", '
            f'created AS "Created", updated AS "Updated" FROM _mv_customers WHERE branch = {i} '
            "ORDER BY CAST(local_id AS INTEGER)",
            cust,
        )
        _copy(
            con,
            'SELECT local_id AS "Job ID", customer_local AS "Customer ID", move_date_text AS '
            '"Move Date", origin AS "Origin Address", destination AS "Destination Address", '
            'volume AS "Volume (cu ft)", weight AS "Weight (lbs)", price AS "Price", '
            f'status AS "Status", created AS "Created" FROM _mv_jobs WHERE branch = {i} '
            "ORDER BY local_id",
            jobs,
        )
        (nc,) = con.execute(f"SELECT count(*) FROM _mv_customers WHERE branch = {i}").fetchone()
        (nj,) = con.execute(f"SELECT count(*) FROM _mv_jobs WHERE branch = {i}").fetchone()
        counts[cust.name], counts[jobs.name] = int(nc), int(nj)
        if i % MALFORMED_EVERY == 0:
            fields = ["999", "Pat", "O'Neil", "pat@example.com", "512-555-0100",
                      "1 Oak St Austin, TX 78701", "2024-01-01", "2024-01-02"]  # fmt: skip
            _append_malformed(cust, fields, "too_many_fields", i)
            _append_malformed(jobs, ["J999", *fields[:1], "2024-01-05", *fields[5:6] * 2,
                                     "500", "3500", "900", "booked", "2024-01-01"],
                              "too_few_fields", i)  # fmt: skip
            counts["malformed_lines"] += 2
    con.execute(
        f"COPY (SELECT {b} || ':' || local_id AS customer_id, 'P' || pid AS true_customer_id "
        f"FROM _mv_customers ORDER BY r) TO {sql_str(str(data / 'truth_customers.csv'))} "
        "(FORMAT csv, HEADER true)"
    )
    con.execute(
        f"""
        COPY (
          WITH ids AS (SELECT j, {b} || ':' || local_id AS job_id FROM _mv_jobs),
          grouped AS (
            SELECT j, coalesce(dup_of, j) AS g FROM _mv_jobs
            WHERE dup_of IS NOT NULL OR j IN (SELECT dup_of FROM _mv_jobs)
          )
          SELECT i.job_id, gi.job_id AS group_id FROM grouped x
          JOIN ids i ON i.j = x.j JOIN ids gi ON gi.j = x.g ORDER BY gi.job_id, i.job_id
        ) TO {sql_str(str(data / "truth_jobs.csv"))} (FORMAT csv, HEADER true)
        """
    )
    for name, sql in (
        ("customers", "SELECT count(*) FROM _mv_customers"),
        ("reentries", "SELECT count(*) FROM _mv_customers WHERE reentry"),
        ("jobs", "SELECT count(*) FROM _mv_jobs"),
        ("duplicate_jobs", "SELECT count(*) FROM _mv_jobs WHERE dup_of IS NOT NULL"),
        ("unknown_customer_jobs", "SELECT count(*) FROM _mv_jobs WHERE unknown"),
    ):
        counts[name] = int(con.execute(sql).fetchone()[0])
    return counts
