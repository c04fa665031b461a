"""Two CRMs into one (docs/crm-merge.md): `crmpipe init` on contact exports with their company
inline, for each CRM's header convention, and company-name normalisation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crmpipe.clean.companies import basename, clean_name, name_key_sql
from crmpipe.init.crm import convention
from crmpipe.init.guess import init

HUBSPOT = (
    "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,State/Region,"
    "Create Date\n"
    "101,Ann,Lee,ann.lee@acme.com,(415) 555-2671,Buyer,Acme Logistics 4 Inc.,CA,2023-04-05 10:11\n"
    "102,Bob,Ray,bob.ray@acme.com,415-555-2672,CFO,ACME LOGISTICS 4 INC,CA,2023-04-06 10:11\n"
    "103,Cy,Day,cy@zeta.io,415-555-2673,Engineer,Zeta Labs LLC,NY,2023-04-07 10:11\n"
)
SALESFORCE_API = (
    "\ufeffId;AccountId;Account.Name;FirstName;LastName;Email;Phone;MobilePhone;Title;"
    "MailingState;CreatedDate\n"
    "003A1;001X1;ACME LOGISTICS 4 INCORPORATED;Ann;Lee;ann.lee@acme.com;4155552671;"
    "4155559999;Buyer;CA;2023-04-05T10:11:12.000+0000\n"
    "003A2;001X2;Zeta Labs, L.L.C.;Cy;Day;cy@zeta.io;;;Engineer;NY;2023-04-05T10:11:12.000+0000\n"
)
SALESFORCE_REPORT = (
    "Contact ID,Account ID,Account Name,First Name,Last Name,Email,Phone,Mobile,Title,"
    "Mailing State/Province,Created Date\n"
    "003B1,001Y1,Acme Corp,Ann,Lee,ann@acme.com,4155552671,,Buyer,CA,4/5/2023\n"
)
PIPEDRIVE = (
    "Person - ID,Person - Name,Person - Organization,Person - Email,Person - Phone\n"
    "7,Ann Lee,Acme Ltd,ann@acme.com,4155552671\n"
)


def _init(folder: Path, name: str, text: str):
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    result = init(folder)
    (guess,) = result.guesses
    return result, guess


@pytest.mark.parametrize(
    ("name", "text", "conv", "key", "company"),
    [
        ("hubspot.csv", HUBSPOT, "HubSpot", "Company Key", "Company Name"),
        ("sf.csv", SALESFORCE_API, "Salesforce (API names)", "AccountId", "Account.Name"),
        ("sf_report.csv", SALESFORCE_REPORT, "Salesforce (report)", "Account ID", "Account Name"),
        ("pipedrive.csv", PIPEDRIVE, "Pipedrive", "Company Key", "Person - Organization"),
    ],
)
def test_init_recognises_each_crm_and_feeds_its_inline_company(
    tmp_path, name, text, conv, key, company
):
    result, guess = _init(tmp_path / "p", name, text)
    assert guess.table == "contacts"
    assert f"recognised a {conv} contact export" in guess.notes
    assert guess.columns["entity_id"] == key
    assert guess.feeds["entities"]["entity_id"] == key
    assert guess.feeds["entities"]["display_name"] == company
    src = result.config.sources[guess.source]
    assert (src.processor is None) == (key != "Company Key")
    assert "crmpipe.clean.companies:company_keys" in result.text or key != "Company Key"


def test_init_keeps_the_mobile_phone_and_the_crm_ids(tmp_path):
    result, guess = _init(tmp_path / "p", "sf.csv", SALESFORCE_API)
    src = result.config.sources[guess.source]
    extra = src.extension_columns()
    assert extra["mobile_phone"].type == "phone" and extra["mobile_phone"].column == "MobilePhone"
    assert extra["salesforce_ids"].type == "id" and extra["salesforce_ids"].column == "Id"
    fed = src.feeds["entities"].extension_columns()
    assert fed["salesforce_ids"].column == "AccountId"


def test_a_plain_contacts_file_without_a_company_is_left_alone(tmp_path):
    _, guess = _init(tmp_path / "p", "people.csv", "First Name,Last Name,Email\nA,B,a@b.com\n")
    assert guess.table == "contacts" and not guess.feeds and guess.processor is None


def test_convention_needs_several_of_its_headers():
    assert convention(["Email", "Company", "Name"]) is None
    assert convention(["Id", "AccountId", "FirstName", "LastName"]) == "Salesforce (API names)"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Acme Logistics 4 Inc.", "acme logistics 4"),
        ("ACME LOGISTICS 4 INCORPORATED", "acme logistics 4"),
        ("Acme Logistics 4, L.L.C.", "acme logistics 4"),
        ("Acme Logistics 4 LLC", "acme logistics 4"),
        ("Foo Corp.", "foo"),
        ("Foo Corporation", "foo"),
        ("Bar Co., Ltd.", "bar"),
        ("Bar Limited", "bar"),
        ("Qux GmbH", "qux"),
        ("Société Générale S.A.", "societe generale"),
        ("Ben & Jerry's Homemade, Inc.", "ben jerrys homemade"),
        ("The Baz Company", "baz"),
    ],
)
def test_company_names_lose_legal_form_case_and_punctuation(raw, clean):
    assert clean_name(raw) == clean


def test_basename_answers_as_cleanco_does():
    """The term lookup gives cleanco's own answer: one legal form or several, a term cleanco
    lists twice, multi-word forms, accents, Cyrillic, punctuation, nothing left."""
    import cleanco

    names = [
        "Acme Logistics 4 Inc.", "ACME LOGISTICS 4 INCORPORATED", "Acme Logistics 4, L.L.C.",
        "Bar Co., Ltd.", "Foo Inc Inc", "Foo, Inc., Ltd.", "Daddy & Sons, Ltd.",
        "Bar GmbH & Co. KG", "Qux mbH & Co KG", "x S de RL S de RL", "S de RL", "Ltd", "Inc.",
        "Acme Pty Ltd", "Acme Pte. Ltd.", "Acme Sdn Bhd", "Société Générale S.A.", "Straße GmbH",
        "Müller-Lüdenscheidt AG", "ООО Ромашка", "Ромашка ООО", "Foo & Co", "Foo & Co.",
        "Ben & Jerry's Homemade, Inc.", "The Baz Company", "Corp", "Acme Corp -", "",
        "Acme Holdings Limited Liability Company", "Acme, S.A. de C.V.", "Acme Oy", "Acme A/S",
    ]  # fmt: skip
    for name in names:
        assert basename(name) == cleanco.basename(name), name


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Logistics 4 Inc.", "ACME LOGISTICS 4 INC"),
        ("Acme Logistics 4, L.L.C.", "acme logistics 4 llc"),
        ("Atlas Health 1 & Co.", "Atlas Health 1 Co"),
    ],
)
def test_the_within_source_key_is_the_same_for_spellings_of_one_company(a, b):
    con = duckdb.connect()
    key = name_key_sql("?")
    assert (
        con.execute(f"SELECT {key}", [a]).fetchone() == con.execute(f"SELECT {key}", [b]).fetchone()
    )
    assert con.execute(f"SELECT {key}", ["Acme Logistics 5 Inc."]).fetchone() != (
        con.execute(f"SELECT {key}", [a]).fetchone()
    )
