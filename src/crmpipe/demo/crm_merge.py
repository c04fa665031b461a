"""`crmpipe demo crm-merge`: two CRMs' contact exports → golden contacts and companies, scored
against the generator's truth (docs/crm-merge.md).

The figures: rows and company records before, golden contacts and companies after, the people
found in both CRMs (golden contacts with records of both), and pairwise precision, recall and
F1 for contacts and companies, with the exact-email baseline beside them. Pairs are counted
from group sizes in SQL (n·(n−1)/2 per group), never listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from rich.table import Table

from crmpipe.sqltext import sql_str


@dataclass
class Pairwise:
    """Pairwise figures of a clustering against the truth."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class CrmMergeFigures:
    """Before → after and the scores of one crm-merge run."""

    contact_rows: int
    contacts: int
    company_records: int
    companies: int
    in_both: int
    true_in_both: int
    true_people: int
    true_companies: int
    contacts_score: Pairwise
    companies_score: Pairwise
    baseline: Pairwise  # contacts linked by exact e-mail only


def pairwise(con: duckdb.DuckDBPyConnection, rows: str) -> Pairwise:
    """Pairwise figures of `rows` (pred, truth): one row per record."""

    def pairs(by: str) -> int:
        sql = f"SELECT count(*) AS n FROM ({rows}) GROUP BY {by}"
        return _one(con, f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM ({sql})")

    return Pairwise(pairs("truth"), pairs("pred"), pairs("pred, truth"))


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def crm_merge_figures(con: duckdb.DuckDBPyConnection, truth: Path) -> CrmMergeFigures:
    """The figures of the resolved warehouse `con` against the generator's `truth` file."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _truth AS SELECT * FROM read_csv("
        f"{sql_str(str(truth))}, all_varchar = true)"
    )
    contacts = (
        "SELECT s.golden_id AS pred, t.person_id AS truth FROM core.contact_sources s "
        "JOIN _truth t ON t.contact_id = s.record_id"
    )
    baseline = (
        "SELECT coalesce(lower(r.emails[1]), r.contact_id) AS pred, t.person_id AS truth "
        "FROM staging.contacts r JOIN _truth t ON t.contact_id = r.contact_id"
    )
    # a company record's truth: the company most of the contact rows naming it work at
    companies = """
        WITH rec AS (
          SELECT CAST(r.entity_id AS VARCHAR) AS record_id, mode(t.company_id) AS truth
          FROM staging.contacts r JOIN _truth t ON t.contact_id = r.contact_id
          WHERE r.entity_id IS NOT NULL GROUP BY 1)
        SELECT s.golden_id AS pred, rec.truth
        FROM (SELECT DISTINCT record_id, golden_id FROM core.entity_sources) s
        JOIN rec USING (record_id)"""
    both = (
        "SELECT count(*) FROM (SELECT golden_id FROM core.contact_sources GROUP BY golden_id "
        "HAVING count(DISTINCT source) > 1)"
    )
    true_both = (
        "SELECT count(*) FROM (SELECT person_id FROM _truth GROUP BY person_id "
        "HAVING count(DISTINCT source) > 1)"
    )
    return CrmMergeFigures(
        contact_rows=_one(con, "SELECT count(*) FROM core.contact_sources"),
        contacts=_one(con, "SELECT count(*) FROM core.contacts"),
        company_records=_one(con, "SELECT count(DISTINCT record_id) FROM core.entity_sources"),
        companies=_one(con, "SELECT count(*) FROM core.entities"),
        in_both=_one(con, both),
        true_in_both=_one(con, true_both),
        true_people=_one(con, "SELECT count(DISTINCT person_id) FROM _truth"),
        true_companies=_one(con, "SELECT count(DISTINCT company_id) FROM _truth"),
        contacts_score=pairwise(con, contacts),
        companies_score=pairwise(con, companies),
        baseline=pairwise(con, baseline),
    )


def figures_table(f: CrmMergeFigures) -> Table:
    """The demo's answer: people and companies before → after, found in both CRMs, scores."""
    t = Table(title="two CRMs into one")
    for col in ("", "before", "after", "truth"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row("people", f"{f.contact_rows:,} rows", f"{f.contacts:,} golden", f"{f.true_people:,}")
    t.add_row(
        "companies",
        f"{f.company_records:,} records",
        f"{f.companies:,} golden",
        f"{f.true_companies:,}",
    )
    t.add_row("people in both CRMs", "", f"{f.in_both:,} found", f"{f.true_in_both:,}")
    t.add_section()
    for label, s in (
        ("contacts, pairwise", f.contacts_score),
        ("companies, pairwise", f.companies_score),
        ("baseline: exact e-mail", f.baseline),
    ):
        t.add_row(label, f"P {s.precision:.4f}", f"R {s.recall:.4f}", f"F1 {s.f1:.4f}")
    return t
