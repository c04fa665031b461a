"""Differential tests: the DuckDB warehouse and its PostgreSQL publish answer every query alike.

A small public-sector case (a few thousand generated contacts) is run through the pipeline and
published; then a fixed list of queries (every construct, the reference queries, the doc's
examples) and hypothesis-generated ones, built from the grammar's constructs over the real
fields and values sampled from the data, must give the same rows in the same order (contact_id
order, or the rank and then contact_id), the same count, or the same QueryError, in both stores.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish, search_ddl
from crmpipe.search import DuckDBBackend, Kind, PostgresBackend, QueryError, search
from crmpipe.warehouse.connection import connect
from support import query_docs

CONTACTS = 3000
DB_NAME = f"test_search_differential_{os.getpid()}"  # unique on a shared server
SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Every construct, on the case's real fields (and a few mistakes, whose messages must agree).
FIXED = [
    "title: finance",
    "filter: bob Accela >10000",
    "crm: a",
    "crm:b",
    "crm:a,b",
    "-crm:a",
    "title:finance",
    "title:FINANCE",
    'title:"director of finance"',
    "title:%",
    "title:_",
    'title:"\\\\"',
    "email:bob",
    "email:gov",
    "email:@",
    "-email:gov",
    # DuckDB tests these behind the emails' bigram signature (search.signature): one
    # character (no prefilter), LIKE wildcards, a quote, a bigram with a dot, a list, a negation
    "email:b",
    "email:%",
    "email:_",
    'email:"\'"',
    "email:.g",
    "email:ob,gov",
    "-email:ob",
    # needles without a trigram (row by row on PostgreSQL) beside entity terms
    "email:ob tech:acc pop>1000",
    "email:@ state:CA",
    "tech:accela",
    "tech:acc",
    "tech:tyler",
    "-tech:accela",
    "tech_types:cms",
    "tech_types:CMS,payment",
    "display_name:county",
    "display_name:city -display_name:county",
    "city:spring",
    "entity_url:gov",
    "state:CA",
    "state:ca,tx,ny",
    "-state:CA",
    "contact_id:c0000001",
    "entity_id:x",
    "domain:texas.gov",
    "pop>10000",
    "pop>=10000",
    "pop<1000",
    "pop:1000..50000",
    "pop:..5000,500000..",
    "-pop>10000",
    "pop=0",
    "lat>40",
    "long<-100",
    "lat:30..40 long:-100..-80",
    "created>2024-01-01",
    "created:2024-01-01",
    "created<=2023-06-30",
    "created:2023-01-01..2023-12-31",
    "created>2024-03-01T09:00",
    "-created>2024-01-01",
    "sfdc_id:x",
    "salesforce_ids:a",
    "fin",
    "finance",
    "accela",
    "bob",
    "gov",
    "refinance",
    '"finance director"',
    '"director of"',
    '"fin dir"',
    "fin -finance",
    "accela OR granicus",
    "accela OR granicus OR tyler",
    "(title:clerk OR title:treasurer) crm:a",
    "title:clerk OR title:intern state:TX",
    "-(title:clerk OR title:intern)",
    "NOT title:intern",
    "finance OR clerk state:TX",
    "(fin OR accela) pop>5000",
    # DuckDB tests two or more entity-level terms beside a contact term together on its
    # entity table (search.entities): with negations and alternatives around them
    "tech:accela pop>10000 title:a",
    "state:CA,TX -pop<5000 crm:a email:gov",
    "-state:CA -tech:accela email:o",
    "-(state:CA tech:accela email:gov)",
    "(tech:accela OR crm:a) display_name:county title:a",
    "lat:30..40 long:-100..-80 -email:gov",
    "titel:finance",
    "title>5",
    "pop:abc",
    "pop:10,000",
    "created>2024-13-01",
    "(title:clerk",
    "document:x",
    "",
]


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, pg_dsn: str
) -> Iterator[tuple[Config, duckdb.DuckDBPyConnection, object]]:
    """The case's warehouse (read-only) and a psycopg connection to its publish."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    folder = tmp_path_factory.mktemp("differential")
    case = pursuit.generate(folder, contacts=CONTACTS, seed=7)
    cfg = load_config(case.config_path)
    run(cfg)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    dsn = make_conninfo(pg_dsn, dbname=DB_NAME)
    con = connect(cfg.warehouse_path, read_only=True)
    # Titles through their vocabulary (as at scale, where a title repeats thousands of times;
    # a few thousand generated contacts have too many distinct titles for the default ratio).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_ddl, "VOCABULARY_MAX_RATIO", 1.0)
        publish(con, dsn, cfg=cfg)
    pg = psycopg.connect(dsn, autocommit=True)
    try:
        yield cfg, con, pg
    finally:
        pg.close()
        con.close()
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _answer(con: object, cfg: Config, query: str) -> tuple:
    """Everything a search says (rows in order, total) or its error, for comparison."""
    try:
        r = search(
            con,
            query,
            aliases=cfg.search.aliases,
            shorthands=cfg.search.shorthands,
            columns=["contact_id"],
            limit=CONTACTS * 2,
            count_cap=None,
        )
    except QueryError as exc:
        return ("error", str(exc))
    return ([row[0] for row in r.rows], r.total)


