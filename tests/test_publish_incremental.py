"""Publishing in place: after a small change, only the changed rows go to PostgreSQL, into the
version serving, and the result equals a full publish of the same warehouse (tables, search
tables, audit trail); a publish that can't go in place is a full one that says why. Real DuckDB
and real PostgreSQL (conftest's `pg_db`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build, published_versions, rollback
from crmpipe.search import search


def _dump(dsn: str) -> dict[str, list[str]]:
    """Every row of every table of the serving schema, as text, in order."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'crmpipe' AND c.relkind IN ('r', 'm') ORDER BY 1"
            ).fetchall()
        ]
        return {
            name: [r[0] for r in conn.execute(f'SELECT t::text FROM crmpipe."{name}" t ORDER BY 1')]
            for name in names
        }


def _live(dump: dict[str, list[str]]) -> list[str]:
    """The live e-mail token postings of a dump: published but gone, plus new."""
    name = "contact_search_emails_tokens"
    gone = set(dump[f"{name}_gone"])
    return sorted([r for r in dump[name] if r not in gone] + dump[f"{name}_new"])


def _version_id(dsn: str) -> int:
    """The served version's id as `crmpipe serve` reads it for its answer cache."""
    from crmpipe.serve.pool import VERSION_ID_SQL

    with psycopg.connect(dsn, autocommit=True) as conn:
        (got,) = conn.execute(f"SELECT {VERSION_ID_SQL}").fetchone()
    assert got is not None
    return int(got)


def _audit(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            name: [r[0] for r in conn.execute(f"SELECT t::text FROM audit.{name} t ORDER BY 1")]
            for name in ("contacts_current", "entities_current")
        }


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A pursuit case whose second contacts export is held back: (project file, held folder)."""
    folder = tmp_path / "case"
    made = pursuit.generate(folder, contacts=1500, seed=3, shared=None)
    held = tmp_path / "held"
    held.mkdir()
    shutil.move(folder / "contacts_2.csv", held / "contacts_2.csv")
    text = made.config_path.read_text()
    assert "\npublish:" not in text
    # the second export changes a large share of this small case: publish it in place all the
    # same (the default rebuilds above a tenth)
    made.config_path.write_text(text + "\npublish:\n  incremental_share: 0.9\n")
    return made.config_path, held


def test_a_change_is_published_in_place_as_a_full_publish_would(project, pg_db: str) -> None:
    config, held = project
    run(load_config(config))
    first = publish_build(load_config(config), pg_db)
    assert first.mode == "full"
    assert not any("published in full" in n for n in first.notes)  # nothing served before

    served_before = _version_id(pg_db)
    before = _dump(pg_db)
    shutil.copy2(held / "contacts_2.csv", config.parent / "contacts_2.csv")
    run(load_config(config))
    second = publish_build(load_config(config), pg_db)
    # the id `crmpipe serve` keys its kept answers by changes with the rows (same schema OID)
    assert _version_id(pg_db) != served_before
    assert second.mode == "in place", second.notes
    assert second.version == first.version + 1
    assert second.changed["contacts"]["upserted"] > 0
    assert second.changed["contact_search"]["upserted"] >= second.changed["contacts"]["upserted"]
    assert second.notes[0].startswith("in place: ")
    assert second.audited["contacts"]["inserted"] + second.audited["contacts"]["updated"] > 0
    versions = {v.version: v for v in published_versions(pg_db)}
    assert versions[second.version].status == "serving"
    assert versions[first.version].status == "merged"  # its rows became the new version's
    in_place, audited = _dump(pg_db), _audit(pg_db)
    cfg = load_config(config)

    # a full publish of the same warehouse serves exactly the same rows, and the audit trail
    # the in-place publish kept needs no change
    third = publish_build(cfg, pg_db, full=True)
    assert third.mode == "full"
    assert all(a == {"inserted": 0, "updated": 0, "deleted": 0} for a in third.audited.values())
    full = _dump(pg_db)
    assert in_place.keys() == full.keys()
    # the drop changed e-mails: the token postings (search.pgtokens) were kept in place, the
    # published ones as they were, the difference beside them; the live postings are the full
    # publish's
    postings = "contact_search_emails_tokens"
    assert before[postings] == in_place[postings] != full[postings]
    assert in_place[f"{postings}_new"]
    assert full[f"{postings}_new"] == full[f"{postings}_gone"] == []
    assert _live(in_place) == _live(full) == full[postings]
    assert before["contact_search_emails_vocab"] != in_place["contact_search_emails_vocab"]
    for name in full.keys() - {postings, f"{postings}_new", f"{postings}_gone"}:
        assert in_place[name] == full[name], name
    assert _audit(pg_db) == audited
    # the merged version can't be rolled back to; the in-place one can
    assert rollback(pg_db) == f"crmpipe_v{second.version}"
    assert _dump(pg_db) == in_place  # (its postings as kept in place: the same live ones)
    with pytest.raises(Exception, match="not kept"):
        rollback(pg_db, to=str(first.version))

    # searching the in-place version answers as the warehouse does
    from crmpipe.warehouse.connection import connect

    con = connect(cfg.warehouse_path, read_only=True)
    pg = psycopg.connect(pg_db, autocommit=True)
    try:
        for q in ("title: finance", "emails: gov", "state: CA", "tech_names: wordpress"):
            a = search(con, q, limit=20, count_cap=None)
            b = search(pg, q, limit=20, count_cap=None)
            assert (b.total, b.rows) == (a.total, a.rows), q
    finally:
        con.close()
        pg.close()


def test_nothing_changed_and_a_large_change_and_a_new_shape(project, pg_db: str) -> None:
    config, held = project
    run(load_config(config))
    publish_build(load_config(config), pg_db)
    # the same build again: in place, nothing to send
    again = publish_build(load_config(config), pg_db)
    assert again.mode == "in place"
    assert again.changed == {}
    assert "no row changed" in again.notes[0]
    # over the share: a full publish that says why
    shutil.copy2(held / "contacts_2.csv", config.parent / "contacts_2.csv")
    run(load_config(config))
    text = config.read_text().replace("incremental_share: 0.9", "incremental_share: 0.001")
    config.write_text(text)
    large = publish_build(load_config(config), pg_db)
    assert large.mode == "full"
    assert any("over publish.incremental_share (0.001)" in n for n in large.notes), large.notes


#: A publish killed inside its in-place transaction: rows sent, audit synced, serving lock
#: taken, the registry not yet updated.
KILLER = """
import os, signal, sys
from pathlib import Path
import crmpipe.publish.incremental as incremental
from crmpipe.config.load import load_config
from crmpipe.publish import publish_build

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

