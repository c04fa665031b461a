"""The audit trail of golden rows in PostgreSQL (issue 12 item 5, docs/audit.md): publishes and
rollbacks record what they change in audit.<kind>_changes, across versions; manual edits of the
current table are recorded too; `crmpipe audit KIND ID` prints a row's history. Real DuckDB,
real PostgreSQL, the public-sector case with a source file changed between runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build, published_versions, rollback
from crmpipe.publish.audit_log import audit
from crmpipe.publish.errors import PublishError
from crmpipe.publish.postgres import Publication

runner = CliRunner()


def rows(dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def changes(dsn: str, version: int | None = None, action: str | None = None) -> dict:
    """golden id → (operation, action, run_id, old_row, new_row) of one version's changes."""
    got = rows(
        dsn,
        "SELECT golden_id, operation, action, run_id, old_row, new_row FROM audit.contact_changes "
        "WHERE version IS NOT DISTINCT FROM %s AND action = coalesce(%s, action) "
        "ORDER BY change_id",
        [version, action],
    )
    return {r[0]: r[1:] for r in got}


def edit_contacts(path: Path) -> None:
    """c0000001 gets a new email, c0000003 is left out, c9999999 is new. (The file is now the
    newest, so its values win for c0000230, also in contacts_2.csv; a row left out of an
    export stays in the warehouse, as history.)"""
    lines = path.read_text(encoding="latin-1").splitlines()
    out = []
    for line in lines:
        if line.startswith("c0000003,"):
            continue
        if line.startswith("c0000001,"):
            cells = line.split(",")
            cells[4] = "christian.new@co.warren.oh.us"
            line = ",".join(cells)
        out.append(line)
    out.append(
        "c9999999,6542a2f9a129cb65b87a260b,Ada,Lovelace,ada@co.warren.oh.us,(330) 595-0000,"
        "Analyst,Finance,2020-01-01 10:00:00"
    )
    path.write_text("\n".join(out) + "\n", encoding="latin-1")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return pursuit.generate(tmp_path / "case", contacts=300, seed=5).config_path


def cell(path: Path, contact_id: str, column: str) -> str:
    """The value of `column` on `contact_id`'s row of contacts export `path`."""
    with path.open(encoding="latin-1", newline="") as f:
        return next(r[column] for r in csv.DictReader(f) if r["contact_id"] == contact_id)


def test_publishes_rollbacks_and_manual_edits_are_audited(project: Path, pg_db: str) -> None:
    # the case's values are read from its files: they come from the real sample when
    # ../shared/data is here, else from the synthetic generator
    contacts_1 = project.parent / "contacts_1.csv"
    old_email = cell(contacts_1, "c0000001", "email").strip().lower()
    cfg = load_config(project)
    run(cfg)
    first = publish_build(cfg, pg_db, keep_versions=1)
    assert first is not None
    n_contacts = first.tables["contacts"]
    # The first publish: every golden contact and entity is new.
    assert first.audited["contacts"] == {"inserted": n_contacts, "updated": 0, "deleted": 0}
    assert first.audited["entities"]["inserted"] == first.tables["entities"]
    v1 = changes(pg_db, 1)
    assert len(v1) == n_contacts
    assert {(op, action, run_id) for op, action, run_id, *_ in v1.values()} == {
        ("INSERT", "publish", 1)
    }
    assert v1["c0000001"][4]["emails"] == [old_email]
    assert not any(k.startswith("_") for k in v1["c0000001"][4])  # lineage isn't audited
    (n_entities,) = rows(pg_db, "SELECT count(*) FROM audit.entity_changes")[0]
    assert n_entities == first.tables["entities"]

    # The second run: one changed email, one contact new (and the newest file wins).
    edit_contacts(contacts_1)
    run(cfg)
    second = publish_build(cfg, pg_db, keep_versions=1, full=True)
    assert second is not None and second.version == 2
    assert second.audited["contacts"] == {"inserted": 1, "updated": 2, "deleted": 0}
    assert second.audited["entities"] == {"inserted": 0, "updated": 0, "deleted": 0}
    v2 = changes(pg_db, 2)
    assert set(v2) == {"c0000001", "c0000230", "c9999999"}
    op, action, run_id, old, new = v2["c0000001"]
    assert (op, action, run_id) == ("UPDATE", "publish", 2)
    assert old["emails"] == [old_email]
    assert new["emails"] == ["christian.new@co.warren.oh.us"]
    assert {k for k in new if new[k] != old[k]} == {"emails"}
    assert v2["c0000230"][4]["title"] == cell(contacts_1, "c0000230", "title")
    assert v2["c9999999"][0] == "INSERT" and v2["c9999999"][3] is None
    assert v2["c9999999"][4]["last_name"] == "Lovelace"

    # A rollback changes the golden rows back, and says so.
    assert rollback(pg_db) == "crmpipe_v1"
    back = changes(pg_db, 1, "rollback")
    assert {k: v[0] for k, v in back.items()} == {
        "c0000001": "UPDATE",
        "c0000230": "UPDATE",
        "c9999999": "DELETE",
    }
    assert back["c9999999"][3]["last_name"] == "Lovelace" and back["c9999999"][4] is None
    assert back["c0000001"][2] == 1  # the run version 1 was published from
    assert back["c0000001"][4]["emails"] == [old_email]

    # A third publish (of the second run's build) drops version 2 (rolled back): the log
    # stays whole, and records the change forward again.
    third = publish_build(cfg, pg_db, keep_versions=1)
    assert third is not None and third.version == 3
    assert third.dropped == ["crmpipe_v2"]
    assert {k: v[0] for k, v in changes(pg_db, 3).items()} == {
        "c0000001": "UPDATE",
        "c0000230": "UPDATE",
        "c9999999": "INSERT",
    }
    assert len(changes(pg_db, 1, "publish")) == n_contacts
    assert len(changes(pg_db, 2)) == 3
    current = rows(pg_db, "SELECT emails FROM audit.contacts_current WHERE contact_id = 'c0000001'")
    assert current == [(["christian.new@co.warren.oh.us"],)]

    # A manual edit of the current table is recorded: no run, no version, the role.
    rows(
        pg_db,
        "UPDATE audit.contacts_current SET title = 'Fire Marshal' WHERE contact_id = 'c0000001'",
    )
    (manual,) = rows(
        pg_db,
        "SELECT operation, action, run_id, version, changed_by = current_user, "
        "old_row->>'title', new_row->>'title' FROM audit.contact_changes WHERE action = 'manual'",
    )
    assert manual[:5] == ("UPDATE", "manual", None, None, True)
    assert manual[6] == "Fire Marshal" and manual[5] != "Fire Marshal"
    rows(pg_db, "DELETE FROM audit.contacts_current WHERE contact_id = 'c9999999'")
    assert changes(pg_db, None, "manual")["c9999999"][0] == "DELETE"

    history = audit(pg_db, "contact", "c0000001")
    assert [(c.operation, c.action, c.version) for c in history] == [
        ("INSERT", "publish", 1),
        ("UPDATE", "publish", 2),
        ("UPDATE", "rollback", 1),
        ("UPDATE", "publish", 3),
        ("UPDATE", "manual", None),
    ]
    assert history[1].changes == [("emails", [old_email], ["christian.new@co.warren.oh.us"])]

    # The command line: a rich table, JSON, and one-line errors.
    env = {"CRMPIPE_PG_DSN": ""}
    shown = runner.invoke(app, ["audit", "contact", "c0000001", "--pg", pg_db], env=env)
    assert shown.exit_code == 0, shown.output
    assert old_email in shown.stdout
    assert "christian.new@co.warren.oh.us" in shown.stdout
    assert "rollback" in shown.stdout and "manual" in shown.stdout
    as_json = runner.invoke(
        app, ["audit", "contact", "c9999999", "--pg", pg_db, "-f", "json"], env=env
    )
    assert as_json.exit_code == 0, as_json.output
    assert [c["operation"] for c in json.loads(as_json.stdout)] == [
        "INSERT",
        "DELETE",
        "INSERT",
        "DELETE",
    ]
    for args, words in (
        (["contact", "nobody"], "no contact 'nobody' in the audit trail"),
        (["deal", "x"], "'deal' is not audited; audited kinds: contact, entity"),
    ):
        bad = runner.invoke(app, ["audit", *args, "--pg", pg_db], env=env)
        assert bad.exit_code == 1
        assert words in bad.output and len(bad.output.strip().splitlines()) == 1