def _same(stores, query: str) -> tuple:
    cfg, duck, pg = stores
    want = _answer(duck, cfg, query)
    got = _answer(pg, cfg, query)
    assert got == want, query
    return want


def test_the_case_has_every_kind_of_field(stores) -> None:
    _, duck, pg = stores
    duck_fields = DuckDBBackend(duck).load_fields()
    pg_backend = PostgresBackend(pg)
    # The same fields, but for DuckDB's bigram signature of the emails, hashed tech names,
    # entity table and the emails' postings (its own prefilters; the publish doesn't copy them,
    # PostgreSQL's indexes serve there).
    assert duck_fields["emails"].signature_column == "_emails_sig"
    assert duck_fields["tech_names"].hash_column == "_tech_names_hash"
    assert duck_fields["tech_names"].hash_table == "search.contact_search_tech_names"
    assert duck_fields["pop_estimate_2022"].entity_table == "search.contact_search_entities"
    assert duck_fields["emails"].token_table == "search.contact_search_emails_tokens"
    unsigned = {
        k: dataclasses.replace(
            f,
            signature_column=None,
            hash_column=None,
            hash_table=None,
            entity_table=None,
            token_table=None,
        )
        for k, f in duck_fields.items()
    }
    assert pg_backend.load_fields() == unsigned
    # Every kind of PostgreSQL form is exercised: lookups by entity, by entity list, by value.
    lookups = pg_backend.dialect.lookups
    assert lookups['"display_name"'].key == '"entity_id"'
    assert lookups['"tech_names"'].field == "tech_names"
    assert lookups['"crm"'].field == "crm"
    assert lookups['"title"'].field == "title" and lookups['"title"'].key is None
    kinds = {f.kind for f in duck_fields.values()}
    assert {Kind.TEXT, Kind.TEXT_LIST, Kind.CODE, Kind.CODE_LIST, Kind.NUMBER} <= kinds
    assert {Kind.TIMESTAMP, Kind.DOCUMENT} <= kinds


@pytest.mark.parametrize("query", FIXED)
def test_fixed_queries_agree(stores, query: str) -> None:
    _same(stores, query)


def test_fixed_queries_are_telling(stores) -> None:
    """Most of the fixed queries match some rows and not all of them (a differential test of
    empty answers proves little)."""
    answers = [_same(stores, q) for q in FIXED]
    telling = [a for a in answers if a[0] != "error" and 0 < a[1] < CONTACTS * 0.99]
    assert len(telling) >= len(FIXED) * 0.6


