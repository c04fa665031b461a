"""Incremental runs (issue 16): a run that brings new files cleans and merges only their rows,
and what it builds equals what a `--full` run builds on the same files: core tables,
quarantine, staging, row issues, reconciliation counts, check results, the search table and
its answers, golden ids. A run that fails or is killed during the merge leaves the previous
build serving, and the next run completes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import RunError, RunSummary, run
from crmpipe.search import search
from crmpipe.search import tokens as tk
from crmpipe.warehouse.connection import connect

DAY = 86_400
#: Checks that quarantine: rows without a title, contacts of an unknown entity, re-typed tech.
ERROR_CHECKS = """\
  techstacks:
    table:
      - expression: {name: not_retyped, sql: "type <> 'retyped'", severity: error}
  contacts:
    columns:
      title: [{not_null: {severity: error}}]
      entity_id: [{relationship: {to: entities, severity: error}}]
    table:
"""
QUERIES = ("title: finance", "email: gov", "tech: wordpress", "state: CA", "created>2020-01-01")


def _lines(path: Path) -> tuple[bytes, list[bytes]]:
    lines = path.read_bytes().splitlines(keepends=True)
    return lines[0], lines[1:]


def _write(path: Path, data: bytes, mtime: int) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def _copy_sql(folder: Path, sql: str, target: str, mtime: int) -> None:
    """Write a drop made by `sql` over the case's files (DuckDB, all text)."""
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({sql}) TO '{folder / target}' (HEADER)")
    finally:
        con.close()
    os.utime(folder / target, (mtime, mtime))


@pytest.fixture()
def case(tmp_path: Path) -> tuple[Path, Path, list[list[str]]]:
    """A pursuit case held back in drops: (incremental config, full config, drops' files)."""
    folder = tmp_path / "case"
    made = pursuit.generate(folder, contacts=1500, seed=3, shared=None)
    base = pursuit.MTIME_BASE
    text = made.config_path.read_text()
    for glob in ("techstacks", "entities"):
        text = text.replace(f"path: {glob}.csv", f"path: {glob}*.csv")
    assert "  contacts:\n    table:\n" in text
    text = text.replace("  contacts:\n    table:\n", ERROR_CHECKS)
    # the drops change up to a third of this small case's contacts: update the search table in
    # place all the same (the default rebuilds it above a fifth)
    text = text.replace("\nsearch:\n", "\nsearch:\n  rebuild_share: 0.5\n", 1)
    inc = folder / "crmpipe.yml"
    inc.write_text(text.replace(".crmpipe/warehouse.duckdb", ".crmpipe/incremental.duckdb"))
    full = folder / "full.yml"
    full.write_text(text.replace(".crmpipe/warehouse.duckdb", ".crmpipe/full.duckdb"))
    held = tmp_path / "held"
    held.mkdir()
    # drop A: the last 150 lines of the first contacts export, as a file of their own
    header, body = _lines(folder / "contacts_1.csv")
    _write(folder / "contacts_1.csv", header + b"".join(body[:-150]), base)
    _write(held / "contacts_1b.csv", header + b"".join(body[-150:]), base + 2 * DAY)
    # drop B: the second export (new contacts and newer versions of old ones) is a day older
    # than drop A, and techstacks re-typed for some keys, new for others, one without a name
    shutil.move(folder / "contacts_2.csv", held / "contacts_2.csv")
    ts = str(folder / "techstacks.csv")
    _copy_sql(
        held,
        f"SELECT name, place_id, 'retyped' AS type FROM read_csv('{ts}', all_varchar = true) "
        "WHERE name IN ('WordPress', 'CivicRec') UNION ALL SELECT 'NewTool' || i, "
        f"(SELECT min(place_id) FROM read_csv('{ts}', all_varchar = true)), 'cms' "
        "FROM range(5) t(i) UNION ALL SELECT NULL, 'x', 'cms'",
        "techstacks_2.csv",
        base + 3 * DAY,
    )
    # ... and a contact of an entity that only arrives with drop C (quarantined until then)
    c1 = str(folder / "contacts_1.csv")
    _copy_sql(
        held,
        "SELECT * REPLACE ('d' || contact_id AS contact_id, 'zz-later' AS place_id) FROM "
        f"read_csv('{c1}', all_varchar = true, ignore_errors = true) ORDER BY contact_id LIMIT 2",
        "contacts_5.csv",
        base + 3 * DAY,
    )
    en = str(folder / "entities.csv")
    _copy_sql(
        held,
        f"SELECT * REPLACE ('zz-later' AS place_id) FROM read_csv('{en}', all_varchar = true) "
        "LIMIT 1",
        "entities_2.csv",
        base + 4 * DAY,
    )
    # drop C: a new `nickname` column, changed titles of old contacts, new contacts, keyless rows
    _copy_sql(
        held,
        "SELECT * REPLACE ('Finance Director' AS title), 'nick' AS nickname FROM (SELECT * FROM "
        f"read_csv('{c1}', all_varchar = true, ignore_errors = true) ORDER BY lower(trim("
        "coalesce(title, ''))) IN ('', 'n/a', 'na', 'null', '-', 'none') DESC, contact_id "
        "LIMIT 40) UNION ALL SELECT * REPLACE ('n' || contact_id AS contact_id), NULL FROM "
        f"(SELECT * FROM read_csv('{c1}', all_varchar = true, ignore_errors = true) "
        "ORDER BY contact_id DESC LIMIT 20) UNION ALL SELECT * REPLACE (NULL AS contact_id), "
        f"NULL FROM (SELECT * FROM read_csv('{c1}', all_varchar = true, ignore_errors = true) "
        "LIMIT 3)",
        "contacts_4.csv",
        base + 4 * DAY,
    )
    drops = [
        ["contacts_1b.csv"],
        ["contacts_2.csv", "techstacks_2.csv", "contacts_5.csv"],
        ["contacts_4.csv", "entities_2.csv"],
    ]
    return inc, full, drops


