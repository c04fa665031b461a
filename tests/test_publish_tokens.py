"""The e-mails' token postings on PostgreSQL (search.pgtokens) kept by an in-place publish: a
newer export that changes some contacts' e-mails and moves one to another entity leaves the
live postings (published, but the gone ones, plus the new ones) equal to a full publish's, and
every `email:` query (rare, common, with separators, beside entity terms) answers on
PostgreSQL as on DuckDB. Real DuckDB and real PostgreSQL (conftest's `pg_db`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import psycopg
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.search import search
from crmpipe.warehouse.connection import connect

POSTINGS = "crmpipe.contact_search_emails_tokens"
LIVE = (
    f"SELECT tok, entity_id, contact_id FROM {POSTINGS} p WHERE NOT EXISTS (SELECT FROM "
    f"{POSTINGS}_gone g WHERE g.tok = p.tok AND g.contact_id = p.contact_id) "
    f"UNION ALL SELECT tok, entity_id, contact_id FROM {POSTINGS}_new"
)
QUERIES = (
    "email:renamed",
    "email:zz1",
    "email:zz1.",
    "email:.renamed-mail@",
    "email:gov",
    "email:bob",
    "email:o",
    "email:renamed tech:accela",
    "email:zz pop>1000",
    "-email:renamed state:CA",
    "email:zz,gov state:CA",
)


def _rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return sorted(conn.execute(sql).fetchall(), key=repr)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    made = pursuit.generate(tmp_path / "case", contacts=1500, seed=3, shared=None)
    text = made.config_path.read_text()
    made.config_path.write_text(text + "\npublish:\n  incremental_share: 0.9\n")
    return made.config_path


def test_changed_emails_are_kept_in_place_as_a_full_publish_would(project, pg_db: str) -> None:
    config = project
    run(load_config(config))
    assert publish_build(load_config(config), pg_db).mode == "full"
    # a newer export of 40 known contacts: 30 with new addresses (separators, new tokens),
    # one without any, one moved to another contact's entity, the rest as they were
    with (config.parent / "contacts_1.csv").open(newline="", encoding="latin-1") as f:
        rows = list(csv.DictReader(f))
    newer = [dict(r) for r in rows[:40]]
    for i, r in enumerate(newer[:30]):
        r["email"] = f"zz{i}.renamed-mail@town{i % 3}.gov"
    newer[30]["email"] = ""
    newer[31]["place_id"] = rows[200]["place_id"]
    path = config.parent / "contacts_9.csv"
    with path.open("w", newline="", encoding="latin-1") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(newer)
    later = max(p.stat().st_mtime for p in config.parent.glob("contacts_*.csv")) + 60
    os.utime(path, (later, later))
    run(load_config(config))
    second = publish_build(load_config(config), pg_db)
    assert second.mode == "in place", second.notes
    with psycopg.connect(pg_db, autocommit=True) as conn:
        in_place = _rows(conn, LIVE)
        gone = _rows(conn, f"SELECT * FROM {POSTINGS}_gone")
        new = _rows(conn, f"SELECT * FROM {POSTINGS}_new")
        vocab = _rows(conn, "SELECT * FROM crmpipe.contact_search_emails_vocab")
    assert gone and new
    assert any(t[0] == "renamed" for t in new)

    cfg = load_config(config)
    duck = connect(cfg.warehouse_path, read_only=True)
    pg = psycopg.connect(pg_db, autocommit=True)
    try:
        for q in QUERIES:
            for cap in (10_000, None):
                a = search(duck, q, aliases=cfg.search.aliases, limit=20, count_cap=cap)
                b = search(pg, q, aliases=cfg.search.aliases, limit=20, count_cap=cap)
                assert (b.total, b.rows) == (a.total, a.rows), (q, cap)
    finally:
        duck.close()
        pg.close()

    # a full publish of the same warehouse: the same live postings and vocabulary
    assert publish_build(cfg, pg_db, full=True).mode == "full"
    with psycopg.connect(pg_db, autocommit=True) as conn:
        assert _rows(conn, LIVE) == in_place
        assert _rows(conn, f"SELECT * FROM {POSTINGS}_gone") == []
        assert _rows(conn, "SELECT * FROM crmpipe.contact_search_emails_vocab") == vocab
