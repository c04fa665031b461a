"""Data-quality checks, quarantine, SLAs and scores on small real DuckDB projects (no mocks).

The same checks run on a good and a bad version of a tiny contacts file: every check type
passes on the first and fails on the second. Then: quarantine keeps the row and its reason,
counts reconcile on a generated run with planted failures, exit codes, config errors.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.expression import validate_expression
from crmpipe.config.load import ConfigError, load_config, parse_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import EXIT_CHECKS_FAILED, run
from crmpipe.quality.quarantine import quarantine
from crmpipe.warehouse.connection import connect
from crmpipe.warehouse.runs import list_runs

runner = CliRunner()
RECENT = (date.today() - timedelta(days=2)).isoformat()

ENTITIES = "place_id,display_name,state_abbr,pop\np1,Alpha City,CA,1000\np2,Beta Town,TX,50000\n"
GOOD = (
    "contact_id,place_id,first_name,last_name,email,phone,title,created_at\n"
    f"c1,p1,Ann,Lee,ann@x.gov,212-555-0142,Clerk,{RECENT}\n"
    f"c2,p1,Bob,Ray,bob@x.gov,(212) 555-0143,Finance Director,{RECENT}\n"
    f"c3,p2,Cy,Dee,cy@x.gov,212.555.0144,Treasurer,{RECENT}\n"
)
BAD = (
    "contact_id,place_id,first_name,last_name,email,phone,title,created_at\n"
    "b1,p1,Ann,Lee,ann@x.gov,212-555-0142,Clerk,2019-05-01\n"
    "b2,p1,bob,Ray,not-an-email,212-555-0142,Janitor,2019-05-01\n"
    "b3,p9,Cy,,cy@x.gov,123,,2019-05-01\n"
    "b4,p2,Di,Eve,di@x.gov,212-555-0145,Treasurer,2019-05-01\n"
    "b5,p2,Ed,Fox,ed@x.gov,212-555-0146,Clerk,2019-05-01\n"
)
SOURCES = """\
warehouse: wh.duckdb
sources:
  entities:
    path: entities.csv
    table: entities
    columns: {entity_id: place_id, display_name: display_name, state: state_abbr}
    extra: {pop: bigint}
  contacts:
    path: contacts*.csv
    table: contacts
    columns: {contact_id: contact_id, entity_id: place_id, first_name: first_name, \
last_name: last_name, emails: email, phone: phone, title: title, created_at: created_at}
"""
CHECKS = """\
checks:
  contacts:
    columns:
      phone:
        - not_null: {severity: warn}
        - unique: {severity: warn}
        - valid_phone: {severity: warn}
      emails:
        - valid_email: {severity: warn}
        - completeness: {min: 100, severity: warn}
      title:
        - accepted_values: {values: [Clerk, Treasurer, Finance Director], severity: warn}
      entity_id:
        - relationship: {to: entities, severity: warn}
      contact_id:
        - regex: {pattern: '^c[0-9]+$', severity: warn}
      created_at:
        - range: {min: '2020-01-01', severity: warn}
        - max_age: {days: 30, severity: warn}
    table:
      - row_count: {max: 4, severity: warn}
      - expression: {name: title_or_last_name, sql: "title IS NOT NULL OR last_name IS NOT NULL", \
severity: warn}
  entities:
    columns:
      pop:
        - range: {min: 0, max: 100000, severity: warn}