def _bring(held: Path, folder: Path, names: list[str]) -> None:
    for name in names:
        shutil.copy2(held / name, folder / name)


def _rows(con: duckdb.DuckDBPyConnection, table: str, drop: tuple[str, ...] = ()) -> list:
    cols = [c for c in con.table(table).columns if c not in ("_loaded_at", *drop)]
    sql = ", ".join(f'"{c}"' for c in cols)
    return con.execute(f"SELECT {sql} FROM {table} ORDER BY ALL").fetchall()


#: Columns naming runs: compared only where both warehouses saw the same runs.
RUN_COLUMNS = ("_run_id", "run_id", "_quarantined_run")


#: The tables of the e-mails' postings (search.tokens).
POSTINGS = tk.names("contact_search", "emails")


def _state(config: Path, runs: bool = True) -> dict[str, object]:
    """Everything a user reads of the build, in a comparable form (`runs`: with the columns
    that name runs)."""
    drop = () if runs else RUN_COLUMNS
    cfg = load_config(config)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        out: dict[str, object] = {}
        for schema, table in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN "
            "('core', 'quarantine', 'staging', 'search') ORDER BY ALL"
        ).fetchall():
            if f"{schema}.{table}" not in POSTINGS.values():
                out[f"{schema}.{table}"] = _rows(con, f'{schema}."{table}"', drop)
        # the e-mails' postings: sorted ones or a tail by the way they were made, the same live
        out["postings"] = con.execute(
            f"SELECT tok, key_, ek_ FROM {POSTINGS['tokens']} WHERE key_ NOT IN (SELECT key_ "
            f"FROM {POSTINGS['stale']}) UNION ALL SELECT tok, key_, ek_ FROM {POSTINGS['tail']} "
            "ORDER BY ALL"
        ).fetchall()
        out["row_issues"] = _rows(con, "meta.row_issues", RUN_COLUMNS)
        for hashes in ("contact_search_row_hashes", "contact_search_entity_hashes"):
            out[hashes] = _rows(con, f"meta.{hashes}")  # what the next update compares with
        out["table_counts"] = con.execute(
            "SELECT table_name, staged, loaded, merged, quarantined, issues FROM "
            "meta.table_counts WHERE run_id = (SELECT max(run_id) FROM meta.table_counts) "
            "ORDER BY ALL"
        ).fetchall()
        out["checks"] = con.execute(
            "SELECT table_name, check_name, status, failed_rows, total_rows, measured FROM "
            "meta.check_results WHERE run_id = (SELECT max(run_id) FROM meta.check_results) "
            "ORDER BY ALL"
        ).fetchall()
        for q in QUERIES:
            res = search(con, q, aliases=cfg.search.aliases, limit=100, count_cap=None)
            out[f"search {q}"] = (res.total, res.rows)
        return out
    finally:
        con.close()