def test_the_docs_examples_agree_on_the_case(stores) -> None:
    for query in query_docs.examples() + [q for q, _ in query_docs.error_examples()]:
        _same(stores, query)


def test_pages_and_capped_counts_agree(stores) -> None:
    """The default page (50, best first) and a count capped below the match count."""
    cfg, duck, pg = stores
    for query in (
        "crm:a",
        "crm:a,b",
        "fin",
        "accela OR granicus",
        "-title:intern",
        "state:TX",
        "tech:acc",
        "-tech:accela",
        "title:director",
        "display_name:county",
        "tech_types:cms email:gov",
    ):
        opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
        a = search(duck, query, count_cap=100, **opts)
        b = search(pg, query, count_cap=100, **opts)
        assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query


# -- hypothesis: queries from the grammar's constructs over the data's own values -------------

_SIMPLE = re.compile(r"[A-Za-z0-9@._'/&+-]+")


def _value(text: str) -> str:
    """`text` as a query value: bare when that parses as it is, else in double quotes."""
    if _SIMPLE.fullmatch(text) and ".." not in text and not text.startswith("-"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Samples(dict):
    """Values sampled from the data; a short repr, as it shows in strategies' reprs."""

    def __repr__(self) -> str:
        return f"<samples of {len(self)} fields>"


def _samples(duck: duckdb.DuckDBPyConnection, cfg: Config) -> dict[str, list]:
    """Per field, up to 60 distinct values (list elements for lists); 'words' from documents."""
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    out: dict[str, list] = _Samples()
    for f in fields.values():
        if f.is_alias or f.kind in (Kind.DOCUMENT, Kind.BOOLEAN):
            continue
        col = f'"{f.column}"'
        expr = f"unnest({col})" if f.kind in (Kind.TEXT_LIST, Kind.CODE_LIST) else col
        rows = duck.execute(
            f"SELECT DISTINCT v FROM (SELECT {expr} AS v FROM search.contact_search) "
            "WHERE v IS NOT NULL ORDER BY hash(v) LIMIT 60"
        ).fetchall()
        if rows:
            out[f.name] = [r[0] for r in rows]
    words = duck.execute(
        r"SELECT DISTINCT unnest(regexp_extract_all(document, '[\pL\pN]+')) AS w "
        "FROM search.contact_search ORDER BY hash(w) LIMIT 300"
    ).fetchall()
    out["words"] = [w for (w,) in words]
    docs = duck.execute(
        "SELECT document FROM search.contact_search WHERE document IS NOT NULL "
        "ORDER BY hash(contact_id) LIMIT 100"
    ).fetchall()
    out["documents"] = [d for (d,) in docs]
    out["_kinds"] = [(f.name, f.kind) for f in fields.values() if f.name in out]
    return out


@st.composite
def _substring(draw: st.DrawFn, values: list[str]) -> str:
    v = draw(st.sampled_from(values))
    start = draw(st.integers(0, max(0, len(v) - 1)))
    end = draw(st.integers(start + 1, min(len(v), start + 10)))
    part = v[start:end]
    case = draw(st.sampled_from([str, str.lower, str.upper]))
    return case(part)


@st.composite
def _term(draw: st.DrawFn, data: dict[str, list]) -> str:
    name, kind = draw(st.sampled_from(data["_kinds"]))
    values = data[name]
    if kind in (Kind.TEXT, Kind.TEXT_LIST):
        parts = draw(st.lists(_substring(values), min_size=1, max_size=2))
        parts = [p for p in parts if p.strip()] or ["a"]
        return f"{name}:" + ",".join(_value(p) for p in parts)
    if kind in (Kind.CODE, Kind.CODE_LIST):
        picked = draw(st.lists(st.sampled_from([*values, "zz-none"]), min_size=1, max_size=3))
        case = draw(st.sampled_from([str, str.lower, str.upper]))
        return f"{name}:" + ",".join(_value(case(str(v))) for v in picked)
    if kind is Kind.NUMBER:
        v = draw(st.sampled_from(values))
        text = repr(v) if isinstance(v, float) else str(v)
        shape = draw(st.sampled_from(["op", "eq", "range"]))
        if shape == "op":
            return f"{name}{draw(st.sampled_from(['>', '>=', '<', '<=', '=']))}{text}"
        if shape == "eq":
            return f"{name}:{text}"
        w = draw(st.sampled_from(values))
        lo, hi = sorted([v, w])
        lo_t, hi_t = (repr(x) if isinstance(x, float) else str(x) for x in (lo, hi))
        return f"{name}:{draw(st.sampled_from([lo_t, '']))}..{hi_t}"
    # timestamps and dates: a day, or a moment
    v = draw(st.sampled_from(values))
    text = v.date().isoformat() if draw(st.booleans()) or kind is Kind.DATE else v.isoformat()
    op = draw(st.sampled_from([">", ">=", "<", "<=", ":"]))
    return f"{name}{op}{_value(text) if 'T' in text or ' ' in text else text}"


@st.composite
def _free(draw: st.DrawFn, data: dict[str, list]) -> str:
    if draw(st.booleans()):
        word = draw(st.sampled_from(data["words"]))
        prefix = word[: draw(st.integers(1, len(word)))]
        return prefix if prefix.upper() not in ("OR", "AND", "NOT") else f'"{prefix}"'
    # a phrase: consecutive words of a real document, each cut to a prefix
    doc_words = re.findall(r"[^\W_]+", draw(st.sampled_from(data["documents"])))
    if len(doc_words) < 2:
        return doc_words[0] if doc_words else "gov"
    i = draw(st.integers(0, len(doc_words) - 2))
    n = draw(st.integers(2, min(3, len(doc_words) - i)))
    words = [w[: draw(st.integers(1, len(w)))] for w in doc_words[i : i + n]]
    return '"' + " ".join(words) + '"'


def _queries(data: dict[str, list]) -> st.SearchStrategy[str]:
    leaf = st.one_of(_term(data), _term(data), _free(data))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} {b}", inner, inner),
            st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
            st.builds(lambda a: f"-({a})", inner),
            st.builds(lambda a: f"NOT {a}", inner),
            st.builds(lambda a, b: f"({a} OR {b})", inner, inner),
        ),
        max_leaves=5,
    )


