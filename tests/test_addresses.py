"""clean/addresses.py: one-field US addresses into parts, on the real Nevada sample and on
hand-written nasty cases, and the distinct-value lookup table in DuckDB."""

from __future__ import annotations

import csv
from unittest import mock

import duckdb
import pytest

from crmpipe.clean import addresses
from crmpipe.clean.addresses import ParsedAddress, address_lookup, parse_address
from crmpipe.demo.datasets import shared_data_dir

SHARED = shared_data_dir()
CHILDCARE = SHARED / "childcare" if SHARED is not None else None
HAVE_REAL = CHILDCARE is not None and (CHILDCARE / "source1.csv").is_file()
NEEDS_REAL = pytest.mark.skipif(
    not HAVE_REAL, reason="real sample ../shared/data/childcare absent (set CRMPIPE_SHARED_DATA)"
)


def _column(file: str, column: str) -> list[str]:
    assert CHILDCARE is not None
    with (CHILDCARE / file).open(newline="", encoding="utf-8-sig") as f:
        return [row[column] for row in csv.DictReader(f)]


def _real(file: str, column: str) -> list[str]:
    return _column(file, column) if HAVE_REAL else []


@NEEDS_REAL
@pytest.mark.parametrize("text", _real("source1.csv", "Address"))
def test_every_real_nevada_address_parses(text: str) -> None:
    p = parse_address(text)
    assert p is not None and p.ok and p.problem is None, p
    assert p.number and p.number.isdigit()
    assert p.street and "." not in p.street
    assert p.line1 == f"{p.number} {p.street}"
    assert p.city and p.state == "NV" and p.postal_code and len(p.postal_code) == 5
    assert text.endswith(p.postal_code)


@NEEDS_REAL
@pytest.mark.parametrize("file, column", [("source2.csv", "Address1"), ("source3.csv", "Address")])
def test_every_real_street_line_parses(file: str, column: str) -> None:
    for text in _column(file, column):
        p = parse_address(text)
        assert p is not None and p.ok and p.number and p.street, (text, p)
        assert (p.city, p.state, p.postal_code) == (None, None, None)


REAL_EXAMPLES = [
    # (text, line1, number, street, unit, city, state, zip) — values of source1.csv/source3.csv
    (
        "150 N. WILLOW ST MESQUITE, NV 89027",
        "150 N WILLOW ST",
        "150",
        "N WILLOW ST",
        None,
        "MESQUITE",
        "NV",
        "89027",
    ),
    (
        "8889 S. EASTERN AVE., STE 160 LAS VEGAS, NV 89123",
        "8889 S EASTERN AVE",
        "8889",
        "S EASTERN AVE",
        "STE 160",
        "LAS VEGAS",
        "NV",
        "89123",
    ),
    (
        "7625 S. RAINBOW BLVD., STE 104-106 LAS VEGAS, NV 89139",
        "7625 S RAINBOW BLVD",
        "7625",
        "S RAINBOW BLVD",
        "STE 104-106",
        "LAS VEGAS",
        "NV",
        "89139",
    ),
    (
        "496 SOUTH MAIN STREET LAS VEGAS, NV 89101",
        "496 S MAIN ST",
        "496",
        "S MAIN ST",
        None,
        "LAS VEGAS",
        "NV",
        "89101",
    ),
    (
        "6044 RIVER BELLE ST NORTH LAS VEGAS, NV 89031",
        "6044 RIVER BELLE ST",
        "6044",
        "RIVER BELLE ST",
        None,
        "NORTH LAS VEGAS",
        "NV",
        "89031",
    ),
    (
        "3980 W. ANN RD., STE 1 NORTH LAS VEGAS, NV 89031",
        "3980 W ANN RD",
        "3980",
        "W ANN RD",
        "STE 1",
        "NORTH LAS VEGAS",
        "NV",
        "89031",
    ),
    (
        "100 ST. JUDE ST BOULDER CITY, NV 89005",
        "100 ST JUDE ST",
        "100",
        "ST JUDE ST",
        None,
        "BOULDER CITY",
        "NV",
        "89005",
    ),
    ("15302 E 89TH ST N", "15302 E 89TH ST N", "15302", "E 89TH ST N", None, None, None, None),
    ("401 FM 685 STE 104", "401 FM 685", "401", "FM 685", "STE 104", None, None, None),
    # a numbered road after a pre-type takes no ordinal (scourgify alone gives `3455TH`)
    ("4990 FM 3455 RD", "4990 FM 3455 RD", "4990", "FM 3455 RD", None, None, None, None),
    ("3502 SLIDE RD A25", "3502 SLIDE RD", "3502", "SLIDE RD", "UNIT A25", None, None, None),
    ("10900 NW 38TH TERRACE", "10900 NW 38TH TER", "10900", "NW 38TH TER", None, None, None, None),
]