"""
EXPECTED = {
    "not_null_phone",
    "unique_phone",
    "valid_phone_phone",
    "valid_email_emails",
    "completeness_emails",
    "accepted_values_title",
    "relationship_entity_id",
    "regex_contact_id",
    "range_created_at",
    "max_age_created_at",
    "row_count",
    "title_or_last_name",
}


def _project(folder: Path, contacts: str, extra: str = CHECKS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entities.csv").write_text(ENTITIES)
    (folder / "contacts.csv").write_text(contacts)
    (folder / "crmpipe.yml").write_text(SOURCES + extra)
    return folder / "crmpipe.yml"


def _statuses(summary, table: str = "contacts") -> dict[str, str]:
    return {o.check.name: o.status for o in summary.checks if o.check.table == table}


def test_every_check_type_passes_on_good_data(tmp_path):
    summary = run(load_config(_project(tmp_path, GOOD)))
    got = _statuses(summary)
    assert set(got) >= EXPECTED
    assert {n: s for n, s in got.items() if s != "pass"} == {}
    assert _statuses(summary, "entities")["range_pop"] == "pass"
    assert summary.status == "success" and summary.exit_code == 0


def test_every_check_type_fails_on_bad_data(tmp_path):
    summary = run(load_config(_project(tmp_path, BAD)))
    got = _statuses(summary)
    assert {n: got[n] for n in EXPECTED} == dict.fromkeys(EXPECTED, "warn")
    failed = {o.check.name: o.failed for o in summary.checks if o.check.table == "contacts"}
    assert failed["accepted_values_title"] == 1  # Janitor; the missing title is not judged
    assert failed["relationship_entity_id"] == 1  # p9
    assert failed["valid_phone_phone"] == 1  # "123", dropped by cleaning, still counted
    assert failed["valid_email_emails"] == 1
    assert failed["unique_phone"] == 1
    assert failed["regex_contact_id"] == 5
    assert failed["range_created_at"] == 5
    # warn checks never quarantine and never fail the run
    assert summary.status == "success" and summary.totals().quarantined == 0
    con = connect(load_config(tmp_path / "crmpipe.yml").warehouse_path, read_only=True)
    rows = con.execute(
        "SELECT check_name, status, failed_rows, total_rows FROM meta.check_results "
        "WHERE run_id = ? AND table_name = 'contacts'",
        [summary.run_id],
    ).fetchall()
    con.close()
    assert {r[0]: r[1] for r in rows} == got


def test_range_on_numbers_fails(tmp_path):
    extra = (
        "checks:\n  entities:\n    columns:\n      pop: [{range: {max: 10000, severity: warn}}]\n"
    )
    summary = run(load_config(_project(tmp_path, GOOD, extra)))
    [o] = [o for o in summary.checks if o.check.name == "range_pop"]
    assert (o.status, o.failed, o.total) == ("warn", 1, 2)


def test_row_count_change_vs_previous_run(tmp_path):
    extra = "checks:\n  contacts:\n    table: [{row_count: {max_change: 20, severity: warn}}]\n"
    cfg_path = _project(tmp_path, GOOD, extra)
    first = run(load_config(cfg_path))
    assert _statuses(first)["row_count"] == "pass"  # no previous run to compare with
    (tmp_path / "contacts2.csv").write_text(BAD.replace("b", "n"))  # 5 more contacts
    second = run(load_config(cfg_path))
    [o] = [o for o in second.checks if o.check.name == "row_count"]
    assert o.status == "warn" and "vs the previous run" in o.message


def test_error_check_quarantines_the_row_with_its_reason(tmp_path):
    extra = (
        "checks:\n  contacts:\n    columns:\n"
        "      title: [{accepted_values: {values: [Clerk, Treasurer]}}]\n"
        "      entity_id: [{relationship: {to: entities}}]\n"
    )
    cfg = load_config(_project(tmp_path, BAD, extra))
    summary = run(cfg)
    assert summary.status == "checks_failed" and summary.exit_code == EXIT_CHECKS_FAILED
    con = connect(cfg.warehouse_path, read_only=True)
    rows = con.execute(
        "SELECT contact_id, _check, _reason, _source, _file, _row, _quarantined_run "
        "FROM quarantine.contacts ORDER BY contact_id"
    ).fetchall()
    core = {r[0] for r in con.execute("SELECT contact_id FROM core.contacts").fetchall()}
    listing = quarantine(con, "contacts")
    summary_listing = quarantine(con)
    runs = list_runs(con, 1)
    con.close()
    assert [r[:3] for r in rows] == [
        ("b2", "accepted_values_title", "title Janitor is not an accepted value"),
        ("b3", "relationship_entity_id", "entity_id p9 has no match in entities.entity_id"),
    ]
    assert rows[0][3] == "contacts" and rows[0][4].endswith("contacts.csv") and rows[0][5] == 2
    assert rows[0][6] == summary.run_id
    assert core == {"b1", "b4", "b5"}
    assert listing.total == 2 and listing.columns[:3] == ["_check", "_reason", "_source"]
    assert ("contacts", "accepted_values_title", 1) in summary_listing.rows
    c = next(t for t in summary.tables if t.table == "contacts")
    assert (c.read, c.loaded, c.quarantined, c.balanced) == (5, 3, 2, True)
    assert runs[0].status == "checks_failed" and runs[0].checks_failed == 2
    assert runs[0].rows_quarantined == 2


def test_several_failed_checks_quarantine_a_row_once(tmp_path):
    extra = (
        "checks:\n  contacts:\n    columns:\n"
        "      title: [{accepted_values: {values: [Clerk, Treasurer]}}]\n"
        "      contact_id: [{regex: {pattern: '^b[13-5]$'}}]\n"
    )
    cfg = load_config(_project(tmp_path, BAD, extra))
    run(cfg)
    con = connect(cfg.warehouse_path, read_only=True)
    rows = con.execute("SELECT contact_id, _check, _reason FROM quarantine.contacts").fetchall()
    con.close()
    assert rows == [
        (
            "b2",
            "accepted_values_title, regex_contact_id",
            "title Janitor is not an accepted value; contact_id b2 does not match ^b[13-5]$",
        )
    ]


def test_fixed_source_file_reruns_cleanly(tmp_path):
    extra = (
        "checks:\n  contacts:\n    columns:\n"
        "      title: [{accepted_values: {values: [Clerk, Treasurer]}}]\n"
    )
    cfg_path = _project(tmp_path, BAD, extra)
    res = runner.invoke(app, ["run", "-c", str(cfg_path)])
    assert res.exit_code == EXIT_CHECKS_FAILED, res.output
    assert "accepted_values_title" in res.output
    res = runner.invoke(app, ["quarantine", "contacts", "-c", str(cfg_path)])
    assert res.exit_code == 0 and "Janitor" in res.output
    # an up-to-date re-run keeps the verdict of the build it serves
    res = runner.invoke(app, ["run", "-c", str(cfg_path)])
    assert res.exit_code == EXIT_CHECKS_FAILED and "up to date" in res.output
    fixed = tmp_path / "contacts.csv"
    fixed.write_text(BAD.replace("Janitor", "Clerk"))
    later = time.time() + 60
    os.utime(fixed, (later, later))
    res = runner.invoke(app, ["run", "-c", str(cfg_path)])
    assert res.exit_code == 0, res.output
    cfg = load_config(cfg_path)
    con = connect(cfg.warehouse_path, read_only=True)
    assert con.execute("SELECT count(*) FROM quarantine.contacts").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM core.contacts").fetchone() == (5,)
    con.close()
    res = runner.invoke(app, ["runs", "-c", str(cfg_path)])
    assert res.exit_code == 0 and "checks_failed" in res.output and "success" in res.output


def test_run_without_checks(tmp_path):
    extra = (
        "checks:\n  contacts:\n    columns:\n      title: [{accepted_values: {values: [Clerk]}}]\n"
    )
    summary = run(load_config(_project(tmp_path, BAD, extra)), checks=False)
    assert summary.checks == [] and summary.exit_code == 0 and summary.totals().quarantined == 0


# --- SLAs and scores ---------------------------------------------------------------------------


def test_default_slas_warn_and_do_not_fail_the_run(tmp_path):
    summary = run(load_config(_project(tmp_path, BAD, "")))
    got = {o.sla.name: o for o in summary.slas}
    assert got["validity_contacts_emails"].status == "warn"
    assert got["validity_contacts_phone"].status == "warn"
    assert got["freshness_contacts_created_at"].status == "warn"
    assert got["consistency_entities_state"].status == "pass"
    assert got["completeness_contacts_emails"].measured == pytest.approx(80.0)
    assert summary.exit_code == 0
    # default checks exist without any checks: section
    names = {o.check.name for o in summary.checks if o.check.table == "contacts"}
    assert {"key_not_null", "key_unique", "relationship_entity_id", "valid_email_emails"} <= names


def test_declared_slas_fail_the_run(tmp_path):
    slas = """\