@pytest.fixture(scope="module")
def data(stores) -> dict[str, list]:
    cfg, duck, _ = stores
    return _samples(duck, cfg)


@SETTINGS
@given(st.data())
def test_generated_queries_agree(stores, data, draw) -> None:
    query = draw.draw(_queries(data), label="query")
    _same(stores, query)


#: Text that is mostly not a valid query: whatever comes in, both stores raise the same
#: QueryError or give the same rows (never another exception).
_SOUP = st.lists(
    st.sampled_from(
        [
            "title:",
            "email:",
            "tech:",
            "crm:",
            "pop>",
            "created<",
            "state:",
            "fin",
            "gov",
            "a",
            "OR",
            "NOT",
            "-",
            "(",
            ")",
            '"',
            ",",
            "..",
            "10000",
            "2024-01-01",
            "%",
            "_",
            "\\",
            "'",
            " ",
            "é",
            "ß",
            "İ",
            "\x00",
            ":*",
            "<->",
            "&",
            "|",
            "!",
        ]
    ),
    max_size=10,
).map("".join)


@SETTINGS
@given(query=st.one_of(st.text(max_size=30), _SOUP))
def test_arbitrary_text_agrees(stores, query: str) -> None:
    _same(stores, query)


def test_a_long_key_walk_falls_back_to_collecting_the_matches(stores) -> None:
    """PostgresBackend.key_order_page: a walk cancelled at KEY_WALK_TIMEOUT runs again with
    plain index scans off; the session's settings are as before either way."""
    _, _, pg = stores
    backend = PostgresBackend(pg)
    before = pg.execute(
        "SELECT current_setting('enable_sort'), current_setting('enable_indexscan'), "
        "current_setting('statement_timeout')"
    ).fetchone()
    rows = backend.key_order_page("SELECT x FROM (SELECT 1 AS x, pg_sleep(0.3)) s", [])
    assert rows == [(1,)]
    after = pg.execute(
        "SELECT current_setting('enable_sort'), current_setting('enable_indexscan'), "
        "current_setting('statement_timeout')"
    ).fetchone()
    assert after == before


