"""PostgreSQL fixtures: one server per test session, one database per test.

  pg_dsn   session: DSN of a maintenance database on a server where we may CREATE DATABASE.
           CRMPIPE_TEST_PG_DSN if set, else a throwaway cluster from the machine's binaries
           (crmpipe.publish.pgserver; as root, run as the `postgres` user), stopped and deleted
           at session end. Without binaries: skipped locally, an error in CI (CI=true).
  pg_db    function: DSN of a fresh database `test_<pid>_<n>`, dropped after.
  pg_conn  function: an autocommit psycopg connection to that database.

Under pytest-xdist each worker is a session of its own, so each starts its own cluster (on a
free port of its own, in a temporary directory of its own) and stops it when it ends; database
names carry the process id, so workers sharing CRMPIPE_TEST_PG_DSN do not collide either.
conftest.py marks every test that uses `pg_dsn` (directly or through `pg_db`/`pg_conn`) `pg`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from support.ci import in_ci

_pg_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL server for this session (see the module docstring)."""
    psycopg = pytest.importorskip("psycopg")
    from crmpipe.publish.pgserver import PgCluster, PgUnavailable, start_cluster

    dsn = os.environ.get("CRMPIPE_TEST_PG_DSN", "").strip()
    cluster: PgCluster | None = None
    if not dsn:
        try:
            cluster = start_cluster()
        except PgUnavailable as exc:
            if in_ci():
                pytest.fail(f"PostgreSQL tests cannot run in CI: {exc}", pytrace=False)
            pytest.skip(f"PostgreSQL tests skipped: {exc}")
        dsn = cluster.dsn("postgres")
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            trgm = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
            ).fetchone()
        if trgm is None:
            msg = "pg_trgm is not available on the test server; install postgresql-contrib"
            if in_ci():
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        yield dsn
    finally:
        if cluster is not None:
            cluster.stop()


def _with_dbname(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=dbname)


@pytest.fixture()
def pg_db(pg_dsn: str) -> Iterator[str]:
    """DSN of a new, empty database for one test, dropped afterwards (pg_trgm is available to
    CREATE EXTENSION in it: the code under test installs it, as it would in production)."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_pg_db_numbers)}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        # FILE_COPY (the pre-15 way) is the quicker one for a small template (PostgreSQL 15+).
        strategy = " STRATEGY FILE_COPY" if admin.info.server_version >= 150000 else ""
        admin.execute(f'CREATE DATABASE "{name}"{strategy}')
    try:
        yield _with_dbname(pg_dsn, name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def pg_conn(pg_db: str) -> Iterator[object]:
    """An autocommit psycopg connection to this test's fresh database."""
    import psycopg

    with psycopg.connect(pg_db, autocommit=True) as conn:
        yield conn
