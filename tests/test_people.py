"""clean/people.py: several people in one name field, the real childcare contact values, and
the distinct-value lookup table in DuckDB."""

from __future__ import annotations

import csv
from unittest import mock

import duckdb
import pytest

from crmpipe.clean import people
from crmpipe.clean.people import Person, people_lookup, split_people
from crmpipe.demo.datasets import shared_data_dir

SHARED = shared_data_dir()
CHILDCARE = SHARED / "childcare" if SHARED is not None else None
HAVE_REAL = CHILDCARE is not None and (CHILDCARE / "source1.csv").is_file()
NEEDS_REAL = pytest.mark.skipif(
    not HAVE_REAL, reason="real sample ../shared/data/childcare absent (set CRMPIPE_SHARED_DATA)"
)


def _column(file: str, column: str) -> list[str]:
    if not HAVE_REAL:
        return []
    assert CHILDCARE is not None
    with (CHILDCARE / file).open(newline="", encoding="utf-8-sig") as f:
        return [row[column] for row in csv.DictReader(f)]


def _names(text: str | None) -> list[str]:
    return [p.full_name for p in split_people(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        # the Nevada convention: first names by &, then last names by & in the same order
        ("TANIA & NICOLE PINEDA & POBLETE", ["Tania Pineda", "Nicole Poblete"]),
        ("JAINI AND STACY JARIWALA AND SURVIS", ["Jaini Jariwala", "Stacy Survis"]),
        (
            "ALEKSANDRA & KATIE LIPSKA HALLOCK & MEEKER",
            ["Aleksandra Lipska Hallock", "Katie Meeker"],
        ),
        # ... with commas for &, or a comma between the first names and the last names
        ("ANASTASIA, KASHMIR EDEY, SHAFER", ["Anastasia Edey", "Kashmir Shafer"]),
        ("ARGIE, NELLY REYES, ARROYO", ["Argie Reyes", "Nelly Arroyo"]),
        ("JASMINE & ARGIE, TILLMAN & REYES", ["Jasmine Tillman", "Argie Reyes"]),
        # a shared last name
        ("JOHN & MARY SMITH", ["John Smith", "Mary Smith"]),
        ("John and Mary Smith", ["John Smith", "Mary Smith"]),
        ("JOHN & MARY & BOB SMITH", ["John Smith", "Mary Smith", "Bob Smith"]),
        ("DR. JOHN & MARY SMITH", ["John Smith", "Mary Smith"]),
        # full names joined
        ("John Smith and Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith & Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith / Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith; Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith, Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith\nJane Doe", ["John Smith", "Jane Doe"]),
        # Last, First
        ("HELLSTROM, ELIZABETH", ["Elizabeth Hellstrom"]),
        ("CARTER, LINDA K.", ["Linda K. Carter"]),
        ("Smith, John Jr.", ["John Smith Jr."]),
        # the owner before DBA
        ("BRIGGS, DASHESHIA DBA DEELIGHTFUL LEARNING STATION, LLC", ["Dasheshia Briggs"]),
        ("ROBINSON, KATRINA DBA WIGGLES AND GIGGLES ,LLC", ["Katrina Robinson"]),
        ("Jane Doe d/b/a Sunshine Kids", ["Jane Doe"]),
        # line breaks, role lines, extra spaces
        ("Elizabeth Hellstrom\n \n Primary Caregiver", ["Elizabeth Hellstrom"]),
        ("COLYN CADE\n \n Director", ["Colyn Cade"]),
        ("  Janeece\n  Noel  ", ["Janeece Noel"]),
        # titles dropped
        ("Dr. Jane Smith", ["Jane Smith"]),
        ("Mrs John Smith", ["John Smith"]),
        # proper case with care
        ("DEANNE MCMAHAN", ["Deanne McMahan"]),
        ("mary mcdonald", ["Mary McDonald"]),
        ("JOHN O'BRIEN", ["John O'Brien"]),
        ("KIMBERLI HELAIRE-SMITH", ["Kimberli Helaire-Smith"]),
        ("ann-marie lopez-garcia", ["Ann-Marie Lopez-Garcia"]),
        ("MARIA MACHADO", ["Maria Machado"]),
        ("ANGUS MACDONALD", ["Angus MacDonald"]),
        # one person twice is one person
        ("ARGIE REYES & ARGIE REYES", ["Argie Reyes"]),
        # first names only
        ("JOHN & MARY", ["John", "Mary"]),
    ],
)
def test_rules(text: str, expected: list[str]) -> None:
    assert _names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ABC LEARNING CENTER LLC",
        "MUDDY PUDDLES LEARNING SPACE, LLC",
        "KIDZ ROCK CHILD DEVELOPMENT CENTER",
        "DEVELOPING FOUNDATIONS, LLC",
        "Little Stars Academy",
        "First Baptist Church",
        "Happy Days Daycare",
        "Sunrise School Inc.",
        "THE GROWING PATCH",
        "Smith Holdings L.L.C.",
        "DBA SUNSHINE KIDS",
    ],
)
def test_companies_are_not_people(text: str) -> None:
    assert split_people(text) == []


