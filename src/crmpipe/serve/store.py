"""Opening a store for reading: which PostgreSQL DSN to use (`resolve_dsn`), a plain
autocommit connection to it (`open_connection`, which crmpipe.publish builds on), a read-only
search session (`connect_pg`: search, the shell, the CLI), and `open_store`, the DuckDB
warehouse or PostgreSQL behind one context manager.

Failures are one-line `StoreError`s that name the server, never the password. psycopg is
imported by the functions that connect, when they do: reading the DuckDB warehouse
(`crmpipe search` without --pg, runs, quarantine, ...) does not load it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from crmpipe.config.schema import Config
from crmpipe.errors import CrmpipeError, first_line
from crmpipe.search.backends import PG_SCHEMA
from crmpipe.warehouse.connection import connect

if TYPE_CHECKING:
    import psycopg

#: Where unqualified table names are looked up when reading: the search table, the canonical
#: tables and the marts answer to their bare names (`select count(*) from contact_search`).
DUCKDB_SEARCH_PATH = "search,core,marts,main"

#: The environment variable holding the PostgreSQL DSN when neither --pg nor crmpipe.yml does.
DSN_ENV = "CRMPIPE_PG_DSN"
#: Statement timeout of search and shell sessions (`connect_pg`): no query a person waits for
#: should run longer; a publish's own sessions set theirs to 0.
SEARCH_STATEMENT_TIMEOUT = "30s"


class StoreError(CrmpipeError):
    """A store that can't be opened for reading, as one line that says what to do."""


def resolve_dsn(cfg: Config | None, dsn: str | None = None) -> str | None:
    """The PostgreSQL DSN to use: `dsn` (a `--pg` option) if given, else crmpipe.yml's
    `publish.postgres`, else the CRMPIPE_PG_DSN environment variable; None when none is set."""
    configured = cfg.publish.postgres if cfg is not None else None
    for candidate in (dsn, configured, os.environ.get(DSN_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return None


def _where(params: dict[str, Any]) -> str:
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    port = f":{params['port']}" if params.get("port") else ""
    db = f"/{params['dbname']}" if params.get("dbname") else ""
    return f"{host}{port}{db}"


def open_connection(dsn: str, *, app: str) -> psycopg.Connection:
    """An autocommit connection, or StoreError naming the server (never the password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if not dsn or not dsn.strip():
        raise StoreError(
            "no PostgreSQL DSN: set publish.postgres in crmpipe.yml (or CRMPIPE_PG_DSN), e.g. "
            "postgresql://USER@HOST:5432/DBNAME"
        )
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise StoreError(
            f"the PostgreSQL DSN is not valid ({first_line(exc)}); write it as "
            "postgresql://USER@HOST:5432/DBNAME or 'host=... port=... dbname=...'"
        ) from None
    params.setdefault("connect_timeout", 10)
    params.setdefault("application_name", app)
    try:
        return psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        if "failed: " in reason:
            reason = reason.rsplit("failed: ", 1)[1]
        reason = " ".join(reason.removeprefix("FATAL:").split())
        raise StoreError(
            f"cannot connect to PostgreSQL at {_where(params)}: {reason} — check "
            "publish.postgres (CRMPIPE_PG_DSN) and that the server is running"
        ) from None
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to PostgreSQL at {_where(params)}: {first_line(exc)}"
        ) from None


def connect_pg(
    dsn: str,
    *,
    app: str = "crmpipe search",
    statement_timeout: str | None = SEARCH_STATEMENT_TIMEOUT,
    read_only: bool = True,
) -> psycopg.Connection:
    """An autocommit connection for reading what was published (search, the shell).

    Every transaction is read-only (`default_transaction_read_only`), so even SQL typed into
    the shell can't change anything, and each statement stops at `statement_timeout`. Raises
    StoreError (one line, naming the server, never the password) when it can't connect.
    """
    import psycopg

    conn = open_connection(dsn, app=app)
    try:
        configure_session(conn, statement_timeout=statement_timeout, read_only=read_only)
    except psycopg.OperationalError as exc:
        conn.close()
        raise StoreError(
            f"opening a session: lost the connection to PostgreSQL ({first_line(exc)}); "
            "publish again once the server is back."
        ) from None
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"opening a session: {first_line(exc)}.") from None
    except BaseException:
        conn.close()
        raise
    return conn


def configure_session(
    conn: psycopg.Connection,
    *,
    statement_timeout: str | None = SEARCH_STATEMENT_TIMEOUT,
    read_only: bool = True,
) -> None:
    """The settings of a reading session (`connect_pg`, and each pooled connection of
    crmpipe.serve.pool)."""
    if read_only:
        conn.execute("SET default_transaction_read_only = on")
    # A search's statements run in milliseconds: JIT compiling one whose estimated cost
    # crosses jit_above_cost took 8 ms of a 35 ms search at 4.5M contacts, and parallel
    # workers (started per statement, each building its own hash tables) tripled a
    # 10 ms one.
    conn.execute("SET jit = off")
    conn.execute("SET max_parallel_workers_per_gather = 0")
    # The served version's tables answer to their bare names; public keeps pg_trgm's
    # operators and functions found wherever the extension was created.
    conn.execute(f"SET search_path = {PG_SCHEMA}, public")
    if statement_timeout:
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [statement_timeout])


@contextmanager
def open_store(cfg: Config | None, dsn: str | None, *, app: str = "crmpipe shell") -> Iterator[Any]:
    """A read-only connection to a store: PostgreSQL at `dsn` (read-only transactions,
    statement timeout; `app` is its application_name), else the project's DuckDB warehouse
    opened read-only."""
    if dsn:
        conn: Any = connect_pg(dsn, app=app)
    else:
        if cfg is None:
            raise StoreError("no project file: pass --config crmpipe.yml, or --pg DSN")
        conn = connect(cfg.warehouse_path, read_only=True)
        conn.execute("SET search_path = ?", [DUCKDB_SEARCH_PATH])
    try:
        yield conn
    finally:
        conn.close()
