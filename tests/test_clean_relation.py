"""`clean_relation` and `build_phone_lookup` on small raw tables (real DuckDB)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from crmpipe.clean import (
    ColumnSpec,
    build_phone_lookup,
    clean_relation,
    companion_suffixes,
    install_macros,
)
from crmpipe.model import CONTACTS, ENTITIES, Column, Role, duckdb_ddl

ISSUES_DDL = (
    "CREATE TABLE meta.row_issues (table_name VARCHAR, _source VARCHAR, _file VARCHAR,"
    " _row BIGINT, _run_id BIGINT, column_name VARCHAR, code VARCHAR, value VARCHAR)"
)

# Raw contacts as a CSV export gives them: headers with spaces and quotes, all VARCHAR.
RAW_ROWS = [
    # Contact ID, Place, First, Last, E-mail, Phone, Job "Title", Web, Created
    (
        "C1",
        "P1",
        "JOHN",
        "o'brien",
        "John@City.gov; j@city.gov",
        "(212) 555-0142 x12",
        "  Finance   Director ",
        "WWW.City.gov/",
        "2024-01-31T12:34:56Z",
    ),
    (
        "C2",
        "P1",
        " Mary-Jane ",
        "SMITH",
        "bad@, mj@city.gov",
        "+44 20 7946 0958",
        "Clerk",
        "https://city.gov/staff?id=2",
        "1/5/2024 3:04 PM",
    ),
    ("C3", "P2", "N/A", "", "n/a", "(555) 123-4567", "NULL", "localhost", "not a date"),
    ("C4", "P2", "DeShawn", "McDonald", "nobody", "555-0142", "-", "http://a b.com", "1706700000"),
    ("C5", None, None, None, None, None, None, None, None),
    (
        "C6",
        "P3",
        "zoë",
        "ÅSTRÖM",
        "<Z@X.IO>",
        "212.555.0142 ext. 7",
        "Mayor",
        "x.org:8080/a",
        "2024-01-31 12:34:56+02:00",
    ),
]
HEADERS = [
    "Contact ID",
    "Place",
    "First",
    "Last",
    "E-mail",
    "Phone",
    'Job "Title"',
    "Web",
    "Created",
]
MAPPING = {
    "contact_id": "Contact ID",
    "entity_id": "Place",
    "first_name": "First",
    "last_name": "Last",
    "emails": "E-mail",
    "phone": "Phone",
    "title": 'Job "Title"',
    "url": "Web",
    "created_at": "Created",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    install_macros(c)
    c.execute("CREATE SCHEMA raw; CREATE SCHEMA staging; CREATE SCHEMA meta")
    c.execute(ISSUES_DDL)
    cols = ", ".join(f"{_q(h)} VARCHAR" for h in HEADERS)
    c.execute(f"CREATE TABLE raw.contacts (_row BIGINT, {cols})")
    c.executemany(
        f"INSERT INTO raw.contacts VALUES (?{', ?' * len(HEADERS)})",
        [[i + 2, *row] for i, row in enumerate(RAW_ROWS)],
    )
    c.execute(duckdb_ddl(CONTACTS, "staging"))
    return c


RAW_SQL = (
    "SELECT 'crm_a' AS _source, 'contacts.csv' AS _file, TIMESTAMP '2024-06-01 10:00' AS "
    "_file_mtime, 'abc' AS _file_hash, _row, 7::BIGINT AS _run_id, TIMESTAMP '2024-06-02' AS "
    "_loaded_at, * EXCLUDE (_row) FROM raw.contacts"
)


def _specs() -> list[ColumnSpec]:
    return [ColumnSpec(c.name, c.role, MAPPING.get(c.name)) for c in CONTACTS.all_columns]


def _run(con: duckdb.DuckDBPyConnection, region: str = "US") -> int:
    return clean_relation(
        con,
        raw_sql=RAW_SQL,
        columns=_specs(),
        target="staging.contacts",
        issues_table="meta.row_issues",
        table_name="contacts",
        region=region,
    )


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, object]]:
    cur = con.execute("SELECT * FROM staging.contacts")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def test_values_companions_and_lineage(con: duckdb.DuckDBPyConnection) -> None:
    assert _run(con) == len(RAW_ROWS)
    rows = _rows(con)
    c1, c2, c3, c4, c5, c6 = (rows[f"C{i}"] for i in range(1, 7))
    assert (c1["first_name"], c1["last_name"]) == ("John", "O'Brien")
    assert c1["emails"] == ["john@city.gov", "j@city.gov"]
    assert (c1["phone"], c1["phone_ext"]) == ("+12125550142", "12")
    assert c1["title"] == "Finance Director"
    assert (c1["url"], c1["url_domain"]) == ("https://www.city.gov", "city.gov")
    assert c1["created_at"] == dt.datetime(2024, 1, 31, 12, 34, 56)
    assert c1["full_name"] is None and c1["department"] is None  # not mapped

    assert c2["first_name"] == "Mary-Jane" and c2["last_name"] == "Smith"
    assert c2["emails"] == ["mj@city.gov"]
    assert (c2["phone"], c2["phone_ext"]) == ("+442079460958", None)  # phonenumbers
    assert (c2["url"], c2["url_domain"]) == ("https://city.gov/staff?id=2", "city.gov")
    assert c2["created_at"] == dt.datetime(2024, 1, 5, 15, 4)

    assert all(c3[k] is None for k in MAPPING if k not in ("contact_id", "entity_id"))
    assert c3["phone_ext"] is None and c3["url_domain"] is None
    assert (c4["first_name"], c4["last_name"]) == ("DeShawn", "McDonald")
    assert c4["phone"] is None and c4["emails"] is None and c4["url"] is None
    assert c4["created_at"] == dt.datetime(2024, 1, 31, 11, 20)
    assert c5["entity_id"] is None and c5["emails"] is None

    assert (c6["first_name"], c6["last_name"]) == ("Zoë", "Åström")
    assert c6["emails"] == ["z@x.io"]
    assert (c6["phone"], c6["phone_ext"]) == ("+12125550142", "7")
    assert (c6["url"], c6["url_domain"]) == ("https://x.org:8080/a", "x.org")
    assert c6["created_at"] == dt.datetime(2024, 1, 31, 10, 34, 56)

    for r in rows.values():  # lineage passed through unchanged
        assert r["_source"] == "crm_a" and r["_file"] == "contacts.csv"
        assert r["_file_mtime"] == dt.datetime(2024, 6, 1, 10, 0) and r["_file_hash"] == "abc"
        assert r["_run_id"] == 7 and r["_loaded_at"] == dt.datetime(2024, 6, 2)
    assert {r["contact_id"]: r["_row"] for r in rows.values()} == {
        f"C{i}": i + 1 for i in range(1, 7)
    }


def test_issues(con: duckdb.DuckDBPyConnection) -> None:
    _run(con)
    got = set(
        con.execute(
            "SELECT table_name, _source, _file, _row, _run_id, column_name, code, value "
            "FROM meta.row_issues"
        ).fetchall()
    )
    head = ("contacts", "crm_a", "contacts.csv")
    assert got == {
        (*head, 3, 7, "emails", "invalid_email", "bad@, mj@city.gov"),  # one element dropped
        (*head, 4, 7, "phone", "invalid_phone", "(555) 123-4567"),  # fast path
        (*head, 4, 7, "url", "invalid_url", "localhost"),
        (*head, 4, 7, "created_at", "invalid_timestamp", "not a date"),
        (*head, 5, 7, "emails", "invalid_email", "nobody"),
        (*head, 5, 7, "phone", "invalid_phone", "555-0142"),  # phonenumbers
        (*head, 5, 7, "url", "invalid_url", "http://a b.com"),
    }


def test_region_outside_nanp(con: duckdb.DuckDBPyConnection) -> None:
    """With a GB default region, national numbers are read as British, all by phonenumbers."""
    con.execute("UPDATE raw.contacts SET Phone = '020 7946 0958 x3' WHERE \"Contact ID\" = 'C1'")
    _run(con, region="GB")
    rows = _rows(con)
    assert (rows["C1"]["phone"], rows["C1"]["phone_ext"]) == ("+442079460958", "3")
    assert rows["C2"]["phone"] == "+442079460958"
    assert rows["C6"]["phone"] is None  # 212.555.0142 is no British number


def test_constant_null_and_odd_sources(con: duckdb.DuckDBPyConnection) -> None:
    """A None source gives NULL (companions too); source names with quotes are quoted."""
    ent = ENTITIES.with_extensions(
        (Column("pop_estimate_2022", Role.INTEGER), Column("is_active", Role.BOOLEAN))
    )
    con.execute(duckdb_ddl(ent, "staging"))
    con.execute(
        "CREATE TABLE raw.places AS SELECT * FROM (VALUES "
        "('1', 'Springfield', 'Ill.', '2134', '39.78', '-89.65', ' 116,250 ', 'yes'),"
        "('2', 'Nowhere', 'Atlantis', '1234567', '91', '-200', '12.5', 'maybe')"
        ') t("place\'s id", name, st, zip, la, lo, "pop (2022)", active)'
    )
    src = {
        "entity_id": "place's id",
        "display_name": "name",
        "state": "st",
        "postal_code": "zip",
        "lat": "la",
        "long": "lo",
        "pop_estimate_2022": "pop (2022)",
        "is_active": "active",
    }
    n = clean_relation(
        con,
        raw_sql="SELECT 'places' AS _source, 'p.csv' AS _file, NULL::TIMESTAMP AS _file_mtime, "
        "NULL AS _file_hash, row_number() OVER () AS _row, 1::BIGINT AS _run_id, "
        "NULL::TIMESTAMP AS _loaded_at, * FROM raw.places",
        columns=[ColumnSpec(c.name, c.role, src.get(c.name)) for c in ent.all_columns],
        target="staging.entities",
        issues_table="meta.row_issues",
        table_name="entities",
    )
    assert n == 2
    rows = con.execute(
        "SELECT entity_id, state, postal_code, lat, long, pop_estimate_2022, is_active, phone, "
        "phone_ext, url, url_domain FROM staging.entities ORDER BY entity_id"
    ).fetchall()
    assert rows == [
        ("1", "IL", "02134", 39.78, -89.65, 116250, True, None, None, None, None),
        ("2", None, None, None, None, None, None, None, None, None, None),
    ]
    codes = con.execute(
        "SELECT column_name, code, value FROM meta.row_issues ORDER BY column_name"
    ).fetchall()
    assert codes == [
        ("is_active", "invalid_boolean", "maybe"),
        ("lat", "invalid_lat", "91"),
        ("long", "invalid_long", "-200"),
        ("pop_estimate_2022", "invalid_integer", "12.5"),
        ("postal_code", "invalid_postal_code", "1234567"),
        ("state", "invalid_state", "Atlantis"),
    ]


def test_date_number_issue_codes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE tgt (d DATE, n DOUBLE, _source VARCHAR, _file VARCHAR, _file_mtime "
        "TIMESTAMP, _file_hash VARCHAR, _row BIGINT, _run_id BIGINT, _loaded_at TIMESTAMP)"
    )
    n = clean_relation(
        con,
        raw_sql="SELECT 's' AS _source, 'f' AS _file, NULL::TIMESTAMP AS _file_mtime, "
        "NULL AS _file_hash, 1::BIGINT AS _row, 1::BIGINT AS _run_id, "
        "NULL::TIMESTAMP AS _loaded_at, '13/45/2024' AS a, '12%' AS b",
        columns=[ColumnSpec("d", Role.DATE, "a"), ColumnSpec("n", Role.NUMBER, "b")],
        target="tgt",
        issues_table="meta.row_issues",
        table_name="x",
    )
    assert n == 1
    assert con.execute("SELECT code, value FROM meta.row_issues ORDER BY 1").fetchall() == [
        ("invalid_date", "13/45/2024"),
        ("invalid_number", "12%"),
    ]


def test_temp_tables_dropped(con: duckdb.DuckDBPyConnection) -> None:
    _run(con)
    left = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'crm_%'"
    ).fetchall()
    assert left == []


def test_empty_relation(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM raw.contacts")
    assert _run(con) == 0
    assert con.execute("SELECT count(*) FROM meta.row_issues").fetchone() == (0,)


def test_companion_suffixes() -> None:
    assert companion_suffixes(Role.PHONE) == ("_ext",)
    assert companion_suffixes(Role.URL) == ("_domain",)
    assert companion_suffixes(Role.TEXT) == ()


def test_build_phone_lookup(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE phones AS SELECT * FROM (VALUES ('+44 20 7946 0958'), "
        "('+44 20 7946 0958'), ('+33 1 42 68 53 00 ext. 5'), ('555-0142'), ('(212) 555-0142'),"
        " ('n/a'), (NULL), ('+1 (555) 123 4567')) t(p)"
    )
    name = build_phone_lookup(con, "SELECT p FROM phones", "US")
    got = sorted(con.execute(f"SELECT raw, e164, ext FROM {name}").fetchall())
    # Only what the fast path cannot decide, once each; fast-path values are not there.
    assert got == [
        ("+33 1 42 68 53 00 ext. 5", "+33142685300", "5"),
        ("+44 20 7946 0958", "+442079460958", None),
        ("555-0142", None, None),
    ]
    gb = build_phone_lookup(con, "SELECT p FROM phones", "gb")
    assert dict(con.execute(f"SELECT raw, e164 FROM {gb}").fetchall())["(212) 555-0142"] is None
    con.execute(f"DROP TABLE {name}; DROP TABLE {gb}")


def test_install_macros_idempotent() -> None:
    c = duckdb.connect()
    install_macros(c)
    install_macros(c)
    assert c.execute("SELECT crm_state('Calif.'), crm_phone('212.555.0142')").fetchone() == (
        "CA",
        "+12125550142",
    )
    # TEMP macros: nothing is written into the database's own catalog.
    assert c.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'crm_state' "
        "AND database_name <> 'temp'"
    ).fetchone() == (0,)


def test_public_macros_in_sql() -> None:
    c = duckdb.connect()
    install_macros(c)
    row = c.execute(
        "SELECT crm_email_list('A@b.com; bad@'), crm_email_invalid('A@b.com; bad@'), "
        "crm_url_domain('WWW.City.GOV:8080/x'), crm_phone_ext('212-555-0142 x9'), "
        "crm_trim(chr(9) || ' x ' || chr(160)), crm_null(' N/A ')"
    ).fetchone()
    assert row == (["a@b.com"], ["bad@"], "city.gov", "9", "x", None)


def test_a_fill_sets_columns_from_the_cleaned_values_in_the_same_insert(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A `Fill` joins a lookup on a column's cleaned value: the filled column takes the
    joined value (NULL where nothing matched), the other columns keep their cleaned ones."""
    from crmpipe.clean.relation import Fill

    con.execute("CREATE TEMP TABLE _dept AS SELECT 'Clerk' AS title, 'Records' AS department")
    seen: list[str] = []

    def fill(stage: str, cleaned):  # noqa: ANN001, ANN202 - the FillHook signature
        seen.append(stage)
        assert cleaned("department") == "NULL"  # not mapped: no cleaned value
        title = cleaned("title")
        return [Fill([f"LEFT JOIN _dept d ON d.title = {title}"], {"department": "d.department"})]

    n = clean_relation(
        con,
        raw_sql=RAW_SQL,
        columns=_specs(),
        target="staging.contacts",
        issues_table="meta.row_issues",
        table_name="contacts",
        fill=fill,
    )
    assert n == len(RAW_ROWS) and len(seen) == 1
    rows = _rows(con)
    assert rows["C2"]["department"] == "Records" and rows["C2"]["title"] == "Clerk"
    assert {rows[f"C{i}"]["department"] for i in (1, 3, 4, 5, 6)} == {None}


def test_a_column_with_companions_cannot_be_filled(con: duckdb.DuckDBPyConnection) -> None:
    from crmpipe.clean.relation import Fill

    with pytest.raises(ValueError, match="companion"):
        clean_relation(
            con,
            raw_sql=RAW_SQL,
            columns=_specs(),
            target="staging.contacts",
            issues_table="meta.row_issues",
            table_name="contacts",
            fill=lambda stage, cleaned: [Fill([], {"phone": "NULL"})],
        )
