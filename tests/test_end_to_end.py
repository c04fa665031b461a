"""End to end on a generated public-sector case: files → run → search, checked against an
independent computation over the generator's ground truth and the source files."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.demo.runner import REFERENCE_QUERIES
from crmpipe.pipeline import RunError, run
from crmpipe.search import search
from crmpipe.warehouse.connection import connect
from crmpipe.warehouse.runs import list_runs
from support.imports import HEAVY, RUN_CLI, heavy_modules_loaded

pytestmark = pytest.mark.slow  # a 20,000-contact case, generated and run

runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pursuit")
    # Exact answers from truth.csv: no planted duplicates and no resolution (test_resolve.py
    # covers those).
    case = pursuit.generate(folder, contacts=20_000, seed=7, duplicates=0)
    with case.config_path.open("a", encoding="utf-8") as fh:
        fh.write("resolve:\n  contacts: {enabled: false}\n")
    cfg = load_config(case.config_path)
    summary = run(cfg)
    return case, cfg, summary


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        return list(csv.DictReader(fh))


def _expected(case) -> dict[str, set[str]]:
    """The reference queries' answers computed from truth.csv and the source files alone."""
    folder = case.folder
    truth = [r for r in _rows(case.truth_path) if r["rejected"] != "true"]
    pop: dict[str, int] = {}
    for r in _rows(folder / "entities.csv"):
        digits = re.sub(r"[,\s$]", "", r["pop_estimate_2022"])
        if digits.isdigit():
            pop[r["place_id"]] = int(digits)
    techs: dict[str, set[str]] = {}
    for r in _rows(folder / "techstacks.csv"):
        techs.setdefault(r["place_id"], set()).add(r["name"].lower())
    customer_a = {r["place_id"] for r in _rows(folder / "crma.csv")}
    return {
        "title: finance": {r["contact_id"] for r in truth if "finance" in r["title"].lower()},
        "filter: bob Accela >10000": {
            r["contact_id"]
            for r in truth
            if any("bob" in e for e in r["emails"].split(";"))
            and any("accela" in t for t in techs.get(r["entity_id"], ()))
            and pop.get(r["entity_id"], 0) > 10000
        },
        "crm: a": {r["contact_id"] for r in truth if r["entity_id"] in customer_a},
    }


def _answer(cfg, query: str) -> set[str]:
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        res = search(
            con,
            query,
            aliases=cfg.search.aliases,
            shorthands=cfg.search.shorthands,
            limit=1_000_000,
            count_cap=1_000_000,
            columns=["contact_id"],
        )
    finally:
        con.close()
    assert res.total == len(res.rows) and not res.capped
    return {r[0] for r in res.rows}


@pytest.mark.parametrize("query", REFERENCE_QUERIES)
def test_reference_queries_match_the_ground_truth(project, query):
    case, cfg, _ = project
    expected = _expected(case)[query]
    assert expected, f"the generated case has no material for {query!r}"
    assert _answer(cfg, query) == expected


def test_every_row_is_accounted_for(project):
    case, cfg, summary = project
    for counts in summary.tables:
        assert counts.read == counts.loaded + counts.merged + counts.quarantined + counts.rejected
    contacts = next(c for c in summary.tables if c.table == "contacts")
    truth = _rows(case.truth_path)
    assert contacts.loaded == sum(1 for r in truth if r["rejected"] != "true")
    assert contacts.rejected == case.counts["malformed_lines"]
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rejects = con.execute(
            "SELECT count(DISTINCT (file, line)), count(*) FILTER (WHERE message IS NULL) "
            "FROM meta.rejects"
        ).fetchone()
        issues = con.execute(
            "SELECT count(*) FROM meta.row_issues WHERE table_name = 'contacts' "
            "AND column_name = 'emails' AND code = 'invalid_email'"
        ).fetchone()[0]
    finally:
        con.close()
    assert rejects == (case.counts["malformed_lines"], 0)
    assert issues > 0  # planted invalid emails are recorded, not silently dropped


def test_cleaned_values_equal_the_truth(project):
    case, cfg, _ = project
    truth = {r["contact_id"]: r for r in _rows(case.truth_path) if r["rejected"] != "true"}
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rows = con.execute(
            "SELECT contact_id, entity_id, lower(first_name), lower(last_name), "
            "array_to_string(emails, ';'), phone, phone_ext FROM core.contacts"
        ).fetchall()
    finally:
        con.close()
    mismatches = []
    for cid, entity, first, last, emails, phone, ext in rows:
        t = truth[cid]
        got = (entity, first or "", last or "", emails or "", phone or "", ext or "")
        want = (
            t["entity_id"],
            t["first_name"].lower(),
            t["last_name"].lower(),
            t["emails"],
            t["phone"],
            t["phone_ext"],
        )
        if got != want:
            mismatches.append((cid, got, want))
    assert not mismatches[:5], f"{len(mismatches)} contacts differ from the truth"