@pytest.mark.parametrize("text, line1, number, street, unit, city, state, zip_", REAL_EXAMPLES)
def test_real_examples(
    text: str,
    line1: str,
    number: str,
    street: str,
    unit: str | None,
    city: str | None,
    state: str | None,
    zip_: str | None,
) -> None:
    assert parse_address(text) == ParsedAddress(
        line1, number, street, unit, city, state, zip_, ok=True, problem=None
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        # units, suite, directional
        (
            "123 Main Street Apt 4, Springfield, IL 62701",
            ("123 MAIN ST", "123", "MAIN ST", "APT 4", "SPRINGFIELD", "IL", "62701"),
        ),
        (
            "500 West Oak Avenue Suite 100 Reno NV 89501",
            ("500 W OAK AVE", "500", "W OAK AVE", "STE 100", "RENO", "NV", "89501"),
        ),
        (
            "123 Main St #4 Reno NV 89501-1234",
            ("123 MAIN ST", "123", "MAIN ST", "# 4", "RENO", "NV", "89501"),
        ),
        # state written out, ZIP+4
        (
            "12 Elm St, Reno, Nevada 895011234",
            ("12 ELM ST", "12", "ELM ST", None, "RENO", "NV", "89501"),
        ),
        # PO boxes: line1 is the box, no number or street
        ("PO BOX 123, RENO NV 89501", ("PO BOX 123", None, None, None, "RENO", "NV", "89501")),
        (
            "P.O. Box 55 Reno, Nevada 89501",
            ("PO BOX 55", None, None, None, "RENO", "NV", "89501"),
        ),
        # missing ZIP
        (
            "1 Main St, Carson City, NV",
            ("1 MAIN ST", "1", "MAIN ST", None, "CARSON CITY", "NV", None),
        ),
        # a second address line alone (Oklahoma's Address2)
        ("STE 5", (None, None, None, "STE 5", None, None, None)),
        ("Suite 100", (None, None, None, "STE 100", None, None, None)),
        ("APT 4", (None, None, None, "APT 4", None, None, None)),
        ("1234 N MAIN ST", ("1234 N MAIN ST", "1234", "N MAIN ST", None, None, None, None)),
        # whitespace, line breaks, lower case
        (
            "  150  n. willow st\nmesquite,  nv 89027 ",
            ("150 N WILLOW ST", "150", "N WILLOW ST", None, "MESQUITE", "NV", "89027"),
        ),
    ],
)
def test_nasty_but_parseable(text: str, expected: tuple[str | None, ...]) -> None:
    p = parse_address(text)
    assert p is not None and p.ok and p.problem is None, p
    assert (p.line1, p.number, p.street, p.unit, p.city, p.state, p.postal_code) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "N/A", "n/a", "-", "--", "NULL", "none", "?"])
def test_no_value_is_none(text: str | None) -> None:
    assert parse_address(text) is None


@pytest.mark.parametrize(
    "text, problem",
    [
        ("hello world", "no street line"),
        ("Las Vegas, NV 89101", "no street line"),
        ("x", "no street line"),
        ("#$%&*", None),  # no letter or digit: treated as no value
        ("123 Main St Suite 5 Suite 6 Reno NV 89501", "repeated OccupancyType"),
        ("x" * 400, "too long for an address"),
    ],
)
def test_unparseable_never_raises(text: str, problem: str | None) -> None:
    p = parse_address(text)
    if problem is None:
        assert p is None
        return
    assert p is not None and not p.ok and p.problem is not None
    assert p.problem.startswith(problem)


def test_repeated_label_keeps_the_first_run() -> None:
    p = parse_address("123 Main St Suite 5 Suite 6 Reno NV 89501")
    assert p is not None
    assert (p.line1, p.unit, p.city, p.state, p.postal_code) == (
        "123 MAIN ST",
        "STE 5",
        "RENO",
        "NV",
        "89501",
    )


def test_unnormalisable_tags_are_kept() -> None:
    # A unit type with no number: scourgify refuses to normalise, the tags are kept.
    p = parse_address("1 Main St Suite")
    assert p is not None and p.ok
    assert (p.line1, p.unit) == ("1 MAIN ST", "SUITE")
    assert p.problem == "not normalised: unit type without a number"