def test_a_walk_is_given_as_long_as_the_count_took(stores, monkeypatch) -> None:
    """A walk slower than KEY_WALK_TIMEOUT but quicker than the query's count finishes (the
    matches collected instead would cost more than the count); one slower than both is
    cancelled and the page collected, with index scans off."""
    from crmpipe.search import backends

    monkeypatch.setattr(backends, "KEY_WALK_TIMEOUT", "100ms")
    _, _, pg = stores
    backend = PostgresBackend(pg)
    sql = "SELECT current_setting('enable_indexscan') FROM (SELECT pg_sleep(0.3)) s"
    assert backend.key_order_page(sql, [], counted_in=1.0) == [("on",)]
    assert backend.key_order_page(sql, [], counted_in=0.05) == [("off",)]


def test_pages_agree_whichever_way_postgres_reads_them(stores, monkeypatch) -> None:
    """With a walk timeout too short to finish, every capped page is read the other way."""
    from crmpipe.search import backends

    monkeypatch.setattr(backends, "KEY_WALK_TIMEOUT", "1ms")
    monkeypatch.setattr(backends, "WALK_PATIENCE", 0.0)
    cfg, duck, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    queries = (
        "crm:a",
        "created>2023-06-01",
        "tech:acc",
        "fin",
        "state:TX",
        "state:TX created>2023-01-01",
    )
    for query in queries:
        a = search(duck, query, count_cap=100, **opts)
        b = search(pg, query, count_cap=100, **opts)
        assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query


#: Date ranges whose page PostgreSQL reads month by month: open on either side, closed, a day
#: of a timestamp, within one month, across years, empty, a date and time as the edge.
DATE_RANGES = [
    "created>2024-01-01",
    "created>=2015-01-01",
    "created<2020-06-15",
    "created<=2023-06-30",
    "created:2023-01-01..2023-12-31",
    "created:2019-02-03..2019-02-20",
    "created:2022-05-10",
    "created>2023-03-01T09:30 created<2024-02-01",
    "created:2015-01-01..",
    "created:..2016-01-01",
    "created>2099-01-01",
]


@pytest.mark.parametrize("query", DATE_RANGES)
@pytest.mark.parametrize(("limit", "count_cap"), [(50, 100), (10, 20), (7, None), (50, 10_000)])
def test_date_range_pages_agree_without_walking_the_keys(
    stores, monkeypatch, query: str, limit: int, count_cap: int | None
) -> None:
    """A range on `created` with many more matches than a page is read month by month through
    the month index (crmpipe.search.months.month_page_keys), never by walking the key index
    (which, with keys given out in creation order, passes every earlier row first), and its
    page is DuckDB's whatever the cap and the page size."""

    _same_page_without_the_key_walk(stores, monkeypatch, query, limit, count_cap)


def _same_page_without_the_key_walk(
    stores, monkeypatch, query: str, limit: int, count_cap: int | None
) -> None:
    """`query`'s page and count on PostgreSQL are DuckDB's, with the key walk forbidden."""

    def no_walk(self: PostgresBackend, sql: str, params: list, **kw: object) -> list:
        raise AssertionError(f"the key index was walked for {query!r}")

    monkeypatch.setattr(PostgresBackend, "key_order_page", no_walk)
    cfg, duck, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    a = search(duck, query, limit=limit, count_cap=count_cap, **opts)
    b = search(pg, query, limit=limit, count_cap=count_cap, **opts)
    assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query


