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

`VersionGuard` goes further while requests keep coming: one session of its own holds the
serving lock (crmpipe.serve.pool's SERVING_LOCK) shared, as every pinned request transaction
does. While it holds it no swap can commit — a swap's renames take that lock alone — so the
version read when the lock was taken is the version serving, and a kept answer needs no round
trip at all. Every `GUARD_POLL_S` the guard asks whether someone waits for the lock (a swap, a
rollback) and whether the served schema changed anyway (renamed by hand, without the lock);
if so it stops vouching for the version *before* letting the lock go, callers go back to
`FreshVersion`'s reads, and the guard takes the lock again behind the swap and reads the new
version. A swap waits at most one poll longer for it. After `GUARD_IDLE_S` without callers the
guard lets the lock go, so an idle server doesn't poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from crmpipe.serve.pool import SERVING_LOCK, VERSION_ID_SQL

#: The id of the version serving, as crmpipe.serve.pool's pinned transaction reads it
#: (VERSION_ID_SQL; None: nothing published).
_VERSION_SQL = f"SELECT {VERSION_ID_SQL}"
#: Seconds a read may take, and seconds without trying again after a failure.
READ_TIMEOUT_S = 5.0
RETRY_AFTER_S = 1.0
#: The guard's check: the served version, and whether anyone waits for the serving lock in
#: this database (an advisory lock on a bigint key: classid its high 32 bits, objid its low).
_GUARD_CHECK_SQL = (
    f"SELECT {VERSION_ID_SQL}, EXISTS ("
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1 "
    "AND classid::bigint = %s AND objid::bigint = %s AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()))"
)
_GUARD_KEY = [SERVING_LOCK >> 32, SERVING_LOCK & 0xFFFFFFFF]
#: Seconds between the guard's checks, and without callers before it lets the lock go.
GUARD_POLL_S = 0.005
GUARD_IDLE_S = 2.0


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
        cursor = await self._conn.execute(_VERSION_SQL)
        row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        await self._drop()


class VersionGuard:
    """The served version without a round trip while a session of its own holds the serving
    lock shared (see the module doc); `FreshVersion`'s read when it doesn't."""

    def __init__(
        self,
        dsn: str,
        *,
        app: str = "crmpipe serve",
        poll_s: float = GUARD_POLL_S,
        idle_s: float = GUARD_IDLE_S,
    ) -> None:
        params: dict[str, Any] = conninfo_to_dict(dsn)
        params.setdefault("connect_timeout", 2)
        params.setdefault("application_name", f"{app} (version guard)")
        self._params = params
        self.fresh = FreshVersion(dsn, app=app)
        self.poll_s, self.idle_s = poll_s, idle_s
        self._held = False  # True only while the lock is held and `_known` is what serves
        self._known: int | None = None
        self._asked = 0.0  # when a caller last asked
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.guarded = 0  # reads answered by the guard (no round trip)
        self.held_since = 0  # times the lock was taken

    async def read(self) -> int | None:
        """The served version's id (None: nothing published), as of this call."""
        self._asked = time.monotonic()
        if self._held:
            self.guarded += 1
            return self._known
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._guard())
        return await self.fresh.read()

    async def _guard(self) -> None:
        """Hold the lock while callers keep asking; on a failure, rest a second and stop."""
        conn: psycopg.AsyncConnection | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
            while not self._closed and time.monotonic() - self._asked < self.idle_s:
                await self._hold(conn)
        except (psycopg.Error, OSError, TimeoutError):
            self._held = False
            await asyncio.sleep(RETRY_AFTER_S)
        finally:
            self._held = False
            self._task = None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()  # ends the session: the lock goes with it

    async def _hold(self, conn: psycopg.AsyncConnection) -> None:
        """Take the lock shared (behind any swap waiting for it), vouch for the version read
        under it until someone waits for the lock, the schema changes, or callers stop."""
        await conn.execute("SELECT pg_advisory_lock_shared(%s)", [SERVING_LOCK])
        try:
            version, waiting = await self._check(conn)
            if not waiting:
                self._known, self._held = version, True
                self.held_since += 1
            while self._held and not self._closed:
                if time.monotonic() - self._asked >= self.idle_s:
                    break
                await asyncio.sleep(self.poll_s)
                version, waiting = await self._check(conn)
                if waiting or version != self._known:
                    break
        finally:
            self._held = False  # before the lock goes: never vouch without it
        await conn.execute("SELECT pg_advisory_unlock_shared(%s)", [SERVING_LOCK])
        if waiting:
            await asyncio.sleep(self.poll_s)  # let the waiter in before asking again

    async def _check(self, conn: psycopg.AsyncConnection) -> tuple[int | None, bool]:
        cursor = await conn.execute(_GUARD_CHECK_SQL, _GUARD_KEY)
        row = await cursor.fetchone()
        assert row is not None
        return (None if row[0] is None else int(row[0])), bool(row[1])

    async def close(self) -> None:
        self._closed = True
        self._held = False
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.fresh.close()


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a failed read's exception as seen even if every caller went away."""
    if not future.cancelled():
        future.exception()
