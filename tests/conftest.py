"""Shared pytest fixtures. Each section belongs to one area; add yours in a section of its own."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# ====================================================================================
# PostgreSQL (tests/pg_cluster.py): one server per test session, one database per test.
#
#   pg_dsn   session: DSN of a maintenance database on a server where we may CREATE DATABASE.
#            CRMPIPE_TEST_PG_DSN if set, else a throwaway cluster from the machine's binaries
#            (as root, run as the `postgres` user), stopped and deleted at session end.
#            Without binaries: skipped locally, an error in CI (CI=true).
#   pg_db    function: DSN of a fresh database `test_<pid>_<n>`, dropped after.
#   pg_conn  function: an autocommit psycopg connection to that database.
# ====================================================================================

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import pg_cluster`

_pg_db_numbers = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL server for this session (see the section comment above)."""
    psycopg = pytest.importorskip("psycopg")
    import pg_cluster

    dsn = os.environ.get("CRMPIPE_TEST_PG_DSN", "").strip()
    cluster: pg_cluster.PgCluster | None = None
    if not dsn:
        try:
            cluster = pg_cluster.start_cluster()
        except pg_cluster.PgUnavailable as exc:
            if _in_ci():
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
            if _in_ci():
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


# ==================================== end PostgreSQL ====================================


# ====================================================================================
# hypothesis: CI runs a fixed set of examples (derandomized), so a green commit stays green;
# local runs explore new examples each time.
# ====================================================================================
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if _in_ci():
    _hypothesis_settings.load_profile("ci")


# ====================================================================================
# Browser (headless Chromium driven by playwright): the HTML report is checked in a real browser.
#
#   browser  module: a playwright Browser on the machine's chromium (Debian's package, installed
#            by scripts/ensure-chromium.sh; CRMPIPE_CHROMIUM overrides the path). Playwright's
#            own browser downloads are never used. Without chromium: skipped locally, an error
#            in CI (CI=true). Module scope, not session: playwright's sync API runs an asyncio
#            loop in the test thread while it is open, and later tests that call asyncio.run()
#            (the shell's prompt) would fail.
# ====================================================================================


def _chromium_path() -> str | None:
    import shutil

    override = os.environ.get("CRMPIPE_CHROMIUM", "").strip()
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium for this test module (see the section comment above)."""
    executable = _chromium_path()
    if executable is None:
        msg = "no chromium found; run scripts/ensure-chromium.sh (or set CRMPIPE_CHROMIUM)"
        if _in_ci():
            pytest.fail(f"browser tests cannot run in CI: {msg}", pytrace=False)
        pytest.skip(f"browser tests skipped: {msg}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


# ===================================== end browser ======================================
