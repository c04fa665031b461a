"""Each role's cleaner on a table of nasty inputs, through both paths that must agree.

Every case is checked with the public one-argument macro (`clean_value`, i.e. `SELECT
crm_<role>(...)`) and with `clean_relation` on a raw table holding all the cases of the role, so
the projection-level SQL of the pipeline and the ad-hoc macros cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest

from crmpipe.clean import (
    MACRO_FOR_ROLE,
    NULL_TOKENS,
    ColumnSpec,
    clean_relation,
    clean_value,
    install_macros,
)
from crmpipe.model import LINEAGE_COLUMNS, Role

D = dt.date
T = dt.datetime

# Tokens as exported, with case and padding noise; every role maps them to NULL.
NULLISH = [None, "", "   ", "\t\n", "\u00a0", "N/A", "NA", "n/a", " null ", "NULL", "None", "-"]
NULLISH += ["--", "nan", "NaN", "NAN", "\u3000n/a\u200b"]

CASES: dict[Role, list[tuple[str | None, object]]] = {
    Role.ID: [
        ("  AbC-123 ", "AbC-123"),  # trimmed, case kept
        ("a  b", "a  b"),  # inner whitespace kept
        ("\ufeff42\u00a0", "42"),  # BOM and NBSP at the ends
        ("0042", "0042"),
        ("ÄÖÜ-ß", "ÄÖÜ-ß"),
        ("N/A-1", "N/A-1"),
        ("none!", "none!"),
        ("x" * 300, "x" * 300),
    ],
    Role.TEXT: [
        ("  Finance \t  Director ", "Finance Director"),
        ("Line1\nLine2", "Line1 Line2"),
        ("a\u00a0\u00a0b", "a b"),
        ("CITY  CLERK", "CITY CLERK"),  # case kept
        ("café  crème", "café crème"),
        ("日本語  テキスト", "日本語 テキスト"),
        ("emoji 😀  ok", "emoji 😀 ok"),
        ("a\u2003b", "a b"),  # em space
        ("zero\u200bwidth", "zero\u200bwidth"),  # not whitespace inside a value
        ("- -", "- -"),
        ("n / a", "n / a"),
    ],
    Role.CATEGORY: [
        (" Payment  Processing ", "Payment Processing"),
        ("CMS", "CMS"),
        ("cms", "cms"),
        ("\tPermitting\r\n", "Permitting"),
        ("a\x0bb", "a b"),
        ("Ünïcödé", "Ünïcödé"),
        ("x", "x"),
        ("  multiple   inner   spaces  ", "multiple inner spaces"),
        ("nan-value", "nan-value"),
        ("NULLABLE", "NULLABLE"),
    ],
    Role.PERSON_NAME: [
        ("JOHN O'BRIEN", "John O'Brien"),
        ("mary-jane smith", "Mary-Jane Smith"),
        ("McDonald", "McDonald"),
        ("DeShawn", "DeShawn"),
        ("mcdonald", "Mcdonald"),
        ("  JANE   DOE  ", "Jane Doe"),
        ("J.R. SMITH", "J.R. Smith"),
        ("ÉMILE ZOLA", "Émile Zola"),
        ("zoë", "Zoë"),
        ("d’angelo", "D’Angelo"),
        ("MARY ANN VAN DER BERG", "Mary Ann Van Der Berg"),
        ("smith (jones)", "Smith (Jones)"),
        ("Jean-luc", "Jean-luc"),  # mixed case: kept
        ("o'neil-SMITH", "o'neil-SMITH"),
        ("X", "X"),
        ("x", "X"),
        ("123", "123"),
        ("ÅSA", "Åsa"),
        ("josé garcía", "José García"),
    ],
    Role.EMAIL_LIST: [
        ("Bob@Example.COM", ["bob@example.com"]),
        ("bob@x.com; BOB@x.com, alice@y.org", ["bob@x.com", "alice@y.org"]),
        ("<alice@y.org>", ["alice@y.org"]),
        ('"Smith, J" <j.smith@city.gov>', ["j.smith@city.gov"]),
        ("mailto:A@B.CO", ["a@b.co"]),
        ("'quoted@x.com'", ["quoted@x.com"]),
        ("o'brien@x.com", ["o'brien@x.com"]),
        ("a@b.com\tc@d.com\nE@F.org", ["a@b.com", "c@d.com", "e@f.org"]),
        ("[a@b.com, c@d.org]", ["a@b.com", "c@d.org"]),  # a list rendered as text
        ("bad@, good@x.io", ["good@x.io"]),
        ("first.last+tag@sub.domain.co.uk", ["first.last+tag@sub.domain.co.uk"]),
        ("bob@", None),
        ("@x.com", None),
        ("a..b@x.com", None),
        ("a@x..com", None),
        ("a@x.c", None),
        ("a b@x.com", ["b@x.com"]),  # whitespace separates: "a" is dropped (an issue)
        ("josé@x.com", None),  # ASCII only
        ("a@localhost", None),
        (",;,", None),
        ("a@xn--p1ai.xn--p1ai", ["a@xn--p1ai.xn--p1ai"]),
    ],
    Role.PHONE: [
        ("(212) 555-0142", "+12125550142"),
        ("212.555.0142", "+12125550142"),
        ("2125550142", "+12125550142"),
        ("+1 212 555 0142", "+12125550142"),
        ("1-212-555-0142", "+12125550142"),
        ("(212) 555-0142 x12", "+12125550142"),
        ("212-555-0142 ext. 7", "+12125550142"),
        ("212 555 0142 extension 99", "+12125550142"),
        ("212-555-0142#5", "+12125550142"),
        ("212-555-0142;ext=9", "+12125550142"),
        ("  +1 (212) 555-0142  ", "+12125550142"),
        ("(555) 123-4567", None),  # exchange starts with 1
        ("(112) 555-0142", None),  # area code starts with 1
        ("+44 20 7946 0958", "+442079460958"),  # phonenumbers
        ("0044 20 7946 0958", "+442079460958"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("1-800-FLOWERS", "+18003569377"),
        ("555-0142", None),  # 7 digits: no area code
        ("12345", None),
        ("not a phone", None),
        ("+1 212 555 0142 0000", None),
        ("２１２５５５０１４２", "+12125550142"),  # full-width digits: phonenumbers reads them
    ],
    Role.STATE: [
        ("CA", "CA"),
        ("ca", "CA"),
        (" Calif. ", "CA"),
        ("california", "CA"),
        ("New York", "NY"),
        ("N.Y.", "NY"),
        ("N. Carolina", "NC"),
        ("north carolina", "NC"),
        ("D.C.", "DC"),
        ("District of Columbia", "DC"),
        ("Fla.", "FL"),
        ("Tex.", "TX"),
        ("Mass.", "MA"),
        ("Penn.", "PA"),
        ("Penna.", "PA"),
        ("Wash.", "WA"),
        ("Ill.", "IL"),
        ("W. Va.", "WV"),
        ("Puerto Rico", "PR"),
        ("guam", "GU"),
        ("U.S. Virgin Islands", "VI"),
        ("American Samoa", "AS"),
        ("Northern Mariana Islands", "MP"),
        ("XX", None),
        ("Ontario", None),
        ("C A", "CA"),
        ("Californië", None),
    ],
    Role.POSTAL_CODE: [
        ("02134", "02134"),
        ("2134", "02134"),
        ("12345-6789", "12345-6789"),
        ("123456789", "12345-6789"),
        ("12345 6789", "12345-6789"),
        ("2134-1234", "02134-1234"),
        (" 90210 ", "90210"),
        ("1234", "01234"),
        ("123", None),
        ("1234567", None),
        ("123456", None),
        ("ABCDE", None),
        ("12345-67", None),
        ("K1A 0B1", None),
        ("１２３４５", None),
    ],
    Role.URL: [
        ("Example.com", "https://example.com"),
        ("HTTP://WWW.Example.com/", "http://www.example.com"),
        ("https://x.org/Path?q=1", "https://x.org/Path?q=1"),
        ("www.city.gov:8080/x", "https://www.city.gov:8080/x"),
        ("https://sub.city.gov/a/b/", "https://sub.city.gov/a/b/"),
        ("city.gov/?q=1", "https://city.gov/?q=1"),
        ("ftp://files.example.com", "ftp://files.example.com"),
        ("münchen.de", "https://münchen.de"),
        ("localhost", None),
        ("http://a b.com", None),
        ("http://", None),
        ("not a url", None),
        ("javascript:alert(1)", None),
        ("http://user@x.com", None),
        ("x.com/my page", None),
    ],
    Role.DATE: [
        ("2024-01-31", D(2024, 1, 31)),
        ("2024-1-5", D(2024, 1, 5)),
        ("2024/01/31", D(2024, 1, 31)),
        ("1/5/24", D(2024, 1, 5)),
        ("01/05/2024", D(2024, 1, 5)),
        ("1-5-2024", D(2024, 1, 5)),
        ("12/31/99", D(1999, 12, 31)),
        ("2024-01-31T23:30:00-05:00", D(2024, 1, 31)),  # the date as written
        ("1706700000", D(2024, 1, 31)),
        ("1706700000000", D(2024, 1, 31)),
        ("20240131", D(2024, 1, 31)),
        ("Jan 5, 2024", D(2024, 1, 5)),
        ("31-Jan-2024", D(2024, 1, 31)),
        ("1800-01-01", None),
        ("9999-12-31", None),
        ("1/1/0001", None),
        ("31/01/2024", None),
        ("2024-02-30", None),
        ("not a date", None),
        ("epoch", None),
        ("infinity", None),
    ],
    Role.TIMESTAMP: [
        ("2024-01-31T12:34:56", T(2024, 1, 31, 12, 34, 56)),
        ("2024-01-31 12:34:56", T(2024, 1, 31, 12, 34, 56)),
        ("2024-01-31T12:34:56Z", T(2024, 1, 31, 12, 34, 56)),
        ("2024-01-31 12:34:56+02:00", T(2024, 1, 31, 10, 34, 56)),
        ("2024-01-31T23:30:00-05:00", T(2024, 2, 1, 4, 30)),
        ("2024-01-31T12:00:00+0530", T(2024, 1, 31, 6, 30)),
        ("2024-01-31 12:34:56.123456", T(2024, 1, 31, 12, 34, 56, 123456)),
        ("2024-01-31", T(2024, 1, 31)),
        ("1/5/2024 3:04 PM", T(2024, 1, 5, 15, 4)),
        ("1/5/2024 12:04 AM", T(2024, 1, 5, 0, 4)),
        ("01/05/2024 14:30", T(2024, 1, 5, 14, 30)),
        ("1/5/24 14:30:15", T(2024, 1, 5, 14, 30, 15)),
        ("1706700000", T(2024, 1, 31, 11, 20)),
        ("1706700000123", T(2024, 1, 31, 11, 20, 0, 123000)),
        ("2024-01-31 12:00 EST", None),  # zone names are not guessed
        ("2024-01-31 12:00 PM", None),
        ("1/5/2024 13:04 PM", None),
        ("2024-01-31T12:00:00+99:99", None),
        ("2100-12-31T23:00:00-05:00", None),  # 2101 in UTC
        ("1899-12-31T23:59:59", None),
        ("yesterday", None),
    ],
    Role.INTEGER: [
        ("42", 42),
        (" -7 ", -7),
        ("+5", 5),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("(1,234)", -1234),
        ("$1,000", 1000),
        ("12.0", 12),
        ("12.", 12),
        ("1e3", 1000),
        ("9223372036854775807", 9223372036854775807),
        ("12.5", None),
        ("12%", None),
        ("1.2k", None),
        ("0x10", None),
        ("1,2", None),
        ("99999999999999999999", None),
        ("abc", None),
        ("--5", None),
    ],
    Role.NUMBER: [
        ("3.14", 3.14),
        ("1,234.56", 1234.56),
        ("(1,234.5)", -1234.5),
        ("€ 12", 12.0),
        ("-$5", -5.0),
        ("$-5", -5.0),
        ("£3.50", 3.5),
        ("¥1,000", 1000.0),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("1 234", 1234.0),
        ("12%", None),
        ("inf", None),
        ("Infinity", None),
        ("1.234,56", None),
        ("1.2k", None),
        ("(-5)", None),
        ("abc", None),
    ],
    Role.BOOLEAN: [
        ("yes", True),
        ("Yes", True),
        ("Y", True),
        ("TRUE", True),
        ("t", True),
        ("1", True),
        ("no", False),
        ("N", False),
        ("false", False),
        ("F", False),
        ("0", False),
        (" true ", True),
        ("maybe", None),
        ("2", None),
        ("on", None),
        ("yess", None),
    ],
    Role.LAT: [
        ("45.5", 45.5),
        ("-90", -90.0),
        ("90", 90.0),
        (" 40.7128 ", 40.7128),
        ("0", 0.0),
        ("-91", None),
        ("90.0001", None),
        ("abc", None),
        ("inf", None),
        ("40.7128 N", None),
    ],
    Role.LONG: [
        ("-122.6", -122.6),
        ("180", 180.0),
        ("-180", -180.0),
        ("-74.0060", -74.006),
        ("181", None),
        ("-180.5", None),
        ("1e3", None),
        ("west", None),
        ("-inf", None),
    ],
}

_PARAMS = [
    pytest.param(role, raw, want, id=f"{role.value}-{i}")
    for role, cases in CASES.items()
    for i, (raw, want) in enumerate(cases)
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    install_macros(c)
    return c


def _same(got: object, want: object) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-12)
    return got == want and type(got) is type(want)


@pytest.mark.parametrize(("role", "raw", "want"), _PARAMS)
def test_macro(con: duckdb.DuckDBPyConnection, role: Role, raw: str | None, want: object) -> None:
    got = clean_value(con, role, raw)
    assert _same(got, want), f"{MACRO_FOR_ROLE[role]}({raw!r}) = {got!r}, want {want!r}"


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("token", NULLISH)
def test_null_tokens(con: duckdb.DuckDBPyConnection, role: Role, token: str | None) -> None:
    assert clean_value(con, role, token) is None


def test_null_tokens_constant() -> None:
    assert {"", "n/a", "na", "null", "none", "-", "--", "nan"} == set(NULL_TOKENS)


def test_every_role_has_cases() -> None:
    assert set(CASES) | {Role.REF} == set(Role)


@pytest.mark.parametrize("role", [r for r in Role if r in CASES])
def test_clean_relation_agrees(con: duckdb.DuckDBPyConnection, role: Role) -> None:
    """The pipeline path gives each case the same value as the macro."""
    cases = CASES[role] + [(t, None) for t in NULLISH]
    con.execute("CREATE OR REPLACE TEMP TABLE raw_cases (_row BIGINT, value VARCHAR)")
    con.executemany("INSERT INTO raw_cases VALUES (?, ?)", list(enumerate(v for v, _ in cases)))
    typ = {Role.EMAIL_LIST: "VARCHAR[]"}.get(role, _duckdb_type(role))
    extra = {Role.PHONE: ", x_ext VARCHAR", Role.URL: ", x_domain VARCHAR"}.get(role, "")
    lineage = ", ".join(f"{n} {t}" for n, t in LINEAGE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE target (x {typ}{extra}, {lineage})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE issues (table_name VARCHAR, _source VARCHAR, _file VARCHAR,"
        " _row BIGINT, _run_id BIGINT, column_name VARCHAR, code VARCHAR, value VARCHAR)"
    )
    raw_sql = (
        "SELECT 's' AS _source, 'f.csv' AS _file, TIMESTAMP '2024-01-01' AS _file_mtime, "
        "'h' AS _file_hash, _row, 1::BIGINT AS _run_id, TIMESTAMP '2024-01-02' AS _loaded_at, "
        "value FROM raw_cases"
    )
    n = clean_relation(
        con,
        raw_sql=raw_sql,
        columns=[ColumnSpec("x", role, "value")],
        target="target",
        issues_table="issues",
        table_name="t",
    )
    assert n == len(cases)
    got = dict(con.execute("SELECT _row, x FROM target").fetchall())
    for i, (raw, want) in enumerate(cases):
        assert _same(got[i], want), f"{role}: {raw!r} -> {got[i]!r}, want {want!r}"
    # An issue for exactly the present values that came out NULL.
    issues = dict(con.execute("SELECT _row, value FROM issues").fetchall())
    failed = {i: raw for i, (raw, want) in enumerate(cases) if want is None and raw not in NULLISH}
    if role is Role.EMAIL_LIST:  # ... plus those that lost an invalid element
        failed |= {i: raw for i, (raw, want) in enumerate(cases) if raw in _PARTIAL_EMAILS}
    assert issues == failed


_PARTIAL_EMAILS = {"bad@, good@x.io", "a b@x.com"}


def _duckdb_type(role: Role) -> str:
    from crmpipe.model import DUCKDB_TYPES

    return DUCKDB_TYPES[role]