#: Date ranges beside other terms: an entity code, a contact's text, a negation, a number.
DATE_RANGES_BESIDE = [
    "created>2023-06-01 state:TX",
    "created:2022-01-01..2023-12-31 email:a",
    "created<2024-03-01 -state:CA crm:a",
    "created>=2015-01-01 pop>1000 title:director",
    "state:NY created:2023-02-01..2023-02-28",
]


@pytest.mark.parametrize("query", DATE_RANGES_BESIDE)
@pytest.mark.parametrize(("limit", "count_cap"), [(50, 100), (10, 20), (7, None)])
def test_date_ranges_beside_other_terms_page_month_by_month(
    stores, monkeypatch, query: str, limit: int, count_cap: int | None
) -> None:
    """A range on `created` beside other terms, with more matches than a page, whose short key
    walk is given up, is read month by month (the other terms tested on each month's walk),
    not by walking the key index again or collecting the matches, and its page is DuckDB's."""

    walk = PostgresBackend.walk

    def months_only(self: PostgresBackend, sql: str, params: list, **kw: object) -> list | None:
        return walk(self, sql, params, **kw) if "LATERAL" in sql else None

    monkeypatch.setattr(PostgresBackend, "walk", months_only)
    _same_page_without_the_key_walk(stores, monkeypatch, query, limit, count_cap)


def test_a_range_beside_other_terms_whose_matches_come_first_walks_the_keys(
    stores, monkeypatch
) -> None:
    """Beside other terms, a range whose matches come early in the key order (keys given out
    in time order: `created<` a date) is answered by the short key walk, before any month."""
    from crmpipe.search import executor

    def no_months(*args: object) -> None:
        raise AssertionError("read month by month")

    monkeypatch.setattr(executor, "month_page_keys", no_months)
    cfg, duck, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    for query in ("created<2024-01-01 state:TX", "email:a created<2025-01-01"):
        a = search(duck, query, limit=5, count_cap=10, **opts)
        b = search(pg, query, limit=5, count_cap=10, **opts)
        assert a.capped and (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query


def test_a_month_walk_given_up_collects_the_matches(stores, monkeypatch) -> None:
    """A range beside other terms whose short key walk and month walk both outlast their time
    is read by collecting the matches, with the same answer and the session's settings as
    before."""
    from crmpipe.search import backends

    monkeypatch.setattr(backends, "KEY_WALK_TIMEOUT", "1ms")
    monkeypatch.setattr(backends, "KEY_WALK_FIRST", "1ms")
    monkeypatch.setattr(backends, "WALK_PATIENCE", 0.0)
    given_up = []
    walk = PostgresBackend.walk

    def slow(self: PostgresBackend, sql: str, params: list, **kw: object) -> list | None:
        got = walk(self, f"SELECT * FROM ({sql}) w_, pg_sleep(0.05)", params, **kw)
        given_up.append(got is None)
        return got

    monkeypatch.setattr(PostgresBackend, "walk", slow)
    cfg, duck, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    before = pg.execute(
        "SELECT current_setting('enable_sort'), current_setting('statement_timeout')"
    ).fetchone()
    query = "created>2015-01-01 state:TX"
    a = search(duck, query, limit=5, count_cap=10, **opts)
    b = search(pg, query, limit=5, count_cap=10, **opts)
    assert a.capped
    assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped)
    assert given_up == [True, True]  # the short key walk's, then the month walk's
    after = pg.execute(
        "SELECT current_setting('enable_sort'), current_setting('statement_timeout')"
    ).fetchone()
    assert after == before