def test_bad_zip_and_state_are_reported() -> None:
    p = parse_address("100 Main St Reno NV 8950")
    assert p is not None and p.ok and p.postal_code is None and p.problem == "bad ZIP 8950"


def test_a_library_failure_is_a_problem_not_an_exception() -> None:
    with mock.patch.object(addresses.usaddress, "tag", side_effect=RuntimeError("boom")):
        p = parse_address("150 N WILLOW ST MESQUITE NV 89027")
    assert p is not None and not p.ok and p.problem == "unparseable: RuntimeError"


# --- address_lookup ---------------------------------------------------------------------------


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE SCHEMA staging")
    c.execute(
        "CREATE TABLE raw_rows AS SELECT * FROM (VALUES "
        "('150 N. WILLOW ST MESQUITE, NV 89027'), ('150 N. WILLOW ST MESQUITE, NV 89027'), "
        "(NULL), ('N/A'), ('STE 5'), ('123 Main St Suite 5 Suite 6 Reno NV 89501'), "
        "('150 N. WILLOW ST MESQUITE, NV 89027')) AS t(address)"
    )
    return c


def test_lookup_table(con: duckdb.DuckDBPyConnection) -> None:
    n = address_lookup(con, "SELECT address FROM raw_rows", "staging.address_lookup")
    assert n == 4  # distinct non-NULL values
    cols = con.execute("DESCRIBE staging.address_lookup").fetchall()
    assert [(c[0], c[1]) for c in cols] == [
        ("raw", "VARCHAR"),
        ("line1", "VARCHAR"),
        ("number", "VARCHAR"),
        ("street", "VARCHAR"),
        ("unit", "VARCHAR"),
        ("city", "VARCHAR"),
        ("state", "VARCHAR"),
        ("postal_code", "VARCHAR"),
        ("parsed", "BOOLEAN"),
        ("problem", "VARCHAR"),
    ]
    rows = {r[0]: r[1:] for r in con.execute("SELECT * FROM staging.address_lookup").fetchall()}
    assert rows["150 N. WILLOW ST MESQUITE, NV 89027"] == (
        "150 N WILLOW ST",
        "150",
        "N WILLOW ST",
        None,
        "MESQUITE",
        "NV",
        "89027",
        True,
        None,
    )
    assert rows["N/A"] == (None,) * 7 + (False, "empty")
    assert rows["STE 5"][3] == "STE 5" and rows["STE 5"][7] is True
    assert rows["123 Main St Suite 5 Suite 6 Reno NV 89501"][7] is False
    # the join back to every row works on `raw`
    joined = con.execute(
        "SELECT count(*) FROM raw_rows r JOIN staging.address_lookup l ON l.raw = r.address"
    ).fetchone()
    assert joined == (6,)


def test_lookup_parses_each_distinct_value_once(con: duckdb.DuckDBPyConnection) -> None:
    seen: list[str | None] = []

    def spy(text: str | None) -> ParsedAddress | None:
        seen.append(text)
        return parse_address(text)

    with mock.patch.object(addresses, "parse_address", side_effect=spy):
        address_lookup(con, "SELECT address FROM raw_rows", "lookup")
        # the common shape is parsed in SQL (clean/address_fast.py), the rest by the library
        assert sorted(seen) == sorted(set(seen)) and None not in seen and len(seen) == 3
        assert "150 N. WILLOW ST MESQUITE, NV 89027" not in seen
        # a second lookup on the connection (another feed of the same values) is cached
        address_lookup(con, "SELECT address FROM raw_rows", "lookup2")
    assert len(seen) == 3


def test_lookup_replaces_and_handles_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    assert address_lookup(con, "SELECT address FROM raw_rows", "lookup") == 4
    assert address_lookup(con, "SELECT address FROM raw_rows WHERE false", "lookup") == 0
    assert con.execute("SELECT count(*) FROM lookup").fetchone() == (0,)


@NEEDS_REAL
def test_lookup_over_the_real_file(con: duckdb.DuckDBPyConnection) -> None:
    assert CHILDCARE is not None
    path = str(CHILDCARE / "source1.csv").replace("'", "''")
    n = address_lookup(
        con,
        f"SELECT \"Address\" FROM read_csv('{path}', all_varchar=true, header=true)",
        "nv_addresses",
    )
    assert n == len(set(_column("source1.csv", "Address")))
    assert con.execute("SELECT bool_and(parsed) FROM nv_addresses").fetchone() == (True,)
