"""Properties of every cleaner: it never raises, whatever the text, and it is idempotent.

Idempotent means: cleaning the cleaned value, rendered back to text (`CAST(... AS VARCHAR)`, the
way it would be exported), gives the same value. Values are checked in batches per query so
that hypothesis can try many of them quickly.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpipe.clean import MACRO_FOR_ROLE, ColumnSpec, clean_relation, clean_value, install_macros
from crmpipe.clean.phones import north_american_e164
from crmpipe.model import DUCKDB_TYPES, LINEAGE_COLUMNS, Role

pytestmark = pytest.mark.slow  # hypothesis tries hundreds of values per cleaner

# Alphabets that make role-shaped strings likely, so that idempotency is tested on values
# that clean to something, not only on NULLs.
_ALPHABETS: dict[Role, str] = {
    Role.PERSON_NAME: "abcXYZ éÉ'’-.( \t",
    Role.TEXT: "ab \t\n\u00a0\u2003\u200bX",
    Role.CATEGORY: "aB \t",
    Role.EMAIL_LIST: "ab.@-_+xn'\"<>[](),; \tCOM",
    Role.PHONE: "0123456789 +-().xet#;=/",
    Role.STATE: "CANYcany. -",
    Role.POSTAL_CODE: "0123456789 -",
    Role.URL: "abc.:/?#-_ WHTPS",
    Role.DATE: "0123456789-/: TZ+APMJan,",
    Role.TIMESTAMP: "0123456789-/: TZ+APM.",
    Role.INTEGER: "0123456789,.$()-+e ",
    Role.NUMBER: "0123456789,.$€()-+e %",
    Role.BOOLEAN: "yesnotrufaYN01 ",
    Role.LAT: "0123456789.-+e ",
    Role.LONG: "0123456789.-+e ",
    Role.ID: "aA1- \u00a0",
    Role.REF: "aA1- ",
}

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _texts(role: Role) -> st.SearchStrategy[list[str | None]]:
    one = st.one_of(
        st.text(max_size=40),
        st.text(alphabet=_ALPHABETS[role], max_size=30),
        st.none(),
    )
    return st.lists(one, min_size=1, max_size=25)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    install_macros(c)
    return c


def _check_batch(con: duckdb.DuckDBPyConnection, role: Role, values: list[str | None]) -> None:
    macro = MACRO_FOR_ROLE[role]
    # (Macros nested directly: a subquery column fed to a macro plans far more slowly.)
    rows = con.execute(
        f"SELECT v, {macro}(v) AS c, {macro}(CAST({macro}(v) AS VARCHAR)) AS c2 "
        "FROM unnest(?::VARCHAR[]) AS t(v)",
        [values],
    ).fetchall()
    bad = [row for row in rows if row[1] != row[2]]
    assert bad == [], f"{macro} is not idempotent on {bad[:3]}"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.PHONE])
def test_never_raises_and_idempotent(con: duckdb.DuckDBPyConnection, role: Role) -> None:
    @_SETTINGS
    @given(values=_texts(role))
    def check(values: list[str | None]) -> None:
        _check_batch(con, role, values)

    check()


@_SETTINGS
@given(values=_texts(Role.PHONE))
def test_phone_fast_path_idempotent(con: duckdb.DuckDBPyConnection, values: list) -> None:
    _check_batch(con, Role.PHONE, values)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(st.text(max_size=30), st.text(alphabet=_ALPHABETS[Role.PHONE], max_size=25)))
def test_phone_full_path_idempotent(con: duckdb.DuckDBPyConnection, value: str) -> None:
    """With phonenumbers for what the fast path cannot decide (any region)."""
    for region in ("US", "GB"):
        once = clean_value(con, Role.PHONE, value, region=region)
        assert clean_value(con, Role.PHONE, once, region=region) == once


@pytest.mark.parametrize(
    "value",
    ["", "\x00", "\ud7ff", "\U0010ffff", "a" * 100_000, "1" * 5000, "(" * 300, "\\", "'", '"'],
)
def test_odd_values(con: duckdb.DuckDBPyConnection, value: str) -> None:
    for role in Role:
        clean_value(con, role, value)  # must not raise


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.lists(st.text(max_size=20) | st.none(), min_size=17, max_size=17),
        min_size=1,
        max_size=20,
    )
)
def test_clean_relation_never_raises(con: duckdb.DuckDBPyConnection, rows: list) -> None:
    """Every role at once, on arbitrary text, through the pipeline path (phones included)."""
    roles = list(Role)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_any (_row BIGINT, "
        + ", ".join(f'"raw {r.value}" VARCHAR' for r in roles)
        + ")"
    )
    con.executemany(
        f"INSERT INTO raw_any VALUES (?{', ?' * len(roles)})",
        [[i, *row] for i, row in enumerate(rows)],
    )
    cols = []
    for r in roles:
        cols.append(f'"{r.value}" {DUCKDB_TYPES[r]}')
        if r is Role.PHONE:
            cols.append('"phone_ext" VARCHAR')
        if r is Role.URL:
            cols.append('"url_domain" VARCHAR')
    cols += [f"{n} {t}" for n, t in LINEAGE_COLUMNS]
    con.execute(f"CREATE OR REPLACE TEMP TABLE target_any ({', '.join(cols)})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE issues_any (table_name VARCHAR, _source VARCHAR,"
        " _file VARCHAR, _row BIGINT, _run_id BIGINT, column_name VARCHAR, code VARCHAR,"
        " value VARCHAR)"
    )
    n = clean_relation(
        con,
        raw_sql="SELECT 's' AS _source, 'f' AS _file, NULL::TIMESTAMP AS _file_mtime, "
        "'h' AS _file_hash, _row, 1::BIGINT AS _run_id, now()::TIMESTAMP AS _loaded_at, * "
        "EXCLUDE (_row) FROM raw_any",
        columns=[ColumnSpec(r.value, r, f"raw {r.value}") for r in roles],
        target="target_any",
        issues_table="issues_any",
        table_name="any",
    )
    assert n == len(rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.one_of(
            st.text(alphabet=_ALPHABETS[Role.PHONE], max_size=25),
            st.from_regex(
                r"\+?1?[ (]?[0-9]{3}[) .-]?[0-9]{3}[ .-]?[0-9]{4}( ?(x|ext\.|#) ?[0-9]{1,4})?",
                fullmatch=True,
            ),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_phone_fast_path_in_python_agrees(con: duckdb.DuckDBPyConnection, values: list) -> None:
    """north_american_e164 (what `crmpipe init` guesses phones by) is the SQL fast path."""
    values = [v.strip() for v in values]
    rows = con.execute(
        "SELECT v, crm_phone(v) FROM unnest(?::VARCHAR[]) AS t(v)", [values]
    ).fetchall()
    assert [(v, north_american_e164(v)) for v, _ in rows] == rows