def test_the_month_walk_reads_the_month_index(stores) -> None:
    """The month statement's plan walks contact_search's month index per month, beside other
    terms too, and a range the query does not require (an OR, a negation) is not read that
    way."""
    from crmpipe.search import executor

    cfg, _, pg = stores
    backend = PostgresBackend(pg)
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    plan = executor._plan(
        backend,
        "created>2024-01-01",
        limit=50,
        count_cap=100,
        columns=None,
        table=None,
        fields=None,
        **opts,
    )
    assert plan.month_sql is not None and plan.month_index is not None
    assert backend.has_relation(plan.month_index)
    months = [dt.datetime(2024, m, 1) for m in range(1, 13)]
    lines = backend.explain(plan.month_sql, [months, *plan.compiled.params, 50, 50])
    assert any("contact_search_created_at_month_idx" in line for line in lines), lines
    beside = executor._plan(
        backend,
        "created>2024-01-01 state:CA",
        limit=50,
        count_cap=100,
        columns=None,
        table=None,
        fields=None,
        **opts,
    )
    assert beside.month_sql is not None and not beside.compiled.date_range.alone
    lines = backend.explain(beside.month_sql, [months, *beside.month_params, 50, 50])
    assert any("contact_search_created_at_month_idx" in line for line in lines), lines
    for query in ("created>2024-01-01 OR pop>10", "-created<2020-01-01"):
        other = executor._plan(
            backend, query, limit=50, count_cap=100, columns=None, table=None, fields=None, **opts
        )
        assert other.month_sql is None, query


#: Queries PostgreSQL can read through their e-mail term's candidates first (search.candidates).
LEADS = [
    "filter: bob Accela >10000",
    "email:gov state:CA",
    "email:gov tech:acc pop>1000",
    "email:gov -state:TX crm:a",
    "email:com (state:CA OR pop>10000)",
    "email:gov display_name:spring",
]


@pytest.mark.parametrize("mode", ["candidates", "one statement", "as estimated"])
@pytest.mark.parametrize(("limit", "count_cap"), [(50, 10_000), (5, 20), (CONTACTS, None)])
def test_terms_read_first_agree_whichever_way_postgres_counts(
    stores, monkeypatch, mode: str, limit: int, count_cap: int | None
) -> None:
    """A query with a term that can be read first answers as DuckDB does: through the term's
    candidates, as one statement, and as the planner's estimates of the two sides choose (the
    estimates asked each time)."""
    from crmpipe.search import candidates

    if mode != "as estimated":
        sides = (0.0, 1.0) if mode == "candidates" else (1.0, 0.0)
        monkeypatch.setattr(candidates, "_estimates", lambda explained: sides)
    cfg, duck, pg = stores
    backend = PostgresBackend(pg)
    ran: list[str] = []
    execute = backend.execute
    monkeypatch.setattr(backend, "execute", lambda sql, p=(): ran.append(sql) or execute(sql, p))
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    for query in LEADS:
        ran.clear()
        a = search(duck, query, limit=limit, count_cap=count_cap, **opts)
        b = search(backend, query, limit=limit, count_cap=count_cap, **opts)
        assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query
        asked = [s for s in ran if s.startswith("EXPLAIN (FORMAT JSON)") and "UNION ALL" in s]
        through = [s for s in ran if ") c_ WHERE" in s]
        one = [s for s in ran if s.startswith('WITH m AS MATERIALIZED (SELECT "contact_id"')]
        assert len(asked) == 1 and len(through) + len(one) == 1, (query, ran)
        if mode != "as estimated":
            assert len(through) == (mode == "candidates"), (query, ran)


def test_explain_shows_the_terms_read_first(stores) -> None:
    """`explain` on PostgreSQL prints the two-phase statement (and its plan) for a query that
    has one, and not for one that has none."""
    from crmpipe.search import explain

    cfg, _, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    text = explain(pg, "email:gov state:CA", **opts)
    assert "read through one term's candidates first" in text
    statement = text.split("read through one term's candidates first")[1]
    assert "UNION ALL" in statement and ") c_ WHERE" in statement and "_emails_joined" in statement
    assert explain(pg, "state:CA", **opts).count("candidates first") == 0


