"""The figures `crmpipe demo movers` prints: customers before and after unification, jobs
booked twice (with precision and recall when a truth of them is at hand), and each branch's
latest rolling job counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crmpipe.marts.jobs import DUPLICATES, ROLLING
from crmpipe.sqltext import sql_str
from crmpipe.warehouse.connection import table_exists


@dataclass
class MoversSummary:
    """What unification and the job marts found."""

    records: int = 0  # customer records (one per branch and local id)
    golden: int = 0  # golden customers
    duplicate_groups: int = 0
    duplicate_jobs: int = 0  # jobs dropped as repeats of a kept one
    precision: float | None = None
    recall: float | None = None
    rolling: list[tuple[str, str, int, int, int]] = field(default_factory=list)

    @property
    def merged_share(self) -> float:
        """% of customer records that were another record's person."""
        return 100.0 * (self.records - self.golden) / self.records if self.records else 0.0


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    return (
        f"SELECT a.job_id AS l, b.job_id AS r FROM ({sql}) a JOIN ({sql}) b "
        "ON a.g = b.g AND a.job_id < b.job_id"
    )


def movers_summary(con: duckdb.DuckDBPyConnection, truth_jobs: Path | None) -> MoversSummary:
    """The summary from a built warehouse; `truth_jobs` (job_id, group_id) scores duplicates."""
    s = MoversSummary()
    if table_exists(con, "core", "customer_sources"):
        s.records, s.golden = con.execute(
            "SELECT count(DISTINCT record_id), count(DISTINCT golden_id) FROM core.customer_sources"
        ).fetchone()
    if not table_exists(con, "marts", "jobs_duplicates"):
        return s
    s.duplicate_groups, s.duplicate_jobs = con.execute(
        f"SELECT count(DISTINCT group_id), count(*) FILTER (WHERE NOT kept) FROM {DUPLICATES}"
    ).fetchone()
    if truth_jobs is not None and truth_jobs.is_file():
        found = _pairs(con, f"SELECT group_id AS g, job_id FROM {DUPLICATES}")
        truth = _pairs(
            con,
            "SELECT group_id AS g, job_id FROM read_csv("
            f"{sql_str(str(truth_jobs))}, all_varchar = true)",
        )
        n_found, n_true, n_both = con.execute(
            f"SELECT (SELECT count(*) FROM ({found})), (SELECT count(*) FROM ({truth})), "
            f"(SELECT count(*) FROM (({found}) INTERSECT ({truth})))"
        ).fetchone()
        s.precision = n_both / n_found if n_found else 1.0
        s.recall = n_both / n_true if n_true else 1.0
    s.rolling = [
        tuple(r)
        for r in con.execute(
            f"SELECT id, CAST(day AS VARCHAR), jobs_30d, jobs_60d, jobs_90d FROM {ROLLING} "
            "WHERE level = 'branch' AND day = (SELECT max(day) FROM "
            f"{ROLLING} WHERE level = 'branch' AND day <= current_date) ORDER BY id"
        ).fetchall()
    ]
    return s
