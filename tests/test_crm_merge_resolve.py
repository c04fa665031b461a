"""Two CRMs into one (docs/crm-merge.md): hand-made HubSpot and Salesforce exports, mapped by
`crmpipe init` as guessed, run, and resolved into golden companies and contacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmpipe.demo.crm_merge import pairwise
from crmpipe.init.guess import init
from crmpipe.pipeline import run
from crmpipe.search import search
from crmpipe.warehouse.connection import connect

HUBSPOT = "\n".join([
    "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,State/Region,"
    "Create Date",
    "101,Ann,Lee,ann.lee@acmelogistics.com,(415) 555-2671,Buyer,Acme Logistics 4 Inc.,CA,"
    "2023-04-05 10:11",
    "102,Bob,Ray,bob.ray@acmelogistics.com,(415) 555-2672,CFO,acme logistics 4 inc,CA,"
    "2023-04-06 10:11",
    "103,John,Smith,john.smith@acmelogistics.com,(415) 555-2673,Engineer,"
    "Acme Logistics 4 Inc.,CA,2023-04-07 10:11",
    "104,Dana,Fox,dana.fox77@gmail.com,(646) 555-2674,CTO,Acme Logistics 4 Inc.,CA,"
    "2024-01-07 10:11",
    "105,Eve,Nash,eve.nash@northwind.com,(212) 555-2675,Buyer,Northwind Traders Corp.,NY,"
    "2023-04-07 10:11",
]) + "\n"  # fmt: skip
SALESFORCE = "\n".join([
    "\ufeffId;AccountId;Account.Name;FirstName;LastName;Email;Phone;MobilePhone;Title;"
    "MailingState;CreatedDate",
    "003A1;001X1;ACME LOGISTICS 4 INCORPORATED;Ann;Lee;ANN.LEE@acmelogistics.com;;"
    "+1 415 555 2671;Buyer;CA;2023-04-05T10:11:12.000+0000",
    "003A2;001X2;Zeta Labs, L.L.C.;John;Smith;jsmith@zetalabs.io;2125559001;;Engineer;NY;"
    "2023-04-05T10:11:12.000+0000",
    "003A3;001X2;Zeta Labs, L.L.C.;Dana;Fox;dana.fox77@gmail.com;2125559002;;VP Engineering;"
    "NY;2022-04-05T10:11:12.000+0000",
    "003A4;001X3;Northwind Traders Corporation;Eve;Nash;eve.nash@northwind.com;;;Buyer;NY;"
    "2022-04-05T10:11:12.000+0000",
]) + "\n"  # fmt: skip
#: Who is who: the truth of every row (person, company).
TRUTH = {
    "101": ("ann", "acme"), "102": ("bob", "acme"), "103": ("john1", "acme"),
    "104": ("dana", "acme"), "105": ("eve", "north"), "003A1": ("ann", "acme"),
    "003A2": ("john2", "zeta"), "003A3": ("dana", "zeta"), "003A4": ("eve", "north"),
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, object, object]:
    folder = tmp_path_factory.mktemp("crm")
    (folder / "hubspot_contacts.csv").write_text(HUBSPOT, encoding="utf-8")
    (folder / "salesforce_contacts.csv").write_text(SALESFORCE, encoding="utf-8")
    cfg = init(folder).config
    summary = run(cfg)
    return folder, cfg, summary


def _rows(cfg, sql: str, params: list | None = None) -> list[tuple]:
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _golden(cfg, table: str = "contact") -> dict[str, str]:
    return dict(_rows(cfg, f"SELECT record_id, golden_id FROM core.{table}_sources"))


def test_one_company_spelled_two_ways_in_two_crms_is_one_golden_company(project):
    _, cfg, _ = project
    companies = _golden(cfg, "entity")
    assert companies["hubspot_contacts:acmelogistics4"] == companies["001X1"]
    assert companies["hubspot_contacts:northwindtraders"] == companies["001X3"]
    assert len(set(companies.values())) == 3  # Acme, Zeta, Northwind
    rule = _rows(cfg, "SELECT matched_by FROM core.entity_sources WHERE record_id = '001X1'")
    assert rule[0][0] == "same company name"


def test_the_same_person_at_two_spellings_of_one_company_merges(project):
    _, cfg, _ = project
    people = _golden(cfg)
    assert people["101"] == people["003A1"]
    assert people["105"] == people["003A4"]


def test_two_people_at_one_company_and_namesakes_at_two_companies_stay_apart(project):
    _, cfg, _ = project
    people = _golden(cfg)
    assert people["101"] != people["102"]  # Ann and Bob at Acme
    assert people["103"] != people["003A2"]  # John Smith at Acme, John Smith at Zeta


def test_a_job_changer_is_linked_by_email_and_keeps_both_companies_in_lineage(project):
    _, cfg, _ = project
    people, companies = _golden(cfg), _golden(cfg, "entity")
    assert people["104"] == people["003A3"]
    rows = dict(
        _rows(
            cfg,
            "SELECT contact_id, entity_id FROM resolved.contact_records "
            "WHERE contact_id IN ('104', '003A3')",
        )
    )
    assert rows["104"] == companies["001X1"] and rows["003A3"] == companies["001X2"]
    rule = _rows(
        cfg,
        "SELECT matched_by FROM core.contact_sources WHERE record_id IN ('104', '003A3') "
        "AND matched_by LIKE '%across%'",
    )
    assert rule, "the link across companies says which rule made it"


def test_each_crms_record_ids_are_external_ids_of_the_golden_records(project):
    _, cfg, _ = project
    people = _golden(cfg)
    ((hub, sf),) = _rows(
        cfg,
        "SELECT hubspot_ids, salesforce_ids FROM core.contacts WHERE contact_id = ?",
        [people["101"]],
    )
    assert (hub, sf) == ("101", "003A1")
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        found = search(con, "salesforce_ids:003A1")
        by_company = search(con, "entity_salesforce_ids:001X2")
    finally:
        con.close()
    at = found.columns.index("contact_id")
    assert [r[at] for r in found.rows] == [people["101"]]
    assert by_company.total == 2  # John Smith of Zeta and Dana Fox (her old company)


def test_reconciliation_balances_and_scores_against_the_truth(project):
    _, cfg, summary = project
    assert all(c.balanced for c in summary.tables)
    counts = {c.table: c for c in summary.tables}
    assert counts["contacts"].read == 9
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        con.execute("CREATE TEMP TABLE t (contact_id VARCHAR, person VARCHAR, company VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(k, *v) for k, v in TRUTH.items()])
        score = pairwise(
            con,
            "SELECT s.golden_id AS pred, t.person AS truth FROM core.contact_sources s "
            "JOIN t ON t.contact_id = s.record_id",
        )
    finally:
        con.close()
    assert (score.precision, score.recall) == (1.0, 1.0)


def test_golden_company_names_prefer_a_mixed_case_spelling_and_duplicate_ids_merge(tmp_path):
    """The newest rows spell Acme in capitals or lower case, one older HubSpot row properly:
    the golden company is named `Acme Logistics 4 Inc.`. A record id twice in one export is
    one contact record (the later row), counted as merged in the reconciliation, both rows in
    the lineage."""
    hubspot = "\n".join([
        HUBSPOT.splitlines()[0],
        "201,Ann,Lee,ann.lee@acmelogistics.com,(415) 555-2671,Buyer,Acme Logistics 4 Inc.,CA,"
        "2023-04-05 10:11",
        "202,Bob,Ray,bob.ray@acmelogistics.com,(415) 555-2672,CFO,acme logistics 4 inc,CA,"
        "2023-04-06 10:11",
        "202,Bob,Ray,bob.ray@acmelogistics.com,(415) 555-2672,CFO,acme logistics 4 inc,CA,"
        "2023-04-06 10:11",
    ]) + "\n"  # fmt: skip
    salesforce = "\n".join(SALESFORCE.splitlines()[:2]) + "\n"
    (tmp_path / "hubspot_contacts.csv").write_text(hubspot, encoding="utf-8")
    (tmp_path / "salesforce_contacts.csv").write_text(salesforce, encoding="utf-8")
    cfg = init(tmp_path).config
    summary = run(cfg)
    assert _rows(cfg, "SELECT display_name FROM core.entities") == [("Acme Logistics 4 Inc.",)]
    counts = {c.table: c for c in summary.tables}
    assert all(c.balanced for c in summary.tables)
    assert counts["contacts"].read == 4
    assert _rows(
        cfg, "SELECT matched_by FROM core.contact_sources WHERE record_id = '202' ORDER BY 1"
    ) == [("same key",), ("self",)]
    assert _rows(cfg, "SELECT count(*) FROM core.contacts")[0][0] == 2  # Ann (twice), Bob
