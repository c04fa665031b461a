"""What makes `crmpipe serve` fast must not change what it answers: the answer cache is bounded
and keyed by version, kept answers go only to the role and version they were read for, the
served PostgreSQL version is read after each caller asks, and the shared DuckDB handle lets
`crmpipe run` in once idle."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import duckdb
import pytest

from crmpipe.api.access import Keys, hash_key
from crmpipe.api.cache import AnswerCache
from crmpipe.api.gate import ANSWER_VERSION, Gate
from crmpipe.config.load import load_config
from crmpipe.config.schema import ApiKeySpec, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish.pgserver import free_port
from crmpipe.serve.duck import WarehouseReader
from crmpipe.serve.pool import SERVING_LOCK, VERSION_ID_SQL
from crmpipe.serve.version import FreshVersion, VersionGuard, VersionUnknown
from support.server import Server

FULL, MASKED = "full-key-0123456789abcdef", "masked-key-0123456789abcdef"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_cache_keeps_the_most_recent_entries_within_its_bounds() -> None:
    cache = AnswerCache(2, max_bytes=400)
    cache.put(("v1", "a"), b"x" * 10)
    cache.put(("v1", "b"), b"y" * 10)
    assert cache.get(("v1", "a")) == b"x" * 10  # now the most recent
    cache.put(("v1", "c"), b"z" * 10)
    assert cache.get(("v1", "b")) is None
    assert cache.get(("v2", "a")) is None  # another version is another key
    cache.put(("v1", "big"), b"w" * 200)  # more than a quarter of max_bytes: not kept
    assert cache.get(("v1", "big")) is None
    off = AnswerCache(0)
    off.put("k", b"v")
    assert off.get("k") is None


def test_the_shared_warehouse_handle_is_let_go_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    for schema in ("search", "core", "marts"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    reader = WarehouseReader(path, idle_s=0.2)
    with reader.reading() as (cursor, version):
        assert cursor.execute("SELECT x FROM t").fetchone() == (1,)
    with reader.reading() as (_, again):
        assert again == version
    assert reader.version_if_open() == version
    time.sleep(0.6)
    assert reader.version_if_open() is None  # let go: the version is read when reopened
    writer = duckdb.connect(str(path))  # a writer (crmpipe run) gets the file
    writer.execute("INSERT INTO t VALUES (2)")
    writer.close()
    with reader.reading() as (cursor, changed):
        assert cursor.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert changed != version
    reader.close()


def test_a_kept_answer_goes_only_to_the_role_and_version_it_was_read_for(tmp_path: Path) -> None:
    """The gate answers a repeated search from kept bytes (no endpoint), but still refuses a
    request without a key, and never gives a full key's answer to a masked key."""
    cfg = load_config(pursuit.generate(tmp_path / "case", contacts=200, seed=3).config_path)
    run(cfg)
    keys = [
        ApiKeySpec(name="analyst", hash=hash_key(FULL), role="full"),
        ApiKeySpec(name="partner", hash=hash_key(MASKED), role="masked"),
    ]
    cfg = cfg.model_copy(update={"serve": ServeSpec(keys=keys)})
    with Server(cfg) as server:
        kept = server.app.state.answers
        query = {"q": "title: finance", "limit": 20}
        status, _, first = server.get("/api/search", headers=bearer(FULL), **query)
        assert status == 200 and "@" in first  # the full key sees email addresses
        hits = kept.hits
        status, headers, again = server.get("/api/search", headers=bearer(FULL), **query)
        assert (status, again) == (200, first)
        assert headers["content-type"] == "application/json"
        assert kept.hits > hits  # answered from what was kept
        assert server.get("/api/search", **query)[0] == 401  # no key: refused all the same
        status, _, masked = server.get("/api/search", headers=bearer(MASKED), **query)
        assert status == 200 and masked != first
        emails = {e for row in json.loads(first)["rows"] for e in row["emails"] or []}
        assert emails and not any(e in masked for e in emails)


def test_the_served_version_is_read_after_each_caller_asks(pg_db: str) -> None:
    """Callers waiting together share one read; a read that started before a caller asked is
    never its answer (a swap's new version is seen at once); an unreachable server is a
    quick VersionUnknown, not a hang."""
    import psycopg

    admin = psycopg.connect(pg_db, autocommit=True)
    admin.execute("CREATE SCHEMA crmpipe")

    def oid() -> int:
        return admin.execute(f"SELECT {VERSION_ID_SQL}").fetchall()[0][0]

    async def scenario() -> tuple[list[int | None], int | None, int]:
        fresh = FreshVersion(pg_db)
        try:
            together = await asyncio.gather(*(fresh.read() for _ in range(30)))
            admin.execute("ALTER SCHEMA crmpipe RENAME TO crmpipe_v1")
            admin.execute("CREATE SCHEMA crmpipe")  # what a swap's renames do
            return together, await fresh.read(), fresh.reads
        finally:
            await fresh.close()

    first = oid()
    together, after, reads = asyncio.run(scenario())
    assert together == [first] * 30
    assert reads <= 3  # not one statement per caller
    assert after == oid() != first
    admin.close()

    async def unreachable() -> float:
        fresh = FreshVersion(f"host=127.0.0.1 port={free_port()} user=nobody dbname=x")
        t0 = time.monotonic()
        with pytest.raises(VersionUnknown):
            await fresh.read()
        with pytest.raises(VersionUnknown):  # not retried at once: no storm of connects
            await fresh.read()
        return time.monotonic() - t0

    assert asyncio.run(unreachable()) < 3