def _steps(summary: RunSummary, step: str) -> list[str]:
    return [s.detail for s in summary.steps if s.step == step]


def _reconciled(summary: RunSummary) -> list[tuple]:
    return [
        (c.table, c.read, c.loaded, c.merged, c.quarantined, c.rejected) for c in summary.tables
    ]


def test_incremental_runs_build_what_full_runs_build(case) -> None:
    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    first = run(load_config(inc))
    assert "full rebuild: no earlier build" in _steps(first, "clean")[0]
    run(load_config(full), full=True)
    quarantined: list[dict] = []
    for names in drops:
        _bring(held, folder, names)
        a = run(load_config(inc))
        b = run(load_config(full), full=True)
        assert all("incremental" in d for d in _steps(a, "clean")), _steps(a, "clean")
        assert all("full rebuild (asked)" in d for d in _steps(b, "clean"))
        # the search table was updated in place (its changed keys only), not rebuilt
        assert "contact_search:" in _steps(a, "index")[0]
        assert "keys updated" in _steps(a, "index")[0], _steps(a, "index")
        assert "rebuilt" in _steps(b, "index")[0]
        new_rows = sum(s.rows for s in a.steps if s.step == "clean")
        assert 0 < new_rows < sum(s.rows for s in b.steps if s.step == "clean") / 2
        assert _reconciled(a) == _reconciled(b)
        assert all(c.balanced for c in a.tables)
        left, right = _state(inc), _state(full)
        assert left.keys() == right.keys()
        for key in left:
            assert left[key] == right[key], key
        quarantined.append({r[0]: r for r in left["quarantine.contacts"]})
    # what the drops did is there: contacts of the late entity were quarantined until it came,
    # contacts quarantined for no title came back with a newer version that has one, newer
    # versions replaced old rows, keyless rows and re-typed tech are quarantined
    assert "dc0000001" not in quarantined[0] and "dc0000001" in quarantined[1]
    assert "dc0000001" not in quarantined[2]
    untitled = {k for k, r in quarantined[1].items() if "title is missing" in str(r)}
    fixed = untitled - set(quarantined[2])
    drop_c = duckdb.sql(f"SELECT contact_id FROM '{folder / 'contacts_4.csv'}'").fetchall()
    retitled = {r[0] for r in drop_c}
    assert fixed and fixed <= retitled
    state = _state(inc)
    assert len([r for r in state["staging.contacts"] if r[0] == "c0000001"]) == 2
    assert any(r[2] == "retyped" for r in state["quarantine.techstacks"])
    assert sum(r[0] is None for r in state["quarantine.contacts"]) == 3


def test_a_changed_project_file_rebuilds_in_full(case) -> None:
    inc, _, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    run(load_config(inc))
    inc.write_text(inc.read_text().replace("target: 90}", "target: 91}", 1))
    _bring(held, folder, drops[0])
    again = run(load_config(inc))
    assert all("full rebuild: the project file changed" in d for d in _steps(again, "clean"))


