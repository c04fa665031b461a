"""Serving PostgreSQL to many requests: a pool of reading sessions, and reads that never mix two
published versions.

`crmpipe serve` answers each request from a pooled session (psycopg_pool) instead of a new
connection: connecting costs more than a search. A request's statements (a page of rows, then
its capped count) run in one transaction holding a shared advisory lock, `SERVING_LOCK`; the
publish's swap takes the same lock exclusively (crmpipe.publish.versions.swap_in), so it waits
for the requests in flight (milliseconds) and the requests that arrive meanwhile wait for the
swap — every answer comes from one version, and no request fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from crmpipe.errors import first_line
from crmpipe.search.backends import PG_SCHEMA
from crmpipe.serve.store import (
    SEARCH_STATEMENT_TIMEOUT,
    StoreError,
    configure_session,
    open_connection,
)

#: Advisory lock key readers share and the swap takes alone ("crmp" "serv").
SERVING_LOCK = 0x63726D70_73657276
#: Sessions kept open; uvicorn runs sync endpoints on a thread pool of about this size.
POOL_MIN, POOL_MAX = 2, 20
#: How long a request waits for a free session before failing with a one-line error.
POOL_WAIT_SECONDS = 30.0


#: Which version serves, as one bigint (NULL: nothing published): a hash of the OID of schema
#: `crmpipe`, which a swap's renames hand to another version's schema, and of the schema's
#: comment, which names the version (`crmpipe published version 7`) and which a publish in
#: place changes in its transaction (crmpipe.publish.incremental). It names the served version
#: for caches (crmpipe.api.cache) without reading crmpipe_meta.
VERSION_ID_SQL = (
    "(SELECT hashtextextended(oid::text || ':' || coalesce(obj_description(oid, "
    f"'pg_namespace'), ''), 0) FROM pg_namespace WHERE nspname = '{PG_SCHEMA}')"
)
#: One round trip opens a request's transaction: read-only, the serving lock shared, and which
#: version serves (VERSION_ID_SQL).
_BEGIN = (
    f"BEGIN READ ONLY; SELECT pg_advisory_xact_lock_shared({SERVING_LOCK}); SELECT {VERSION_ID_SQL}"
)


@contextmanager
def one_version(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Run the block's statements in one read-only transaction that holds the serving lock
    shared, so a swap can't land between two of them. The connection is autocommit; a failed
    statement's rollback (PostgresBackend recovers that way) simply ends the transaction."""
    with pinned(conn):
        yield conn


@contextmanager
def pinned(conn: psycopg.Connection) -> Iterator[int | None]:
    """`one_version`, yielding the served version's id (None: nothing is published)."""
    with _pinned_from(conn, _begin(conn)) as version:
        yield version


def _begin(conn: psycopg.Connection) -> int | None:
    """Open the pinned transaction (one round trip); the served version's id."""
    cursor = conn.execute(_BEGIN)  # three statements, one round trip (simple query protocol)
    cursor.nextset()
    cursor.nextset()
    row = cursor.fetchone()
    return row[0] if row else None


@contextmanager
def _pinned_from(conn: psycopg.Connection, version: int | None) -> Iterator[int | None]:
    """The block of a transaction `_begin` opened; ends it (read-only: rolled back)."""
    try:
        yield version
    finally:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()  # read-only: nothing to commit


class ReadPool:
    """Pooled reading sessions on one PostgreSQL DSN (opened on creation, closed by `close`)."""

    def __init__(self, dsn: str, *, app: str = "crmpipe serve") -> None:
        # A plain connection first: a wrong DSN or a stopped server gets StoreError's one line.
        open_connection(dsn, app=app).close()
        params: dict[str, Any] = conninfo_to_dict(dsn)
        params.setdefault("connect_timeout", 10)
        params.setdefault("application_name", app)
        self.pool = ConnectionPool(
            kwargs={**params, "autocommit": True},
            configure=lambda conn: configure_session(
                conn, statement_timeout=SEARCH_STATEMENT_TIMEOUT
            ),
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            timeout=POOL_WAIT_SECONDS,
            name=app,
            open=True,
        )

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A pooled session for one request, its statements pinned to one version."""
        with self.reading_version() as (conn, _):
            yield conn

    @contextmanager
    def reading_version(self) -> Iterator[tuple[psycopg.Connection, int | None]]:
        """`reading`, with the id of the version the statements are pinned to (`pinned`).

        Sessions are not checked when taken from the pool (a round trip per request): the
        transaction's first round trip is the check. A session found dead there (PostgreSQL
        restarted, the connection dropped while idle) is thrown away and the request takes
        another, so it doesn't fail for a session it never used."""
        try:
            for attempt in range(POOL_MAX + 1):
                with self.pool.connection() as conn:
                    try:
                        version = _begin(conn)
                    except psycopg.OperationalError:
                        if attempt == POOL_MAX or not conn.closed:
                            raise
                        continue  # a dead session: the pool drops it when it comes back
                    with _pinned_from(conn, version):
                        yield conn, version
                    return
        except PoolTimeout:
            raise StoreError(
                f"no PostgreSQL session free within {POOL_WAIT_SECONDS:.0f} s "
                f"({POOL_MAX} in use); try again"
            ) from None
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"lost the connection to PostgreSQL ({first_line(exc)}); try again once the "
                "server is back"
            ) from None

    def close(self) -> None:
        self.pool.close()
