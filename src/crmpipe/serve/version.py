"""Which published version serves, read for requests that are answered without a session.

A kept answer (crmpipe.api.cache) may be given only for the version it was read from, so a
cache hit must know which version serves *now*. Taking a pooled session, opening the pinned
transaction (crmpipe.serve.pool) and ending it cost three round trips and a worker thread per
hit; `FreshVersion` asks one statement on the event loop instead, shared by the requests that
wait for it: each caller gets a value read by a statement that started after it asked (never an
older one), so a hit is as fresh as the pinned transaction's read, and under load one round trip
answers many requests.

The read takes no lock: during a swap it sees the version still serving until the swap commits
(its renames are one transaction, crmpipe.publish.versions.swap_in), then the new one. When
PostgreSQL can't be reached, `read` raises `VersionUnknown` (for a second, without retrying)
and the request goes the long way, whose errors say what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from crmpipe.search.backends import PG_SCHEMA

#: The id of the version serving: the OID of schema `crmpipe`, as crmpipe.serve.pool's pinned
#: transaction reads it (None: nothing published).
_VERSION_SQL = "SELECT (SELECT oid::bigint FROM pg_namespace WHERE nspname = %s)"
#: Seconds a read may take, and seconds without trying again after a failure.
READ_TIMEOUT_S = 5.0
RETRY_AFTER_S = 1.0


class VersionUnknown(Exception):
    """The served version could not be read now (the caller goes the long way)."""


class FreshVersion:
    """Reads of the served version on one asyncio connection, coalesced across callers."""

    def __init__(self, dsn: str, *, app: str = "crmpipe serve") -> None:
        params: dict[str, Any] = conninfo_to_dict(dsn)
        params.setdefault("connect_timeout", 2)
        params.setdefault("application_name", f"{app} (version)")
        self._params = params
        self._conn: psycopg.AsyncConnection | None = None
        self._next: asyncio.Future[int | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self.reads = 0  # statements run (each answers every caller waiting when it started)

    async def read(self) -> int | None:
        """The served version's id (None: nothing published), read after this call began."""
        if time.monotonic() < self._down_until:
            raise VersionUnknown("PostgreSQL was unreachable a moment ago")
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            future.add_done_callback(_consume)
            if self._task is None:
                self._task = asyncio.ensure_future(self._reads())
        # shield: a caller that goes away must not cancel the others' read
        return await asyncio.shield(future)

    async def _reads(self) -> None:
        """Run reads back to back while callers wait; each serves those who asked before it."""
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    value = await asyncio.wait_for(self._query(), READ_TIMEOUT_S)
                except (psycopg.Error, OSError, TimeoutError) as exc:
                    self._down_until = time.monotonic() + RETRY_AFTER_S
                    await self._drop()
                    failure = VersionUnknown(str(exc) or type(exc).__name__)
                    for waiting in (future, self._next):
                        if waiting is not None and not waiting.done():
                            waiting.set_exception(failure)
                    self._next = None
                    return
                if not future.done():
                    future.set_result(value)
        finally:
            self._task = None

    async def _query(self) -> int | None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
        self.reads += 1
        cursor = await self._conn.execute(_VERSION_SQL, [PG_SCHEMA])
        row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        await self._drop()


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a failed read's exception as seen even if every caller went away."""
    if not future.cancelled():
        future.exception()
