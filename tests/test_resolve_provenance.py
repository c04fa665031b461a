"""Field-level provenance of golden records (issue 15): for each golden column, the member
record that gave the value (`core.<x>_field_sources`), chosen by the survivorship rule itself,
and shown by `crmpipe explain`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.resolution.explain import explain
from crmpipe.warehouse.connection import connect
from test_resolve import CRM_A, CRM_B, PROJECT, _write

runner = CliRunner()


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    (tmp_path / "entities.csv").write_text("place_id,name\ne1,Town\ne2,City\n", encoding="utf-8")
    _write(tmp_path, "a.csv", CRM_A, 1_700_000_000)
    _write(tmp_path, "b.csv", CRM_B, 1_700_086_400)
    (tmp_path / "crmpipe.yml").write_text(PROJECT, encoding="utf-8")
    run(load_config(tmp_path / "crmpipe.yml"))
    return tmp_path


def _origins(folder: Path, golden_id: str) -> dict[str, tuple]:
    con = connect(folder / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute(
            'SELECT column_name, record_id, source, "row" FROM core.contact_field_sources '
            "WHERE golden_id = ?",
            [golden_id],
        ).fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def test_each_value_names_the_record_its_rule_chose(built: Path) -> None:
    got = _origins(built, "c1")  # c1 (crm_a row 1), d1 (crm_b row 1), d9 (crm_b row 3)
    assert got["first_name"] == ("c1", "crm_a", 1)  # most_complete: Robert
    assert got["title"][1] == "crm_a"  # source_priority: crm_a first
    assert got["department"] == ("d1", "crm_b", 1)  # most_frequent: Finance, the newer one
    assert got["phone"] == ("d9", "crm_b", 3)  # most_recent: the newest file's last row
    assert got["last_name"] == ("d9", "crm_b", 3)
    assert "emails" not in got  # a union of the members has no single origin
    assert _origins(built, "c3") == {}  # alone: its lineage row is its origin


def test_the_named_record_holds_the_golden_value(built: Path) -> None:
    con = connect(built / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute(
            "SELECT f.golden_id, f.column_name, f.record_id FROM core.contact_field_sources f"
        ).fetchall()
        cols = [d[0] for d in con.execute("SELECT * FROM core.contacts LIMIT 0").description]
        golden = {
            r[0]: dict(zip(cols, r, strict=True))
            for r in con.execute("SELECT * FROM core.contacts").fetchall()
        }
        members = {
            r[0]: dict(zip(cols, r, strict=True))
            for r in con.execute(
                f"SELECT {', '.join(cols)} FROM resolved.contact_records"
            ).fetchall()
        }
    finally:
        con.close()
    assert len(rows) > 10
    for golden_id, column, record_id in rows:
        assert members[record_id][column] == golden[golden_id][column], (golden_id, column)


def test_explain_shows_where_each_value_came_from(built: Path) -> None:
    cfg = load_config(built / "crmpipe.yml")
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        merged = explain(con, cfg.tables()["contacts"], "c1")
        alone = explain(con, cfg.tables()["contacts"], "c3")
    finally:
        con.close()
    prov = {p.column: p for p in merged.provenance}
    assert prov["first_name"].value == "Robert" and prov["first_name"].row == 1
    assert prov["emails"].source == "all members" and "rsmith@town.gov" in prov["emails"].value
    assert {p.source for p in alone.provenance} == {"crm_a"}
    assert {p.row for p in alone.provenance} == {3}
    out = runner.invoke(app, ["explain", "contact", "c1", "-c", str(built / "crmpipe.yml")])
    assert out.exit_code == 0, out.output
    assert "each value and the source row it came from" in out.output
    assert "all members" in out.output


def test_lineage_names_one_rule_where_two_link_at_the_same_probability() -> None:
    """Two pre-pass rules linking a record at probability 1: the lineage names the first in
    alphabetical order whatever order the pairs are stored in, so two runs agree."""
    import duckdb

    from crmpipe.model import Column, Role, Table
    from crmpipe.resolution.survivorship import build_lineage

    tbl = Table("facts", ("fid",), (Column("fid", Role.ID),))
    answers = set()
    for order in ("ASC", "DESC"):
        con = duckdb.connect()
        con.execute("CREATE SCHEMA staging")
        con.execute(
            "CREATE TABLE staging.facts AS SELECT *, 'h' AS _file_hash FROM (VALUES "
            "('a', 's', 'f', 1), ('b', 's', 'f', 2)) t(fid, _source, _file, _row)"
        )
        con.execute("CREATE SCHEMA meta")  # the load manifest: one load of file f
        con.execute(
            "CREATE TABLE meta.manifest AS SELECT 'f' AS file, 'h' AS file_hash, "
            "TIMESTAMP '2024-01-01' AS file_mtime, TIMESTAMP '2024-01-02' AS loaded_at"
        )
        con.execute("CREATE TABLE rec AS SELECT *, _row AS _rid FROM staging.facts")
        con.execute(
            "CREATE TABLE cl AS SELECT * FROM (VALUES (1, 'a', 2), (2, 'a', 2)) "
            "t(_rid, golden_id, _size)"
        )
        con.execute(
            "CREATE TABLE pairs AS SELECT * FROM (VALUES (1, 2, 'phone', 1.0), "
            f"(1, 2, 'name+address', 1.0), (1, 2, 'splink', 0.97)) t(_rid_l, _rid_r, rule, "
            f"match_probability) ORDER BY rule {order}"
        )
        build_lineage(con, tbl, "rec", "cl", "pairs", "out")
        answers.add(
            tuple(con.execute("SELECT record_id, matched_by FROM out ORDER BY 1").fetchall())
        )
        con.close()
    assert answers == {(("a", "name+address"), ("b", "name+address"))}


def test_a_file_changed_in_place_lists_each_of_its_rows_once(built: Path) -> None:
    """Staging keeps both versions of a file changed in place (one path, two loads); the
    lineage lists a record at the same place in both once, and keeps the row of one only the
    old version holds (c7, dropped from the new one), on an incremental run and a full one."""
    a = built / "a.csv"
    lines = a.read_text(encoding="utf-8").replace("Town Clerk", "Clerk").splitlines()
    a.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    os.utime(a, (1_700_200_000, 1_700_200_000))  # newer than b.csv: the build's newest file
    cfg = load_config(built / "crmpipe.yml")
    answers = []
    for full in (False, True):
        run(cfg, full=full)
        con = connect(built / ".crmpipe" / "warehouse.duckdb", read_only=True)
        try:
            staged = con.execute(
                "SELECT count(*), count(DISTINCT _file_hash) FROM staging.contacts "
                "WHERE _file LIKE '%a.csv'"
            ).fetchone()
            rows = con.execute(
                'SELECT golden_id, record_id, file, "row", matched_by FROM core.contact_sources '
                "ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()
        assert staged == (2 * len(CRM_A) - 1, 2)  # both versions kept in staging, as history
        positions = [(r[2], r[3]) for r in rows]
        assert len(positions) == len(set(positions)) == len(CRM_A) + len(CRM_B)
        assert [r[1] for r in rows if r[1] == "c7"] == ["c7"]
        answers.append(rows)
    assert answers[0] == answers[1]