def _fingerprint(config: Path) -> dict[str, object]:
    state = _state(config)
    return {k: state[k] for k in ("core.contacts", "quarantine.contacts", "table_counts")}


def test_a_failed_merge_leaves_the_last_build_and_the_next_run_completes(case, monkeypatch) -> None:
    import crmpipe.pipeline as pipeline

    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    run(load_config(inc))
    run(load_config(full), full=True)
    before = _fingerprint(inc)
    _bring(held, folder, drops[0])
    real = pipeline.merge_core

    def failing(con, tbl, *args, **kwargs):
        result = real(con, tbl, *args, **kwargs)
        if tbl.name == "contacts":
            con.execute("SELECT error('disk full (simulated)')")
        return result

    monkeypatch.setattr(pipeline, "merge_core", failing)
    with pytest.raises(RunError, match="disk full"):
        run(load_config(inc))
    assert _fingerprint(inc) == before  # the run is one transaction: nothing of it stays
    monkeypatch.setattr(pipeline, "merge_core", real)
    done = run(load_config(inc))
    assert all("incremental" in d for d in _steps(done, "clean"))
    run(load_config(full), full=True)  # the failed run took a run id: compare without them
    assert _state(inc, runs=False) == _state(full, runs=False)


_KILLED = """\
import os, signal, sys
import crmpipe.pipeline as pipeline
from crmpipe.pipeline import run_path
real = pipeline.merge_core
def killed(con, tbl, *args, **kwargs):
    out = real(con, tbl, *args, **kwargs)
    if tbl.name == "contacts":
        os.kill(os.getpid(), signal.SIGKILL)
    return out
pipeline.merge_core = killed
if __name__ == "__main__":
    run_path(sys.argv[1])
"""


def test_a_run_killed_during_the_merge_leaves_the_last_build(case, tmp_path) -> None:
    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    run(load_config(inc))
    run(load_config(full), full=True)
    before = _fingerprint(inc)
    _bring(held, folder, drops[0])
    script = tmp_path / "killed.py"
    script.write_text(_KILLED)
    proc = subprocess.run([sys.executable, str(script), str(inc)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert _fingerprint(inc) == before
    done = run(load_config(inc))
    assert all("incremental" in d for d in _steps(done, "clean"))
    run(load_config(full), full=True)
    assert _state(inc, runs=False) == _state(full, runs=False)


def test_new_columns_that_change_a_mapped_header_rebuild_in_full(case) -> None:
    inc, _, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    run(load_config(inc))
    # as if the earlier files had spelled the header `Title`: the mapping's `title` read it,
    # and a file bringing an exact `title` column changes what the mapping reads
    con = connect(load_config(inc).warehouse_path)
    try:
        ((value,),) = con.execute(
            "SELECT value FROM meta.build_state WHERE key = 'basis'"
        ).fetchall()
        basis = json.loads(value)
        cols = basis["sources"]["contacts"]["columns"]
        basis["sources"]["contacts"]["columns"] = ["Title" if c == "title" else c for c in cols]
        con.execute(
            "UPDATE meta.build_state SET value = ? WHERE key = 'basis'", [json.dumps(basis)]
        )
    finally:
        con.close()
    _bring(held, folder, drops[0])
    again = run(load_config(inc))
    reason = "full rebuild: new columns of contacts change what 'title' reads"
    assert all(reason in d for d in _steps(again, "clean"))


def test_a_warehouse_staged_with_other_columns_rebuilds_in_full(case) -> None:
    inc, _, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    run(load_config(inc))
    con = connect(load_config(inc).warehouse_path)
    try:  # as a warehouse staged by code with another layout would be
        con.execute("ALTER TABLE staging.techstacks ADD COLUMN retired VARCHAR")
    finally:
        con.close()
    _bring(held, folder, drops[0])
    again = run(load_config(inc))
    reason = "full rebuild: the columns of staging.techstacks changed"
    assert all(reason in d for d in _steps(again, "clean"))


def test_a_large_change_rebuilds_the_search_table(case) -> None:
    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    inc.write_text(inc.read_text().replace("rebuild_share: 0.5", "rebuild_share: 0.1"))
    run(load_config(inc))
    run(load_config(full), full=True)
    _bring(held, folder, drops[1])  # a fourth of the contacts new or changed: over 10%
    again = run(load_config(inc))
    assert all("incremental" in d for d in _steps(again, "clean"))
    assert _steps(again, "index") == ["contact_search: rebuilt"]
    run(load_config(full), full=True)
    left, right = _state(inc, runs=False), _state(full, runs=False)
    assert [k for k in left if left[k] != right.get(k)] == []


def test_a_commit_without_vacuum_keeps_the_rows_and_vacuum_off(tmp_path) -> None:
    """What a run's commit does (warehouse.connection.commit_without_vacuum): the deletes and
    inserts are kept, on disk too, and DuckDB's vacuum stays off for the connection's close (whose
    checkpoint would otherwise do the vacuum the commit skipped)."""
    from crmpipe.warehouse.connection import commit_without_vacuum

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(300000)")
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM t WHERE i % 40 = 0")
    con.execute("INSERT INTO t SELECT -range FROM range(1, 11)")
    commit_without_vacuum(con)
    assert con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0] == 0
    con.execute("INSERT INTO t VALUES (-11)")  # a write after it: the close checkpoints
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*), min(i) FROM t").fetchone() == (292511, -11)
    con.close()