incremental.merge_in = killed
publish_build(load_config(Path(sys.argv[1])), sys.argv[2])
"""


def test_a_publish_killed_in_place_leaves_the_version_serving(project, pg_db: str) -> None:
    config, held = project
    run(load_config(config))
    first = publish_build(load_config(config), pg_db)
    before = _dump(pg_db)
    shutil.copy2(held / "contacts_2.csv", config.parent / "contacts_2.csv")
    run(load_config(config))
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(config), pg_db],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    # its server session rolls back once it notices the client is gone
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with psycopg.connect(pg_db, autocommit=True) as conn:
            (busy,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            ).fetchone()
        if not busy:
            break
        time.sleep(0.2)
    assert _dump(pg_db) == before
    assert {v.version: v.status for v in published_versions(pg_db)} == {first.version: "serving"}
    # the next publish goes in place from the same record, and completes
    again = publish_build(load_config(config), pg_db)
    assert again.mode == "in place", again.notes
    assert again.changed["contacts"]["upserted"] > 0
    assert _dump(pg_db) != before


def test_rows_changed_by_hand_in_the_serving_schema_make_the_publish_full(
    project, pg_db: str
) -> None:
    """Each in-place statement checks it changed exactly the rows the record of what was
    published expects; rows deleted by hand behind crmpipe's back make the next publish a full
    one that names the table, and the full publish restores them."""
    config, held = project
    run(load_config(config))
    publish_build(load_config(config), pg_db)
    expected = _dump(pg_db)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM crmpipe.contact_search")
    shutil.copy2(held / "contacts_2.csv", config.parent / "contacts_2.csv")
    run(load_config(config))
    second = publish_build(load_config(config), pg_db)
    assert second.mode == "full"
    why = next(n for n in second.notes if n.startswith("published in full: "))
    assert "contact_search" in why and "inserted" in why, why
    assert len(_dump(pg_db)["contact_search"]) >= len(expected["contact_search"])
