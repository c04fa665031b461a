"""Every example in docs/query-language.md runs against the test table, in DuckDB and in
PostgreSQL.

`query` blocks hold one query per line; each must parse, compile and execute, and give the same
rows in the same order in both stores. A `query-error` block must fail with a QueryError whose
message is the `text` block that follows it (in both).
"""

from __future__ import annotations

import os

import pytest

from crmpipe.search import QueryError, search
from support import query_docs
from support.search import ALIASES, SHORTHANDS, make_search_db, make_search_pg


@pytest.fixture(scope="module")
def con():
    return make_search_db()


@pytest.fixture(scope="module")
def pg(pg_dsn: str):
    """The same table in PostgreSQL (a database of this module's own)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"test_search_docs_{os.getpid()}"  # unique on a shared CRMPIPE_TEST_PG_DSN
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    dsn = make_conninfo(pg_dsn, dbname=name)
    make_search_pg(dsn)
    conn = psycopg.connect(dsn, autocommit=True)
    yield conn
    conn.close()
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_docs_have_examples_of_every_construct():
    examples = " ".join(query_docs.examples())
    for construct in (
        "title: finance",
        "filter: bob Accela >10000",
        "crm: a",
        " OR ",
        "NOT ",
        "-title:",
        "state:CA,TX",
        "..",
        "created>",
        '"finance director"',
        "(",
    ):
        assert construct in examples, construct
    assert len(query_docs.error_examples()) >= 5


@pytest.mark.parametrize("query", query_docs.examples())
def test_documented_query_runs(con, query):
    result = search(con, query, aliases=ALIASES, shorthands=SHORTHANDS)
    assert result.total >= len(result.rows)


@pytest.mark.parametrize(("query", "message"), query_docs.error_examples())
def test_documented_error_message_is_exact(con, query, message):
    with pytest.raises(QueryError) as e:
        search(con, query, aliases=ALIASES, shorthands=SHORTHANDS)
    assert str(e.value) == message


@pytest.mark.parametrize("query", query_docs.examples())
def test_documented_query_gives_the_same_rows_in_postgres(con, pg, query):
    opts = {"aliases": ALIASES, "shorthands": SHORTHANDS, "limit": 1000, "count_cap": None}
    duck = search(con, query, **opts)
    published = search(pg, query, **opts)
    assert published.rows == duck.rows
    assert published.total == duck.total


@pytest.mark.parametrize(("query", "message"), query_docs.error_examples())
def test_documented_error_message_is_the_same_in_postgres(pg, query, message):
    with pytest.raises(QueryError) as e:
        search(pg, query, aliases=ALIASES, shorthands=SHORTHANDS)
    assert str(e.value) == message