def test_tables_whose_deleted_rows_pile_up_are_written_anew(tmp_path) -> None:
    """warehouse/compact.py, which an incremental run calls before it writes: a large table
    whose deleted rows (kept by DuckDB in their row groups) pass the share of its stored rows
    is written anew from its live rows, in the same order; one under the share is left."""
    from crmpipe.warehouse.compact import DEAD_SHARE, bloated, compact

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE SCHEMA search")
    for name in ("core.piled", "core.few", "search.rows"):
        con.execute(
            f"CREATE TABLE {name} AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(400000)"
        )
    con.execute("CHECKPOINT")
    # every 3rd row of `piled` (33% > the share), every 20th of `few` (5%), as drops do
    con.execute("DELETE FROM core.piled WHERE i % 3 = 0")
    con.execute("DELETE FROM core.few WHERE i % 20 = 0")
    con.execute("DELETE FROM search.rows WHERE i % 3 = 0")  # search tables: their own rule
    con.execute("SET max_vacuum_tasks = 0")  # as a run commits (commit_without_vacuum)
    con.execute("CHECKPOINT")
    con.close()
    con = duckdb.connect(str(path))
    found = bloated(con)
    assert [(b.table, b.live) for b in found] == [("core.piled", 266666)]
    assert found[0].dead / found[0].stored > DEAD_SHARE
    before = con.execute("SELECT i, s FROM core.piled").fetchall()
    con.execute("BEGIN TRANSACTION")
    assert compact(con, found) == 133334
    con.execute("COMMIT")
    assert con.execute("SELECT i, s FROM core.piled").fetchall() == before  # order kept
    assert bloated(con) == []
    ((stored,),) = con.execute(
        "SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'piled'"
    ).fetchall()
    assert stored == 266666
    con.close()


def test_a_full_run_writes_anew_the_meta_tables_whose_deleted_rows_pile_up(case) -> None:
    """No run's commit vacuums (warehouse.connection.commit_without_vacuum), so a full run too
    writes anew a `meta` table whose deleted rows passed the share, before it reads it; the
    live rows stay."""
    from crmpipe.warehouse.compact import bloated

    inc, _, _ = case
    run(load_config(inc))
    path = inc.parent / ".crmpipe" / "incremental.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta.piled AS SELECT range AS i FROM range(300000)")
    con.execute("CHECKPOINT")
    con.execute("DELETE FROM meta.piled WHERE i % 2 = 0")
    con.execute("SET max_vacuum_tasks = 0")
    con.execute("CHECKPOINT")
    assert [b.table for b in bloated(con, ("meta",))] == ["meta.piled"]
    con.close()
    summary = run(load_config(inc), full=True)
    assert [s.target for s in summary.steps if s.step == "compact"] == ["meta.piled"]
    assert _steps(summary, "compact") == ["150,000 deleted rows dropped"]
    con = duckdb.connect(str(path), read_only=True)
    assert bloated(con, ("meta",)) == []
    assert con.execute("SELECT count(*), min(i) FROM meta.piled").fetchone() == (150000, 1)
    con.close()