def test_explain_shows_how_a_range_beside_other_terms_is_paged(stores) -> None:
    """`explain` prints the month statement of a date range, and for a range beside other
    terms how it is walked and given up; nothing of the kind for a query without a range."""
    from crmpipe.search import explain

    cfg, _, pg = stores
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    beside = explain(pg, "created>2020-01-01 state:CA", **opts)
    assert "month by month" in beside and "beside other terms: walked" in beside
    alone = explain(pg, "created>2020-01-01", **opts)
    assert "month by month" in alone and "beside other terms" not in alone
    assert "month by month" not in explain(pg, "state:CA", **opts)


@pytest.mark.parametrize("most", [1000, 1])
def test_a_vocabulary_term_is_written_with_its_values(stores, monkeypatch, most: int) -> None:
    """On PostgreSQL a term on a vocabulary field (`title`) is written with the values it
    matches, read first (the planner then knows how many rows they hold), or as a subquery on
    the vocabulary when they are more than VOCABULARY_VALUES_MAX; the same answers as DuckDB
    either way."""
    from crmpipe.search import backends, executor

    monkeypatch.setattr(backends, "VOCABULARY_VALUES_MAX", most)
    cfg, duck, pg = stores
    backend = PostgresBackend(pg)
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    for query in ("title:an state:CA pop>1000", "title:an", "-title:an", "title:zzzq"):
        plan = executor._plan(
            backend, query, limit=50, count_cap=100, columns=None, table=None, fields=None, **opts
        )
        listed = [p for p in plan.compiled.params if isinstance(p, list)]
        if query == "title:zzzq":  # no title holds it: nothing to list, nothing matches
            assert plan.compiled.where == "false", plan.compiled.where
        elif most > 1:
            assert '"title" = ANY(' in plan.compiled.where and len(listed[0]) > 1, query
        else:
            assert "search_values" in plan.compiled.where and not listed, query
        for cap in (100, None):
            a = search(duck, query, count_cap=cap, **opts)
            b = search(backend, query, count_cap=cap, **opts)
            assert (b.rows, b.total, b.capped) == (a.rows, a.total, a.capped), query


def test_entity_terms_beside_a_vocabulary_or_date_term_count_on_the_index(stores) -> None:
    """The B-trees of a vocabulary field (`title`) and of a date cover the key and the entity,
    so a count of `title:… state:CA` or `created>… state:CA` reads the index alone (no row of
    the view) when the planner walks it."""
    from crmpipe.search import executor

    cfg, _, pg = stores
    backend = PostgresBackend(pg)
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands}
    defs = dict(
        pg.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'crmpipe' "
            "AND tablename = 'contact_search'"
        ).fetchall()
    )
    assert "INCLUDE (contact_id, entity_id)" in defs["contact_search_title_idx"]
    assert "INCLUDE (contact_id, entity_id)" in defs["contact_search_created_at_idx"]
    pg.execute("VACUUM (ANALYZE) crmpipe.contact_search")
    for query, index in (
        ("title:director state:CA", "contact_search_title_idx"),
        ("created>2020-01-01 state:CA", "contact_search_created_at_idx"),
    ):
        plan = executor._plan(
            backend, query, limit=50, count_cap=100, columns=None, table=None, fields=None, **opts
        )
        pg.execute("SET enable_seqscan = off")
        pg.execute("SET enable_bitmapscan = off")
        try:
            lines = backend.explain(plan.first_sql, [*plan.first_params, 101, 100, 50])
        finally:
            pg.execute("RESET enable_seqscan")
            pg.execute("RESET enable_bitmapscan")
        assert any(f"Index Only Scan using {index}" in line for line in lines), (query, lines)
