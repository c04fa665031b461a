"""Property tests (hypothesis) for the query language.

- Random well-formed queries return exactly the rows a small Python model of the matching rules
  (docs/query-language.md) selects, so the SQL and the documented semantics agree.
- Whatever text comes in, parsing and compiling raise nothing but QueryError, and the SQL runs.
- User values never reach the SQL text: the SQL depends only on the query's shape (and, for a
  free term, on how many words it has).
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crmpipe.search import Kind, QueryError, compile_query, parse, search
from crmpipe.search.ast import And, Compare, FieldMatch, FreeText, Not, Or, Range
from crmpipe.search.fields import resolve
from support.search import ALIASES, SHORTHANDS, fixture_fields, make_search_db

pytestmark = pytest.mark.slow  # hypothesis tries hundreds of queries per property

FIELDS = fixture_fields()
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def con():
    return make_search_db()


@pytest.fixture(scope="module")
def table(con):
    cur = con.execute("SELECT * FROM search.contact_search")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# -- a Python model of the matching rules ---------------------------------------------------


def _words_regex(words: list[str]) -> re.Pattern:
    sep, word = r"[\W_]", r"[^\W_]"
    return re.compile(r"(?:^|" + sep + ")" + (word + "*" + sep + "+").join(map(re.escape, words)))


def _num(text: str):
    return float(text) if re.search(r"[.eE]", text) else int(text)


def _ordered(kind: Kind, actual, op: str, text: str):
    """Compare a number/date/timestamp; a bare date on a timestamp means the whole day."""
    if actual is None:
        return None
    if kind is Kind.NUMBER:
        value = _num(text)
    elif kind is Kind.TIMESTAMP and "T" not in text:
        day = dt.date.fromisoformat(text)
        start, end = dt.datetime.combine(day, dt.time.min), dt.datetime.combine(day, dt.time.max)
        return {
            "=": start <= actual <= end,
            ">": actual > end,
            ">=": actual >= start,
            "<": actual < start,
            "<=": actual <= end,
        }[op]
    elif kind is Kind.TIMESTAMP:
        value = dt.datetime.fromisoformat(text)
    else:
        value = dt.date.fromisoformat(text)
    return {
        "=": actual == value,
        ">": actual > value,
        ">=": actual >= value,
        "<": actual < value,
        "<=": actual <= value,
    }[op]


def _and(values):
    values = list(values)
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values):
    values = list(values)
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def model(node, row) -> bool | None:
    """SQL three-valued truth of `node` for `row` (None = unknown: the field is empty)."""
    if isinstance(node, And):
        return _and(model(c, row) for c in node.children)
    if isinstance(node, Or):
        return _or(model(c, row) for c in node.children)
    if isinstance(node, Not):
        return not bool(model(node.child, row))
    if isinstance(node, FreeText):
        doc = row["document"]
        words = re.findall(r"[^\W_]+", node.text.lower())
        return None if doc is None else bool(_words_regex(words).search(doc))
    f = resolve(FIELDS, node.field)
    actual = row[f.column]
    if isinstance(node, Compare):
        if node.op == "=" and f.kind in (Kind.CODE, Kind.CODE_LIST, Kind.BOOLEAN):
            node = FieldMatch(node.field, (node.value,))
        else:
            return _ordered(f.kind, actual, node.op, node.value.text)
    results = []
    for v in node.values:
        if actual is None:
            results.append(None)
        elif isinstance(v, Range):
            results.append(
                _and(
                    [
                        _ordered(f.kind, actual, ">=", v.low.text) if v.low else True,
                        _ordered(f.kind, actual, "<=", v.high.text) if v.high else True,
                    ]
                )
            )
        elif f.kind is Kind.TEXT:
            results.append(v.text.lower() in actual.lower())
        elif f.kind is Kind.TEXT_LIST:
            results.append(any(v.text.lower() in e for e in actual))
        elif f.kind is Kind.CODE:
            results.append(actual.lower() == v.text.lower())
        elif f.kind is Kind.CODE_LIST:
            results.append(v.text.lower() in actual)
        elif f.kind is Kind.BOOLEAN:
            results.append(actual == (v.text.lower() in ("true", "yes")))
        else:
            results.append(_ordered(f.kind, actual, "=", v.text))
    return _or(results)


# -- random well-formed queries ---------------------------------------------------------------


def _quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


TEXT_VALUES = [
    "fin",
    "finance",
    "clerk",
    "director",
    "%",
    "_",
    '"city clerk"',
    "of",
    "chief",
    "MANAGER",
    '"finance & budget"',
]
TERMS = st.one_of(
    st.builds(
        lambda f, v: f"{f}:{v}",
        st.sampled_from(["title", "full_name", "display_name"]),
        st.sampled_from(TEXT_VALUES),
    ),
    st.builds(lambda v: f"email:{v}", st.sampled_from(["bob", "gov", "x", "@metro", "remote"])),
    st.builds(lambda v: f"tech:{v}", st.sampled_from(["accela", "tyler", "gran", "civicplus"])),
    st.builds(
        lambda vs: "state:" + ",".join(vs),
        st.lists(st.sampled_from(["CA", "tx", "ny", "WA", "zz"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda vs: "crm:" + ",".join(vs),
        st.lists(st.sampled_from(["a", "B", "c"]), min_size=1, max_size=2),
    ),
    st.builds(lambda v: f"category:{v}", st.sampled_from(["city", "Town", "village"])),
    st.builds(
        lambda op, v: f"pop{op}{v}",
        st.sampled_from([">", ">=", "<", "<=", "=", ":"]),
        st.sampled_from(["0", "3000", "10000", "50000", "600000", "2.5e4"]),
    ),
    st.builds(
        lambda lo, hi: f"pop:{lo}..{hi}",
        st.sampled_from(["", "5000", "10000"]),
        st.sampled_from(["50000", "90000"]),
    ),
    st.builds(
        lambda op, v: f"created{op}{v}",
        st.sampled_from([">", ">=", "<", "<=", ":"]),
        st.sampled_from(["2024-01-01", "2023-12-31", "2024-02-29", "2024-03-01T09:00"]),
    ),
    st.builds(
        lambda lo, hi: f"created:{lo}..{hi}",
        st.sampled_from(["2023-01-01", ""]),
        st.sampled_from(["2024-01-01", "2024-12-31"]),
    ),
    st.builds(
        lambda op, v: f"updated_on{op}{v}",
        st.sampled_from([">", "<=", ":"]),
        st.sampled_from(["2024-01-01", "2023-06-15"]),
    ),
    st.builds(lambda v: f"is_active:{v}", st.sampled_from(["true", "false", "yes"])),
    st.builds(lambda v: f"lat{v}", st.sampled_from([">40", "<35.5", ":40..42"])),
    st.sampled_from(
        [
            "fin",
            "finance",
            "bob",
            "accela",
            "director",
            "gov",
            "city",
            "of",
            '"finance director"',
            '"director finance"',
            '"fin dir"',
            "springfield",
            "bob.smith@springfield.gov",
        ]
    ),
)


def _queries():
    return st.recursive(
        TERMS,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} {b}", inner, inner),
            st.builds(lambda a, b: f"{a} AND {b}", inner, inner),
            st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
            st.builds(lambda a: f"-{a}" if not a.startswith("-") else f"NOT {a}", inner),
            st.builds(lambda a: f"NOT {a}", inner),
            st.builds(lambda a: f"({a})", inner),
        ),
        max_leaves=6,
    )


@SETTINGS
@given(query=_queries())
def test_results_match_the_python_model(con, table, query):
    result = search(con, query, aliases=ALIASES, limit=1000, columns=["contact_id"])
    got = [r[0] for r in result.rows]
    expected = {row["contact_id"] for row in table if model(parse(query), row) is True}
    assert set(got) == expected, query
    assert result.total == len(expected)
    assert len(got) == len(set(got))


# -- anything in, only QueryError out ---------------------------------------------------------

SOUP = st.lists(
    st.sampled_from(
        [
            "(",
            ")",
            "OR",
            "AND",
            "NOT",
            "-",
            '"',
            ",",
            "..",
            ":",
            ">",
            ">=",
            "=",
            "title:",
            "pop>",
            "pop:",
            "created:",
            "state:",
            "crm:",
            "tech:",
            "xyz:",
            "document:",
            "is_active:",
            "filter:",
            "bob",
            "1",
            "-5",
            "2024-01-01",
            "1e400",
            "99999999999999999999",
            "9999-12-31",
            "%",
            "_",
            "\\",
            "'",
            ";",
            " ",
            "  ",
            "\t",
            "\n",
            "é",
            "ß",
            "İ",
            "\x00",
            "*",
        ]
    ),
    max_size=12,
).map("".join)


@SETTINGS
@given(query=st.one_of(st.text(max_size=40), SOUP))
def test_only_query_errors_escape_and_compiled_sql_runs(con, query):
    try:
        where, params = compile_query(query, FIELDS, shorthands=SHORTHANDS)
    except QueryError as e:
        assert "\n" not in str(e) and str(e)
        return
    sql = f"SELECT count(*) FROM search.contact_search WHERE {where}"
    try:
        con.execute(sql, params).fetchone()
    except duckdb.Error as e:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{query!r} compiled to SQL DuckDB refused: {e}\n{sql}\n{params}")


# -- values never become SQL text ----------------------------------------------------------

NASTY = (
    st.lists(
        st.sampled_from(list("abcXYZ019 '\";%_\\-*()=,.:<>é\n\t") + ["--", "/*", "$$", "OR"]),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda s: s.strip())
)

SLOTS = {
    "text": "title:{}",
    "text_list": "email:{}",
    "code": "state:{}",
    "code_list": "crm:{}",
    "free": "{}",
    "negated": "-full_name:{}",
    "alternative": "bob OR {}",
}


#: A bijection of the letters and digits NASTY can produce onto other letters.
_RENAME = str.maketrans("abcxyzor019é", "klmnpqsuvwgh")


def _neutral(slot: str, value: str) -> str:
    """A harmless value giving the same SQL: field values are single placeholders, but a free
    term adds a substring prefilter per distinct word, so keep its words' count and lengths."""
    if slot in ("free", "alternative"):
        return " ".join(w.translate(_RENAME) for w in re.findall(r"[^\W_]+", value.lower()))
    return "x"


@SETTINGS
@given(values=st.lists(st.tuples(st.sampled_from(sorted(SLOTS)), NASTY), min_size=1, max_size=4))
def test_sql_depends_only_on_the_query_shape(con, values):
    for _, v in values:
        assume(re.search(r"[^\W_]", v))  # free terms need a letter or digit
    query = " ".join(SLOTS[slot].format(_quoted(v)) for slot, v in values)
    neutral = " ".join(SLOTS[slot].format(_quoted(_neutral(slot, v))) for slot, v in values)
    where, params = compile_query(query, FIELDS)
    neutral_where, _ = compile_query(neutral, FIELDS)
    assert where == neutral_where
    assert "'" not in where
    for _, v in values:
        if not set(v) <= set(neutral_where):
            assert v not in where
    con.execute(f"SELECT count(*) FROM search.contact_search WHERE {where}", params).fetchone()
