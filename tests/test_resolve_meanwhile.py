"""Work beside Splink: the warehouse connection builds the later tables while Splink scores the
first resolved table on its own connection, and a resolution's field-level provenance while the
next one's Splink scores (resolution/scoring.score_beside, resolve_table, pipeline)."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from crmpipe.pipeline import run
from crmpipe.resolution import scoring
from crmpipe.resolution.run import resolve_table
from crmpipe.resolution.scoring import Scored, score_beside
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