def test_rerun_with_the_same_files_changes_nothing(project):
    case, cfg, first = project
    con = connect(cfg.warehouse_path, read_only=True)
    before = con.execute(
        "SELECT count(*), sum(hash(contact_id, title)) FROM core.contacts"
    ).fetchone()
    con.close()
    again = run(cfg)
    assert again.up_to_date
    assert again.files_loaded == 0 and again.files_skipped == first.files_loaded
    con = connect(cfg.warehouse_path, read_only=True)
    after = con.execute(
        "SELECT count(*), sum(hash(contact_id, title)) FROM core.contacts"
    ).fetchone()
    raw = con.execute('SELECT count(*) FROM raw."contacts"').fetchone()[0]
    con.close()
    assert after == before
    assert raw == sum(r.rows_loaded for r in first.files if r.source == "contacts")


def test_failed_run_leaves_the_previous_build(project, tmp_path):
    case, cfg, _ = project
    folder = tmp_path / "copy"
    shutil.copytree(case.folder, folder)
    text = (folder / "crmpipe.yml").read_text().replace("title: title", "title: job_title")
    (folder / "crmpipe.yml").write_text(text)
    broken = load_config(folder / "crmpipe.yml")
    # new file content forces a rebuild, which fails on the unknown header
    with (folder / "contacts_2.csv").open("a") as fh:
        fh.write("c9999999,x,New,Person,new@x.gov,,Clerk,Clerk,2024-01-01\n")
    con = connect(broken.warehouse_path, read_only=True)
    before = con.execute("SELECT count(*) FROM search.contact_search").fetchone()
    con.close()
    with pytest.raises(RunError, match=r"sources.contacts.columns.title: header 'job_title'"):
        run(broken)
    con = connect(broken.warehouse_path, read_only=True)
    assert con.execute("SELECT count(*) FROM search.contact_search").fetchone() == before
    assert list_runs(con, 1)[0].status == "failed"
    con.close()


def test_cli_run_search_runs(project):
    case, cfg, _ = project
    path = str(case.config_path)
    res = runner.invoke(app, ["run", "-c", path])
    assert res.exit_code == 0, res.output
    assert "up to date" in res.output
    res = runner.invoke(
        app, ["search", "title: finance", "-c", path, "--format", "json", "--limit", "3"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert len(doc["rows"]) == 3 and doc["total"] == len(_expected(case)["title: finance"])
    res = runner.invoke(app, ["search", "crm: a", "-c", path, "--format", "csv", "-n", "2"])
    assert res.exit_code == 0 and res.output.splitlines()[0].startswith("contact_id,")
    assert len(res.output.splitlines()) == 3
    res = runner.invoke(app, ["search", "crm: a", "-c", path, "--explain"])
    assert res.exit_code == 0 and "SELECT" in res.output
    res = runner.invoke(app, ["runs", "-c", path])
    assert res.exit_code == 0 and "success" in res.output


def test_a_warehouse_search_loads_neither_postgresql_nor_the_pipeline(project):
    """`crmpipe search` over the DuckDB warehouse imports what it uses: no psycopg (only --pg
    needs it), no pyarrow, Splink, publish stack or pipeline (docs/architecture.md, "Start-up")."""
    case, _, _ = project
    args = ["search", "title: finance", "-c", str(case.config_path), "-n", "1"]
    heavy = tuple(m for m in HEAVY if m != "duckdb")
    assert heavy_modules_loaded(RUN_CLI, *args, heavy=heavy) == []


def test_cli_errors_are_one_line(project, tmp_path):
    case, _, _ = project
    res = runner.invoke(app, ["search", "titel: finance", "-c", str(case.config_path)])
    assert res.exit_code == 1
    assert "did you mean" in res.output and "title" in res.output
    assert "Traceback" not in res.output
    (tmp_path / "crmpipe.yml").write_text("sources:\n  x:\n    path: a.csv\n    table: contact\n")
    res = runner.invoke(app, ["run", "-c", str(tmp_path / "crmpipe.yml")])
    assert res.exit_code == 1
    assert "unknown table 'contact' — did you mean 'contacts'?" in res.output
    (tmp_path / "crmpipe.yml").write_text("warehouse: none-yet.duckdb\n")
    res = runner.invoke(app, ["runs", "-c", str(tmp_path / "crmpipe.yml")])
    assert res.exit_code == 1 and "no warehouse yet; run 'crmpipe run' first" in res.output