def test_the_snapshot_of_the_merged_keys_finds_what_comparing_every_record_finds(
    case, monkeypatch
) -> None:
    """The records an incremental run updates in place, comparing only the keys the build
    merged and those quarantined (resolution/records.py), are those comparing every record
    gives: same numbers, same rows, through drops that replace, quarantine and bring back."""
    import crmpipe.pipeline as pipeline
    import crmpipe.resolution.records as records

    inc, full, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    every = folder / "every.yml"  # the same runs, each record compared
    every.write_text(inc.read_text().replace("incremental.duckdb", "every.duckdb"))
    real, adds_up, checked = pipeline.snapshot_records, records._adds_up, []
    monkeypatch.setattr(records, "_adds_up", lambda *a: checked.append(adds_up(*a)) or checked[-1])
    for names in [[], *drops]:
        _bring(held, folder, names)
        run(load_config(inc))
        monkeypatch.setattr(
            pipeline, "snapshot_records", lambda c, t, **k: real(c, t, full=k["full"])
        )
        run(load_config(every))
        monkeypatch.setattr(pipeline, "snapshot_records", real)
        numbered = [_state(c, runs=False) | {"records": _records(c)} for c in (inc, every)]
        assert numbered[0] == numbered[1]
    # drops A and C compared the merged keys only, and found every change (the count of
    # records adds up, no second comparison of every record); B, a day older than A, moved the
    # files' ranks, and every record was numbered again
    assert checked == [True, True]


def _records(config: Path) -> list:
    con = connect(load_config(config).warehouse_path, read_only=True)
    try:
        return _rows(con, "resolved.contact_records")
    finally:
        con.close()


def test_the_index_step_told_what_changed_updates_what_hashing_every_row_updates(
    case, monkeypatch
) -> None:
    """The index step of an incremental run is told the golden ids resolution rewrote and the
    tables no step changed (build/written.py), instead of hashing every golden row and entity
    to find them (search.refresh.Hint): through drops that replace, quarantine and bring back
    rows, its search table, hashes and answers equal those of the same runs hashing every
    row."""
    import crmpipe.build.written as written
    from crmpipe.search.refresh import Hint

    inc, _, drops = case
    folder, held = inc.parent, inc.parent.parent / "held"
    every = folder / "every.yml"  # the same runs, every row hashed
    every.write_text(inc.read_text().replace("incremental.duckdb", "every.duckdb"))
    real, hints = written.Written.hint, []
    monkeypatch.setattr(written.Written, "hint", lambda w: hints.append(real(w)) or hints[-1])
    for names in [[], *drops]:
        _bring(held, folder, names)
        run(load_config(inc))
        monkeypatch.setattr(written.Written, "hint", lambda w: Hint())
        run(load_config(every))
        monkeypatch.setattr(written.Written, "hint", lambda w: hints.append(real(w)) or hints[-1])
        assert _state(inc, runs=False) == _state(every, runs=False)
    # drops A and C were resolved in place, and listed the golden ids they rewrote (B, a day
    # older than A, numbered every record again); A brought contacts only, so no table of a
    # search row's entity part changed, and C brought an entity
    assert [sorted(h.keys) for h in hints] == [["contacts"], [], ["contacts"]]
    assert {"entities", "techstacks", "external_ids"} <= hints[0].unchanged
    assert "techstacks" not in hints[1].unchanged and "entities" not in hints[2].unchanged