def test_the_guard_vouches_for_the_version_only_while_it_holds_the_serving_lock(
    pg_db: str,
) -> None:
    """While the guard holds the serving lock shared, reads need no statement; a swap (which
    takes the lock alone) is let in within its lock timeout and its version seen as soon as it
    commits; a rename made without the lock is seen within a few polls; an idle guard lets go."""
    import psycopg

    admin = psycopg.connect(pg_db, autocommit=True)
    admin.execute("CREATE SCHEMA crmpipe")

    def oid() -> int:
        return admin.execute(f"SELECT {VERSION_ID_SQL}").fetchall()[0][0]

    def swap(n: int) -> None:
        """A swap as crmpipe.publish.versions.swap_in does it: the lock alone, then renames."""
        with psycopg.connect(pg_db, autocommit=True) as conn, conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SERVING_LOCK])
            conn.execute(f"ALTER SCHEMA crmpipe RENAME TO crmpipe_v{n}")
            conn.execute("CREATE SCHEMA crmpipe")

    def holders() -> int:
        return admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objid::bigint = %s",
            [SERVING_LOCK & 0xFFFFFFFF],
        ).fetchall()[0][0]

    async def until_held(guard: VersionGuard) -> None:
        for _ in range(400):
            await guard.read()
            if guard._held:
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the guard never took the lock")

    async def scenario() -> None:
        guard = VersionGuard(pg_db, poll_s=0.005, idle_s=0.3)
        try:
            first = oid()
            assert await guard.read() == first  # the first read is FreshVersion's
            await until_held(guard)
            reads = guard.fresh.reads
            assert [await guard.read() for _ in range(50)] == [first] * 50
            assert guard.fresh.reads == reads  # no statement while the lock is held
            assert await asyncio.to_thread(holders) == 1
            await asyncio.to_thread(swap, 1)  # waits for the guard to let go: no timeout
            assert await guard.read() == oid() != first  # seen at once after the commit
            await until_held(guard)
            second = oid()
            assert await guard.read() == second
            admin.execute("ALTER SCHEMA crmpipe RENAME TO crmpipe_by_hand")
            admin.execute("CREATE SCHEMA crmpipe")  # without the lock
            seen = None
            for _ in range(100):
                seen = await guard.read()
                if seen != second:
                    break
                await asyncio.sleep(0.005)
            assert seen == oid() != second
            await asyncio.sleep(0.8)  # idle: the lock is let go
            assert await asyncio.to_thread(holders) == 0
            assert not guard._held
        finally:
            await guard.close()

    asyncio.run(scenario())
    admin.close()


def test_requests_arriving_while_the_same_one_is_answered_wait_for_its_answer() -> None:
    """After a swap every client misses at once: the same request runs once, the others get
    its answer — but only when it was read from the version they read after arriving."""
    calls: list[str] = []
    serving = {"version": "v1"}

    async def endpoint(scope: dict, receive: object, send: object) -> None:
        read_from = serving["version"]  # the version this answer is read from
        calls.append(read_from)
        await asyncio.sleep(0.2)  # a search taking its time
        scope[ANSWER_VERSION] = read_from
        body = f'{{"from": "{read_from}"}}'.encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def version() -> str:
        return serving["version"]

    gate = Gate(endpoint, keys=Keys([]), limiter=None, cache=AnswerCache(10), version=version)

    async def get() -> bytes:
        scope = {"type": "http", "method": "GET", "path": "/api/search", "query_string": b"q=a"}
        scope["client"] = ("127.0.0.1", 1)
        parts: list[bytes] = []

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                parts.append(message["body"])

        await gate(scope, None, send)
        return b"".join(parts)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        together = await asyncio.gather(*(get() for _ in range(20)))
        serving["version"] = "v2"  # a swap: the kept answer is of the old version
        leader = asyncio.ensure_future(get())
        await asyncio.sleep(0.05)
        serving["version"] = "v3"  # another swap while v2's answer is being read
        late = await asyncio.gather(get(), leader)
        return together, late

    together, late = asyncio.run(scenario())
    assert together == [b'{"from": "v1"}'] * 20
    assert calls[0] == "v1" and calls.count("v1") == 1  # one search for twenty requests
    # The request that arrived after v3 served is not given v2's answer: it reads v3 itself.
    assert late == [b'{"from": "v3"}', b'{"from": "v2"}']
    assert calls == ["v1", "v2", "v3"]