@pytest.mark.parametrize(
    "text", [None, "", "   ", "\n \n", "N/A", "n/a", "-", "NULL", "None", "unknown", "1234", "Dr."]
)
def test_no_person(text: str | None) -> None:
    assert split_people(text) == []


def test_person_fields() -> None:
    assert split_people("TANIA & NICOLE PINEDA & POBLETE") == [
        Person("Tania", "Pineda", "Tania Pineda", 1),
        Person("Nicole", "Poblete", "Nicole Poblete", 2),
    ]
    assert split_people("KHALID, EARNESTINE SHAKETTA DBA LIL DUMPLIN'S, LLC") == [
        Person("Earnestine", "Khalid", "Earnestine Shaketta Khalid", 1)
    ]
    assert split_people("JOHN") == [Person("John", None, "John", 1)]


@NEEDS_REAL
@pytest.mark.parametrize("text", _column("source1.csv", "Primary Contact Name"))
def test_every_real_nevada_contact_is_a_person(text: str) -> None:
    found = split_people(text)
    assert found, text
    for p in found:
        assert p.first_name and p.last_name, (text, p)
        assert p.full_name == p.full_name.strip() and not p.full_name.isupper()
    # every joined value in this file names two people, every other one person
    assert len(found) == (2 if any(sep in text for sep in ("&", " AND ", ",")) else 1), text


@NEEDS_REAL
@pytest.mark.parametrize("text", _column("source2.csv", "Primary Caregiver"))
def test_every_real_oklahoma_caregiver_is_one_person(text: str) -> None:
    found = split_people(text)
    assert len(found) == 1 and found[0].first_name and found[0].last_name, text
    assert found[0].full_name.lower() == " ".join(text.split("\n")[0].split()).lower()


@NEEDS_REAL
def test_real_oklahoma_company_gives_its_owner_or_nobody() -> None:
    owners = {}
    for caregiver, company in zip(
        _column("source2.csv", "Primary Caregiver"), _column("source2.csv", "Company"), strict=True
    ):
        owners[company] = (_names(company), _names(caregiver))
    for company, (found, caregiver) in owners.items():
        assert found == [] or found[0].split()[-1] == caregiver[0].split()[-1], company
    assert owners["HELLSTROM, ELIZABETH"][0] == ["Elizabeth Hellstrom"]
    assert owners["KIDZ ROCK CHILD DEVELOPMENT CENTER"][0] == []


# --- people_lookup ----------------------------------------------------------------------------


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE raw_rows AS SELECT * FROM (VALUES "
        "('TANIA & NICOLE PINEDA & POBLETE'), ('JANEECE NOEL'), ('JANEECE NOEL'), (NULL), "
        "('N/A'), ('ABC LEARNING CENTER LLC'), ('TANIA & NICOLE PINEDA & POBLETE')) AS t(name)"
    )
    return c


def test_lookup_table(con: duckdb.DuckDBPyConnection) -> None:
    n = people_lookup(con, "SELECT name FROM raw_rows", "people_out")
    assert n == 3
    cols = con.execute("DESCRIBE people_out").fetchall()
    assert [(c[0], c[1]) for c in cols] == [
        ("raw", "VARCHAR"),
        ("ordinal", "INTEGER"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("full_name", "VARCHAR"),
    ]
    assert con.execute("SELECT * FROM people_out ORDER BY raw, ordinal").fetchall() == [
        ("JANEECE NOEL", 1, "Janeece", "Noel", "Janeece Noel"),
        ("TANIA & NICOLE PINEDA & POBLETE", 1, "Tania", "Pineda", "Tania Pineda"),
        ("TANIA & NICOLE PINEDA & POBLETE", 2, "Nicole", "Poblete", "Nicole Poblete"),
    ]
    # rows join back on `raw`: one row per source row and person
    assert con.execute(
        "SELECT count(*) FROM raw_rows r JOIN people_out p ON p.raw = r.name"
    ).fetchone() == (6,)


def test_lookup_splits_each_distinct_value_once(con: duckdb.DuckDBPyConnection) -> None:
    seen: list[str | None] = []

    def spy(text: str | None) -> list[Person]:
        seen.append(text)
        return split_people(text)

    with mock.patch.object(people, "split_people", side_effect=spy):
        people_lookup(con, "SELECT name FROM raw_rows", "people_out")
    # `JANEECE NOEL` (First Last) and `TANIA & NICOLE PINEDA & POBLETE` are split in SQL
    # (fast_people_sql), the rest by nameparser
    assert sorted(s or "" for s in seen) == sorted({"N/A", "ABC LEARNING CENTER LLC"})
    assert con.execute(
        "SELECT first_name, last_name FROM people_out WHERE raw = 'JANEECE NOEL'"
    ).fetchall() == [("Janeece", "Noel")]


def test_lookup_with_no_people(con: duckdb.DuckDBPyConnection) -> None:
    n = people_lookup(con, "SELECT name FROM raw_rows WHERE name = 'N/A'", "main.nobody")
    assert n == 0
    assert con.execute("SELECT count(*) FROM main.nobody").fetchone() == (0,)
