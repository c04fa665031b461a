"""A publish swapping versions while `crmpipe serve` answers searches on PostgreSQL: no request
fails, and no answer mixes two versions (its rows from one, its count from the other)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from support.server import Server

QUERIES = ("title: finance", "crm: a", "state:CA")


def _project(folder: Path, contacts: int, seed: int):
    cfg = load_config(pursuit.generate(folder, contacts=contacts, seed=seed).config_path)
    run(cfg)
    return cfg


def _answer(port: int, query: str) -> tuple[int, object]:
    url = f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode({"q": query, "limit": 5})
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.loads(resp.read())
        return resp.status, (body["total"], [r["contact_id"] for r in body["rows"]])


def test_no_request_fails_and_no_answer_mixes_two_versions(tmp_path: Path, pg_db: str) -> None:
    first = _project(tmp_path / "a", contacts=400, seed=1)
    second = _project(tmp_path / "b", contacts=700, seed=2)
    publish_build(first, pg_db)
    with Server(first, pg_db) as server:
        before = {q: _answer(server.port, q)[1] for q in QUERIES}
        seen: list[tuple[str, int, object]] = []
        errors: list[str] = []
        stop = threading.Event()

        def client(i: int) -> None:
            k = i
            while not stop.is_set():
                query = QUERIES[k % len(QUERIES)]
                k += 1
                try:
                    status, answer = _answer(server.port, query)
                    seen.append((query, status, answer))
                except Exception as exc:  # noqa: BLE001 - any failure is what we count
                    errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        publish_build(second, pg_db)  # swaps while the clients search
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        after = {q: _answer(server.port, q)[1] for q in QUERIES}
    assert errors == []
    assert len(seen) > 20
    assert all(status == 200 for _, status, _ in seen)
    # The two versions answer differently, and every answer is one of them, whole.
    assert before != after
    mixed = [(q, a) for q, _, a in seen if a not in (before[q], after[q])]
    assert mixed == []
    assert any(a == after[q] for q, _, a in seen)


def test_a_cancelled_statement_inside_a_request_does_not_abort_it(
    tmp_path: Path, pg_db: str
) -> None:
    """A page's key walk may be cancelled by its own short timeout; inside a request's pinned
    transaction it must roll back to a savepoint, not abort the request (seen under load)."""
    from psycopg import errors as pgerr

    from crmpipe.search import PostgresBackend
    from crmpipe.serve import connect_pg
    from crmpipe.serve.pool import one_version

    publish_build(_project(tmp_path / "a", contacts=50, seed=1), pg_db)
    conn = connect_pg(pg_db)
    try:
        with one_version(conn):
            db = PostgresBackend(conn)
            try:
                with db._statement():
                    conn.execute("SELECT 1 / 0")
            except pgerr.DivisionByZero:
                pass
            (n,) = db.execute("SELECT count(*) FROM contact_search").fetchone()
        assert n > 0
    finally:
        conn.close()
