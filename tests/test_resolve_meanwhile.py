"""Work beside Splink: the warehouse connection builds the later tables while Splink scores the
first resolved table on its own connection, and a resolution's field-level provenance while the
next one's Splink scores (resolution/scoring.score_beside, resolve_table, pipeline)."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.crm_merge import generate
from crmpipe.init.guess import init
from crmpipe.pipeline import run
from crmpipe.resolution import scoring
from crmpipe.resolution.companies import resolution_reads
from crmpipe.resolution.run import resolve_table
from crmpipe.resolution.scoring import Scored, score_beside
from crmpipe.resolution.tables import built_meanwhile
from crmpipe.warehouse.connection import connect, table_exists
from test_leads import _leads, _project

RECORDS = pa.table({"_rid": [1, 2]})


def _fake_score(events: list[str], meanwhile_ran: threading.Event, fail: bool = False):
    """A stand-in for `score`: says its records are read, then waits (up to 5 s) for the
    caller's work to run beside it."""

    def fake(records, settings, *, loaded=None, **kwargs):
        events.append("loaded")
        loaded()
        ran = meanwhile_ran.wait(5)
        events.append("scored" if ran else "scored alone")
        if fail:
            raise RuntimeError("splink failed")
        return Scored(pa.table({}), {}, False, "", {})

    return fake


def test_the_callers_work_runs_while_splink_scores(monkeypatch):
    events: list[str] = []
    ran = threading.Event()
    monkeypatch.setattr(scoring, "score", _fake_score(events, ran))

    def meanwhile() -> None:
        events.append("meanwhile")
        ran.set()

    score_beside(meanwhile, RECORDS, {}, training_rules=[], floor=0.5)
    assert events == ["loaded", "meanwhile", "scored"]


def test_a_failing_meanwhile_waits_for_splink_then_raises(monkeypatch):
    events: list[str] = []
    ran = threading.Event()
    monkeypatch.setattr(scoring, "score", _fake_score(events, ran))

    def meanwhile() -> None:
        ran.set()
        raise ValueError("build failed")

    with pytest.raises(ValueError, match="build failed"):
        score_beside(meanwhile, RECORDS, {}, training_rules=[], floor=0.5)
    assert events == ["loaded", "scored"]  # Splink's thread was done before the error


def test_splinks_error_is_raised_after_the_callers_work(monkeypatch):
    events: list[str] = []
    ran = threading.Event()
    monkeypatch.setattr(scoring, "score", _fake_score(events, ran, fail=True))
    with pytest.raises(RuntimeError, match="splink failed"):
        score_beside(ran.set, RECORDS, {}, training_rules=[], floor=0.5)
    assert events == ["loaded", "scored"]


def test_later_tables_are_built_while_the_first_resolved_table_is_scored(tmp_path):
    cfg = _project(tmp_path)
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    assert set(_leads(cfg)) == {"SUNSHINE ACADEMY", "LITTLE STARS"}
    con = connect(cfg.warehouse_path)
    try:
        began = dict(
            con.execute(
                "SELECT step || ' ' || target, started_at FROM meta.run_steps "
                "WHERE step IN ('build', 'check', 'resolve')"
            ).fetchall()
        )
        kept = con.execute("SELECT count(*) FROM core.entities__unresolved").fetchone()[0]
    finally:
        con.close()
    assert began["build entities"] < began["check entities"] < began["resolve entities"]
    for later in ("contacts", "licenses", "addresses", "schedules"):
        assert began["resolve entities"] < began[f"build {later}"] < began[f"check {later}"]
    assert kept == 4  # the built entities, set aside after the later tables' checks


def test_a_full_resolution_can_leave_its_field_level_provenance_to_the_caller(tmp_path):
    cfg = _project(tmp_path)
    run(cfg)
    tbl, spec = cfg.tables()["entities"], cfg.resolve_spec("entities")
    con = connect(cfg.warehouse_path)
    try:
        query = "SELECT * FROM core.entity_field_sources ORDER BY ALL"
        built = con.execute(query).fetchall()
        assert built  # Sunshine's two records: each column says which one gave it
        con.execute("DROP TABLE core.entity_field_sources")
        res = resolve_table(con, tbl, spec, full=True, provenance_later=True)
        assert not table_exists(con, "core", "entity_field_sources")
        assert res.provenance is not None
        res.provenance()
        assert con.execute(query).fetchall() == built
    finally:
        con.close()


def crm_merge_case(folder: Path, extra: str = "", contacts: int = 600) -> tuple[Any, Path]:
    """The crm-merge case (companies resolved by the pre-pass, no Splink) with a glob for a
    second HubSpot export, and `extra` appended to its project file: (the case, its project)."""
    made = generate(folder / "case", contacts=contacts, seed=5)
    config = init(made.files[0].parent).path
    text = config.read_text().replace("path: hubspot_contacts.csv", "path: hubspot_contacts*.csv")
    config.write_text(text + extra)
    return made, config


def new_hubspot_contact(made: Any) -> None:
    """A second HubSpot export: one new contact at the first Salesforce account's company."""
    hub, sf = made.files
    with sf.open(encoding="utf-8-sig") as f:
        account = next(csv.DictReader(f, delimiter=";"))["Account.Name"]
    header = hub.read_text(encoding="utf-8").splitlines()[0]
    new = f"999001,Ada,Quill,ada.quill@example.org,,Buyer,{account},OH,2024-01-02 10:00"
    hub.with_name("hubspot_contacts_2.csv").write_text(f"{header}\n{new}\n", encoding="utf-8")


def test_a_crm_merges_companies_are_resolved_after_this_runs_contacts(tmp_path):
    """The companies' features read the contacts' e-mail domains (core.contacts, keyed by the
    entity records this run built): no contact is built beside their resolution, which has no
    Splink to wait for anyway."""
    made, config = crm_merge_case(tmp_path)
    cfg = load_config(config)
    tables = cfg.fed_tables()
    assert "contacts" in resolution_reads(tables["entities"], cfg.resolve_spec("entities"))
    assert built_meanwhile(cfg, tables) == []
    run(cfg)
    new_hubspot_contact(made)
    run(load_config(config))
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        began = dict(
            con.execute(
                "SELECT step || ' ' || target, started_at FROM meta.run_steps "
                "WHERE run_id = (SELECT max(run_id) FROM meta.run_steps)"
            ).fetchall()
        )
        sources = con.execute(
            "SELECT list(DISTINCT source ORDER BY source) FROM core.entity_sources "
            "WHERE golden_id = (SELECT golden_id FROM core.entity_sources "
            "WHERE file LIKE '%hubspot_contacts_2.csv')"
        ).fetchone()[0]
    finally:
        con.close()
    # the new HubSpot company joined the Salesforce account's golden company by its domain
    assert sources == ["hubspot_contacts", "salesforce_contacts"]
    assert began["check contacts"] < began["resolve entities"]
