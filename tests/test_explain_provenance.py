"""`crmpipe explain entity ID` on a leads project shows the field-level provenance: each lead
column's surviving value and the source, file and row it came from (marts.lead_provenance)."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.schema import Config
from crmpipe.render.console import explanation_tables
from crmpipe.resolution.explain import explain
from test_publish_leads import make_leads_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return make_leads_project(tmp_path_factory.mktemp("explain") / "leads")


def _golden(cfg: Config, company: str) -> str:
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        (gid,) = con.execute(
            "SELECT entity_id FROM marts.leads WHERE upper(company) = ?", [company]
        ).fetchone()
    return str(gid)


def test_explanation_carries_each_columns_value_and_source_row(project: Config) -> None:
    gid = _golden(project, "SUNSHINE ACADEMY")
    with duckdb.connect(str(project.warehouse_path), read_only=True) as con:
        ex = explain(con, project.tables()["entities"], gid)
        stored = con.execute(
            "SELECT column_name, value, source, file, row FROM marts.lead_provenance "
            "WHERE entity_id = ?",
            [gid],
        ).fetchall()
    got = {p.column: (p.value, p.source, Path(p.file).name, p.row) for p in ex.provenance}
    assert got == {c: (v, s, Path(f).name, r) for c, v, s, f, r in stored}
    # The merged facility's values come from both lists: its license from Nevada's drop, its
    # hours from Oklahoma's list.
    assert got["license_number"] == ("1106-22", "nevada", "nevada_20241101.csv", 1)
    assert got["schedule"][1:] == ("oklahoma", "oklahoma.csv", 1)
    # In the leads table's column order.
    assert [p.column for p in ex.provenance][0] == "accepts_financial_aid"

    buf = io.StringIO()
    console = Console(file=buf, width=200, color_system=None)
    for t in explanation_tables(ex):
        console.print(t)
    text = buf.getvalue()
    assert "each value and the source row it came from" in text
    line = next(ln for ln in text.splitlines() if "license_number" in ln and "1106-22" in ln)
    assert "nevada" in line and "nevada_20241101.csv" in line


def test_cli_explain_entity_shows_the_provenance(project: Config) -> None:
    gid = _golden(project, "SUNSHINE ACADEMY")
    config = project.warehouse_path.parent
    while not (config / "crmpipe.yml").exists():
        config = config.parent
    out = CliRunner().invoke(
        app,
        ["explain", "entity", gid, "-c", str(config / "crmpipe.yml")],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "each value and the source row it came from" in out.stdout
    assert "1106-22" in out.stdout and "license_number" in out.stdout
    assert "oklahoma.csv" in out.stdout


def test_no_provenance_section_without_leads(tmp_path: Path) -> None:
    """A contacts project builds no leads: explain shows what it always did."""
    from crmpipe.resolution.explain import lead_provenance

    con = duckdb.connect()
    try:
        assert lead_provenance(con, "x") == []
    finally:
        con.close()