slas:
  - {metric: completeness, table: contacts, column: emails, target: 95}
  - {metric: validity, table: contacts, column: phone}
  - {metric: freshness, table: contacts, column: created_at, target: 30, severity: warn}
  - {metric: duplicate_rate, table: contacts, columns: [phone], target: 1}
  - {metric: consistency, table: entities, column: state}
"""
    cfg = load_config(_project(tmp_path, BAD, slas))
    summary = run(cfg)
    got = {o.sla.name: (o.status, round(o.measured or 0, 1)) for o in summary.slas}
    assert got == {
        "completeness_contacts_emails": ("fail", 80.0),
        "validity_contacts_phone": ("fail", 80.0),
        "freshness_contacts_created_at": ("warn", got["freshness_contacts_created_at"][1]),
        "duplicate_rate_contacts_phone": ("fail", 25.0),
        "consistency_entities_state": ("pass", 100.0),
    }
    assert summary.exit_code == EXIT_CHECKS_FAILED and summary.checks_failed == 3
    con = connect(cfg.warehouse_path, read_only=True)
    rows = con.execute(
        "SELECT sla_name, measured, target, comparison, unit, status, severity "
        "FROM meta.sla_results WHERE run_id = ? ORDER BY sla_name",
        [summary.run_id],
    ).fetchall()
    con.close()
    assert ("completeness_contacts_emails", 80.0, 95.0, ">=", "%", "fail", "error") in rows


def test_quality_scores_and_column_profiles(tmp_path):
    cfg = load_config(_project(tmp_path, BAD))
    summary = run(cfg)
    good = run(load_config(_project(tmp_path / "good", GOOD)))
    assert summary.scores["contacts"]["overall"] < good.scores["contacts"]["overall"]
    assert good.scores["contacts"]["validity"] == 100.0
    con = connect(cfg.warehouse_path, read_only=True)
    dims = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT dimension, score FROM meta.quality_scores WHERE run_id = ? "
            "AND table_name = 'contacts'",
            [summary.run_id],
        ).fetchall()
    }
    nulls = dict(
        con.execute(
            "SELECT column_name, null_count FROM meta.column_profiles WHERE run_id = ? "
            "AND table_name = 'contacts'",
            [summary.run_id],
        ).fetchall()
    )
    con.close()
    assert set(dims) == {
        "completeness",
        "validity",
        "uniqueness",
        "consistency",
        "timeliness",
        "overall",
    }
    assert all(0 <= v <= 100 for v in dims.values())
    assert nulls["emails"] == 1 and nulls["last_name"] == 1 and nulls["department"] == 5


# --- counts reconcile on a generated run with planted failures ---------------------------------


@pytest.mark.slow
def test_counts_reconcile_with_planted_failures(tmp_path):
    case = pursuit.generate(tmp_path, contacts=3000, seed=3)
    text = case.config_path.read_text()
    # planted: ~10% of contacts point at an entity that is not in entities.csv
    contacts = sorted(tmp_path.glob("contacts_*.csv"))[0]
    lines = contacts.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    planted = 0
    for i in range(1, len(lines), 10):
        parts = lines[i].split(",")
        if len(parts) > 2 and parts[0].startswith("c"):
            parts[1] = "ZZ_MISSING"
            lines[i] = ",".join(parts)
            planted += 1
    contacts.write_text("".join(lines), encoding="utf-8")
    text += (
        "checks:\n  contacts:\n    columns:\n"
        "      entity_id: [{relationship: {to: entities, severity: error}}]\n"
        "      emails: [{valid_email: {severity: error}}]\n"
    )
    case.config_path.write_text(text)
    cfg = load_config(case.config_path)
    summary = run(cfg)
    assert summary.exit_code == EXIT_CHECKS_FAILED
    for c in summary.tables:
        assert c.balanced, c
    con = connect(cfg.warehouse_path, read_only=True)
    by_check = dict(
        con.execute("SELECT _check, count(*) FROM quarantine.contacts GROUP BY ALL").fetchall()
    )
    run_row = con.execute(
        "SELECT rows_read, rows_loaded, rows_merged, rows_quarantined, rows_rejected "
        "FROM meta.runs WHERE run_id = ?",
        [summary.run_id],
    ).fetchone()
    orphans = con.execute(
        "SELECT count(*) FROM core.contacts WHERE entity_id NOT IN "
        "(SELECT entity_id FROM core.entities)"
    ).fetchone()[0]
    con.close()
    relationship = sum(n for k, n in by_check.items() if "relationship_entity_id" in k)
    assert relationship >= planted * 0.9 and orphans == 0
    assert any("valid_email_emails" in k for k in by_check)
    read, loaded, merged, quarantined, rejected = run_row
    assert read == loaded + merged + quarantined + rejected
    assert quarantined == sum(c.quarantined for c in summary.tables)


# --- project-file errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ("checks:\n  contacts:\n    columns:\n      phone: [not_nul]\n", "did you mean 'not_null'"),
        ("checks:\n  contact:\n    columns: {}\n", "checks.contact: unknown table"),
        (
            "checks:\n  contacts:\n    columns:\n      phon: [not_null]\n",
            "'phon' is not a column of contacts — did you mean 'phone'",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      title: [{accepted_values: {vals: [a]}}]\n",
            "title[0].accepted_values.vals: unknown parameter — did you mean 'values'",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      title: [accepted_values]\n",
            "accepted_values.values: required parameter is missing",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      title: [{regex: {pattern: '(['}}]\n",
            "not a valid (RE2) regular expression",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      title: [{range: {}}]\n",
            "give min, max or both",
        ),
        (
            "checks:\n  contacts:\n    table: [{expression: {name: x, sql: 'title IN "
            "(SELECT 1)'}}]\n",
            "subqueries are not allowed",
        ),
        (
            'checks:\n  contacts:\n    table: [{expression: {name: x, sql: "1) AS a, '
            "(read_text('/etc/passwd')\"}}]\n",
            "must be one expression",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      title: [row_count]\n",
            "row_count is a table check",
        ),
        (
            "checks:\n  contacts:\n    columns:\n      phone: [{max_age: {days: 3}}]\n",
            "phone is not a date or timestamp column",
        ),
        ("slas:\n  - {metric: completnes, table: contacts}\n", "slas.0.metric"),
        (
            "slas:\n  - {metric: completeness, table: contacts}\n",
            "slas[0].column: completeness needs one column",
        ),
        ("alerts: {webhok: x}\n", "alerts.webhok: unknown key — did you mean 'webhook'"),
    ],
)
def test_bad_specs_are_one_line_errors(checks, message):
    with pytest.raises(ConfigError) as info:
        parse_config(SOURCES + checks)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sql",
    [
        "read_csv('x.csv') IS NULL",
        "getenv('HOME') = 'x'",
        "title = 'a'; DROP TABLE core.contacts",
        "EXISTS (SELECT 1)",
    ],
)
def test_expressions_cannot_escape(sql):
    from crmpipe.config.expression import CheckSpecError

    with pytest.raises(CheckSpecError):
        validate_expression(sql, "x")


def test_expression_check_runs_on_rows(tmp_path):
    extra = (
        "checks:\n  contacts:\n    table:\n"
        "      - expression: {name: clerks_are_p1, sql: \"title <> 'Clerk' OR entity_id = 'p1'\"}\n"
    )
    cfg = load_config(_project(tmp_path, BAD, extra))
    summary = run(cfg)
    [o] = [o for o in summary.checks if o.check.name == "clerks_are_p1"]
    assert (o.status, o.failed) == ("fail", 1)  # b5: a clerk of p2
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    reason = con.execute("SELECT _reason FROM quarantine.contacts").fetchone()[0]
    con.close()
    assert reason.startswith("expression clerks_are_p1 is false")


# --- every project-file example of docs/quality.md is valid ------------------------------------


def _doc_blocks() -> list[str]:
    text = (Path(__file__).parents[1] / "docs" / "quality.md").read_text(encoding="utf-8")
    return [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]


@pytest.mark.parametrize("block", _doc_blocks())
def test_documented_examples_parse(block, monkeypatch):
    monkeypatch.setenv("CRMPIPE_WEBHOOK", "http://127.0.0.1:9/hook")
    cfg = parse_config(SOURCES + block)
    assert cfg.checks or cfg.slas is not None or cfg.alerts.webhook


def test_expression_on_unknown_column_names_the_check(tmp_path):
    from crmpipe.pipeline import RunError

    extra = (
        "checks:\n  contacts:\n    table:\n      - expression: {name: x, sql: 'titel IS NULL'}\n"
    )
    with pytest.raises(RunError, match=r"checks.contacts.table: expression 'x' does not apply"):
        run(load_config(_project(tmp_path, GOOD, extra)))


def test_threshold_lets_the_check_pass_but_still_quarantines(tmp_path):
    extra = (
        "checks:\n  contacts:\n    columns:\n"
        "      title: [{accepted_values: {values: [Clerk, Treasurer], threshold: 25}}]\n"
    )
    summary = run(load_config(_project(tmp_path, BAD, extra)))
    [o] = [o for o in summary.checks if o.check.name == "accepted_values_title"]
    assert (o.status, o.failed, o.measured, o.threshold) == ("pass", 1, 20.0, 25.0)
    assert summary.exit_code == 0 and summary.totals().quarantined == 1


def test_default_checks_can_be_turned_off(tmp_path):
    summary = run(load_config(_project(tmp_path, GOOD, "default_checks: false\nslas: []\n")))
    assert summary.checks == [] and summary.slas == []
    assert "overall" in summary.scores["contacts"]  # scores are still measured
