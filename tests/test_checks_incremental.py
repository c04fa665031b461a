"""The checks of an incremental run counted from the rows its build changed (quality.incremental).

Over the drops of test_incremental_run's case (error checks that quarantine: a missing title, a
contact of an unknown entity, re-typed tech; an entity that only comes with the last drop) and
one more drop that replaces the newest contact with an older version of it:

- every check result, the SLA and quality figures, the quarantine and the recorded figures
  equal those of a full run on the same files;
- they were counted from the changed rows where that is exact (a drop of contacts alone, and
  the tables no drop touched) and the whole table was read where it is not: a relationship
  whose target changed, a table with an `expression` check, the newest date taken out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.quality import incremental
from crmpipe.warehouse.connection import connect
from test_incremental_run import DAY, _bring, _copy_sql, case  # noqa: F401 (a fixture)

LATEST = "(SELECT max(run_id) FROM meta.runs)"


def _figures(config: Path) -> dict[str, list]:
    """What the checks wrote of the last run, in a comparable form (the freshness SLA's age
    moves with the clock: its message is left out, its status kept)."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        return {
            "checks": con.execute(
                "SELECT table_name, check_name, status, failed_rows, total_rows, measured, "
                f"message FROM meta.check_results WHERE run_id = {LATEST} ORDER BY ALL"
            ).fetchall(),
            "slas": con.execute(
                "SELECT sla_name, status, CASE WHEN metric = 'freshness' THEN NULL ELSE measured "
                "END, CASE WHEN metric = 'freshness' THEN NULL ELSE message END "
                f"FROM meta.sla_results WHERE run_id = {LATEST} ORDER BY ALL"
            ).fetchall(),
            "profiles": con.execute(
                "SELECT table_name, column_name, row_count, null_count FROM meta.column_profiles "
                f"WHERE run_id = {LATEST} ORDER BY ALL"
            ).fetchall(),
            "recorded": con.execute(
                f"SELECT table_name, basis, figures FROM {incremental.STATE_TABLE} ORDER BY ALL"
            ).fetchall(),
            "quarantine": con.execute(
                "SELECT contact_id, _check, _reason FROM quarantine.contacts ORDER BY ALL"
            ).fetchall(),
        }
    finally:
        con.close()


def _older_newest(config: Path, folder: Path, held: Path) -> str:
    """A drop replacing the built contact with the newest created_at by a version of it a year
    older (its other values as in a contacts file)."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        ((key, newest),) = con.execute(
            "SELECT contact_id, created_at FROM core.contacts__unresolved "
            "ORDER BY created_at DESC NULLS LAST LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    files = ", ".join(f"'{p}'" for p in sorted(folder.glob("contacts_*.csv")))
    older = str(newest.replace(year=newest.year - 1))
    _copy_sql(
        held,
        f"SELECT * REPLACE ('{older}' AS created_at) FROM read_csv([{files}], all_varchar = "
        f"true, union_by_name = true, ignore_errors = true) WHERE contact_id = '{key}' LIMIT 1",
        "contacts_6.csv",
        1_717_200_000 + 9 * DAY,
    )
    return "contacts_6.csv"


def test_checks_counted_from_the_changed_rows_equal_a_full_run(case, monkeypatch) -> None:  # noqa: F811
    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    counted: dict[str, bool] = {}
    real = incremental.counted

    def spy(con, table, *args, **kwargs):  # which tables were counted, not scanned
        out = real(con, table, *args, **kwargs)
        counted[table] = out is not None
        return out

    monkeypatch.setattr(incremental, "counted", spy)
    run(load_config(inc))
    run(load_config(full), full=True)
    seen = []
    for names in [*drops, None]:
        if names is None:  # after the case's drops: the newest contact made older
            names = [_older_newest(inc, folder, held)]
        _bring(held, folder, names)
        counted.clear()
        run(load_config(inc))
        run(load_config(full), full=True)
        left, right = _figures(inc), _figures(full)
        for key in left:
            assert left[key] == right[key], (names, key)
        assert left["recorded"] and {r[0] for r in left["recorded"]} == {
            "contacts",
            "entities",
            "external_ids",
        }  # techstacks has an expression check: never counted, nothing recorded
        seen.append(dict(counted))
    # drop A: contacts only; B: techstacks too and a contact of an entity not there yet;
    # C: that entity comes (the target of the relationships of contacts and external ids
    # changed: read in full); D: the newest contact replaced by an older version (read in
    # full). techstacks has an expression check: always read in full.
    every = {"entities": True, "contacts": True, "external_ids": True, "techstacks": False}
    assert seen[0] == seen[1] == every
    assert seen[2] == {**every, "contacts": False, "external_ids": False}
    assert seen[3] == {**every, "contacts": False}


@pytest.mark.parametrize("left", [[1, 0, 1, 0, 5, "x"], [1, 1, 1, 0, 5, None]])
def test_a_left_row_that_would_be_quarantined_or_holds_the_newest_is_not_counted(
    tmp_path: Path, left: list
) -> None:
    """The arithmetic: `kept − left + came` per count, the newest kept unless it left."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA meta")
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.t AS SELECT 1 AS a")
    layout = incremental.Layout(checks=1, stamps=1)
    incremental.save(con, "t", "b", [1, 0, 1, 0, 5, "x", 0])
    rows = {"l": [*left, 0], "c": [1, 0, 1, 1, 6, "w", 0]}

    def scan(source: str) -> str:
        values = ", ".join(repr(v) if v is not None else "NULL" for v in rows[source])
        return f"SELECT {values}"

    delta = incremental.Delta("l", "c")
    assert incremental.counted(con, "t", "b", scan, delta, layout) is None
    rows["l"] = [1, 0, 1, 0, 5, "a", 0]  # an older date left: the newest stays
    assert incremental.counted(con, "t", "b", scan, delta, layout) == [1, 0, 1, 1, 6, "x", 0]
    assert incremental.counted(con, "t", "other", scan, delta, layout) is None


def test_rows_rewritten_after_their_checks_are_read_in_full_next_time(case, monkeypatch) -> None:  # noqa: F811
    """Gender inferred on a table that is not resolved rewrites its built rows after their
    checks: no figures are kept for it, and the next run reads it all. (Its profile then counts
    the genders inferred by the last run, where a full run's counts none yet: as before.)"""
    inc, _, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    extra = "resolve:\n  contacts: {enabled: false}\nenrich:\n  gender: {tables: [contacts]}\n"
    inc.write_text(inc.read_text() + extra)
    counted: dict[str, bool] = {}
    real = incremental.counted

    def spy(con, table, *args, **kwargs):
        out = real(con, table, *args, **kwargs)
        counted[table] = out is not None
        return out

    monkeypatch.setattr(incremental, "counted", spy)
    run(load_config(inc))
    assert "contacts" not in {r[0] for r in _figures(inc)["recorded"]}
    _bring(held, folder, drops[0])
    run(load_config(inc))
    assert counted == {
        "entities": True,
        "contacts": False,
        "external_ids": True,
        "techstacks": False,
    }
    assert "contacts" not in {r[0] for r in _figures(inc)["recorded"]}