def test_audit_can_be_turned_off_and_errors_before_any_publish(
    project: Path, pg_db: str, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="no audit trail in database"):
        audit(pg_db, "contact", "c0000001")
    text = project.read_text() + "publish: {audit: []}\n"
    project.write_text(text)
    cfg = load_config(project)
    run(cfg)
    result = publish_build(cfg, pg_db)
    assert result is not None and result.audited == {}
    assert rows(pg_db, "SELECT to_regclass('audit.contact_changes')") == [(None,)]


def test_a_publish_failing_after_the_audit_sync_leaves_the_trail_alone(
    project: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync runs in the swap's transaction, begun beside the build once the audited tables
    are keyed (crmpipe.publish.early_swap): a publish that fails after it (here in the verify
    phase, once the sync is done) rolls it back with the rest, and the next publish records
    exactly what it changes."""
    cfg = load_config(project)
    run(cfg)
    first = publish_build(cfg, pg_db, keep_versions=1)
    assert first is not None
    edit_contacts(project.parent / "contacts_1.csv")
    run(cfg)
    before = rows(pg_db, "SELECT count(*), max(change_id) FROM audit.contact_changes")
    current = rows(pg_db, "SELECT count(*) FROM audit.contacts_current")

    synced = []

    def failing_verify(self: Publication) -> None:
        assert self.swapper is not None
        self.swapper.audited.wait()  # the sync has run (uncommitted) on its own connection
        synced.append(rows(pg_db, "SELECT count(*) FROM audit.contact_changes"))
        raise PublishError("verify failed (test)")

    with monkeypatch.context() as m:
        m.setattr(Publication, "verify", failing_verify)
        with pytest.raises(PublishError, match="verify failed"):
            publish_build(cfg, pg_db, keep_versions=1, full=True)
    assert synced == [[(before[0][0],)]]  # other sessions never see the sync uncommitted
    assert rows(pg_db, "SELECT count(*), max(change_id) FROM audit.contact_changes") == before
    assert rows(pg_db, "SELECT count(*) FROM audit.contacts_current") == current
    assert rows(pg_db, "SELECT count(*) FROM audit.syncs WHERE version = 2") == [(0,)]
    assert rows(
        pg_db, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
    ) == [(0,)]
    assert {v.version: v.status for v in published_versions(pg_db)} == {1: "serving", 2: "failed"}

    third = publish_build(cfg, pg_db, keep_versions=1, full=True)
    assert third is not None and third.version == 3
    assert third.audited["contacts"] == {"inserted": 1, "updated": 2, "deleted": 0}
    assert set(changes(pg_db, 3)) == {"c0000001", "c0000230", "c9999999"}
