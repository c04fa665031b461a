"""What makes `crmpipe serve` fast must not change what it answers: the answer cache is bounded
and keyed by version, and the shared DuckDB handle lets `crmpipe run` in once idle."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from crmpipe.api.cache import AnswerCache
from crmpipe.serve.duck import WarehouseReader


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
    time.sleep(0.6)
    writer = duckdb.connect(str(path))  # a writer (crmpipe run) gets the file
    writer.execute("INSERT INTO t VALUES (2)")
    writer.close()
    with reader.reading() as (cursor, changed):
        assert cursor.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert changed != version
    reader.close()
