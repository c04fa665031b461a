"""The sales-funnel marts on small hand-made Pipedrive exports: each rule of docs/funnel.md, the
rep performance mart, stage history, PII masking, quarantine of repeated activity ids, checks,
and the synthetic generator end to end. Real DuckDB, the real pipeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.pipedrive import SOURCES, generate, write_config
from crmpipe.marts.build import build_marts, load_models
from crmpipe.pipeline import run
from crmpipe.quality.marts import latest_mart_checks
from crmpipe.warehouse.connection import connect

STEPS = ["1", "2", "2.1", "3", "3.1", "4", "5", "6", "7", "8", "9"]
STAGES = [
    ("1", "Lead Generation"),
    ("2", "Qualified lead"),
    ("3", "NEEDS ASSESSMENT"),
    ("4", "Proposal/Quote Preparation"),
    ("5", "Negotiation"),
    ("6", "Closing"),
    ("7", "Implementation/Onboarding"),
    ("8", "Follow-up/Customer Success"),
    ("9", "Renewal/Expansion"),
]
USERS = [
    ("7", "Ashley Gonzalez", "crystaljackson@example.org", "2024-04-27 04:51:50.980402"),
    ("8", "Joseph Pena", "wagnernicholas@example.org", "2024-04-10 09:27:18.033888"),
    ("9", "Katie Brown", "natasha25@example.org", "2024-08-30 08:29:15.755490"),
]
FIELDS = [
    ("13", "add_time", "Deal created", ""),
    ("3", "user_id", "Owner", ""),
    ("10", "stage_id", "Stage", json.dumps([{"id": s, "label": n} for s, n in STAGES])),
    (
        "23",
        "lost_reason",
        "Lost reason",
        json.dumps(
            [{"id": "1", "label": "Customer Not Ready"}, {"id": "2", "label": "Pricing Issues"}]
        ),
    ),
]


def _write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_project(
    tmp_path: Path,
    deal_changes: list[tuple[str, str, str, str]],
    activities: list[tuple[str, str, str, str, str, str]],
    *,
    stages: list[tuple[str, str]] = STAGES,
    pii: str = "initials",
) -> Path:
    """A Pipedrive-shaped export in tmp_path/data and its crmpipe.yml; returns the yml path."""
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "users.csv", ["id", "name", "email", "modified"], USERS)
    _write(data / "stages.csv", ["stage_id", "stage_name"], stages)
    _write(
        data / "activity_types.csv",
        ["id", "name", "active", "type"],
        [("1", "Sales Call 1", "Yes", "meeting"), ("2", "Sales Call 2", "Yes", "sc_2")],
    )
    _write(data / "fields.csv", ["ID", "FIELD_KEY", "NAME", "FIELD_VALUE_OPTIONS"], FIELDS)
    _write(
        data / "deal_changes.csv",
        ["deal_id", "change_time", "changed_field_key", "new_value"],
        deal_changes,
    )
    _write(
        data / "activity.csv",
        ["activity_id", "type", "assigned_to_user", "deal_id", "done", "due_to"],
        activities,
    )
    return write_config(tmp_path, data, pii=pii)


def build(config: Path) -> duckdb.DuckDBPyConnection:
    cfg = load_config(config)
    run(cfg)
    return connect(cfg.warehouse_path, read_only=True)


def funnel_rows(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    rows = con.execute(
        "SELECT strftime(month, '%Y-%m'), funnel_step, deals_count "
        "FROM marts.rep_sales_funnel_monthly"
    ).fetchall()
    return {(m, s): n for m, s, n in rows}


# --- the funnel rules: one export with a deal (or activity) per rule -----------------------------

RULES_CHANGES = [
    # 100 enters 1 in Jan, 2 in Feb, then goes back to 1 and on to 2 in March: counted once each.
    ("100", "2024-01-05 10:00:00", "stage_id", "1"),
    ("100", "2024-02-10 10:00:00", "stage_id", "2"),
    ("100", "2024-03-01 10:00:00", "stage_id", "1"),
    ("100", "2024-03-02 10:00:00", "stage_id", "2"),
    ("200", "2024-03-20 10:00:00", "stage_id", "1"),
    # stages.csv says "Qualified lead" and "NEEDS ASSESSMENT": found ignoring case.
    ("110", "2024-01-05 10:00:00", "stage_id", "2"),
    ("110", "2024-01-06 10:00:00", "stage_id", "3"),
    # Stage 5 is missing from stages.csv: labelled from fields.csv's stage_id options.
    ("120", "2024-01-07 10:00:00", "stage_id", "5"),
    # A stage history: 2.5 days in stage 1, one day in stage 2, still in stage 4.
    ("160", "2024-01-01 00:00:00", "stage_id", "1"),
    ("160", "2024-01-03 12:00:00", "stage_id", "2"),
    ("160", "2024-01-04 12:00:00", "stage_id", "4"),
    # The last month with an entry: April, so January..April all get rows.
    ("150", "2024-04-10 10:00:00", "stage_id", "9"),
]
RULES_ACTIVITIES = [
    ("1", "meeting", "7", "130", "False", "2024-01-02T09:00:00"),  # not done
    ("2", "MEETING", "7", "130", "True", "2024-03-02T09:00:00"),  # type case ignored
    ("3", "meeting", "8", "130", "True", "2024-02-02T09:00:00"),  # 130's first done meeting
    ("4", "sc_2", "8", "300", "false", "2024-02-02T09:00:00"),
    ("5", "follow_up", "8", "300", "True", "2024-02-02T09:00:00"),  # not a funnel type
    ("6", "sc_2", "9", "400", "True", "2024-03-31T23:59:59"),  # March, to the second
    ("7", "meeting", "7", "140", "True", "2024-01-10T09:00:00"),
    ("7", "follow_up", "8", "555", "False", "2024-01-12T09:00:00"),  # same id, later row wins
]
RULES_EXPECTED = {
    ("2024-01", "1"): 2,  # 100, 160
    ("2024-01", "2"): 2,  # 110, 160
    ("2024-01", "3"): 1,  # 110
    ("2024-01", "4"): 1,  # 160
    ("2024-01", "5"): 1,  # 120
    ("2024-02", "2"): 1,  # 100
    ("2024-02", "2.1"): 1,  # 130
    ("2024-03", "1"): 1,  # 200 (100 came back: not counted)
    ("2024-03", "3.1"): 1,  # 400
    ("2024-04", "9"): 1,  # 150
}
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """The rules export, run once: (connection, run summary)."""
    tmp = tmp_path_factory.mktemp("rules")
    config = make_project(
        tmp, RULES_CHANGES, RULES_ACTIVITIES, stages=[s for s in STAGES if s[0] != "5"]
    )
    cfg = load_config(config)
    summary = run(cfg)
    con = connect(cfg.warehouse_path, read_only=True)
    yield con, summary
    con.close()


def test_funnel_follows_every_rule(rules):
    con, _ = rules
    got = funnel_rows(con)
    expected = {(m, s): RULES_EXPECTED.get((m, s), 0) for m in MONTHS for s in STEPS}
    assert got == expected


def test_funnel_has_the_issue_columns_and_step_names(rules):
    con, _ = rules
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'rep_sales_funnel_monthly' ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [
        ("month", "DATE"),
        ("kpi_name", "VARCHAR"),
        ("funnel_step", "VARCHAR"),
        ("deals_count", "BIGINT"),
    ]
    kpis = dict(
        con.execute(
            "SELECT DISTINCT funnel_step, kpi_name FROM marts.rep_sales_funnel_monthly"
        ).fetchall()
    )
    assert kpis == {
        "1": "Lead Generation",
        "2": "Qualified Lead",
        "2.1": "Sales Call 1",
        "3": "Needs Assessment",
        "3.1": "Sales Call 2",
        "4": "Proposal/Quote Preparation",
        "5": "Negotiation",
        "6": "Closing",
        "7": "Implementation/Onboarding",
        "8": "Follow-up/Customer Success",
        "9": "Renewal/Expansion",
    }


def test_repeated_activity_ids_are_quarantined_and_the_last_row_kept(rules):
    con, summary = rules
    kept = con.execute("SELECT type FROM core.activities WHERE activity_id = '7'").fetchall()
    quarantined = con.execute("SELECT type, _check, _reason FROM quarantine.activities").fetchall()
    checks = {o.check.name: o for o in latest_mart_checks(con)}
    assert kept == [("follow_up",)]
    assert [q[:2] for q in quarantined] == [("meeting", "activity_id_unique")]
    assert "appears 2 times" in quarantined[0][2]
    counts = {t.table: t for t in summary.tables}["activities"]
    assert (counts.read, counts.loaded, counts.quarantined, counts.merged) == (8, 7, 1, 0)
    assert counts.balanced
    assert checks["activity_id_unique"].status == "warn"
    assert checks["activity_id_unique"].measured == 1


def test_deal_stage_history_has_the_previous_stage_and_its_duration(rules):
    con, _ = rules
    rows = con.execute(
        "SELECT transition_number, stage_id, stage_name, previous_stage_id, "
        "previous_stage_name, seconds_in_previous_stage, days_in_previous_stage, "
        "seconds_in_stage FROM marts.int_deal_stage_history WHERE deal_id = '160' "
        "ORDER BY transition_number"
    ).fetchall()
    assert rows == [
        (1, "1", "Lead Generation", None, None, None, None, 216000),
        (2, "2", "Qualified lead", "1", "Lead Generation", 216000, 2.5, 86400),
        (3, "4", "Proposal/Quote Preparation", "2", "Qualified lead", 86400, 1.0, None),
    ]


# --- rep performance ---------------------------------------------------------------------------


def test_rep_performance_credits_the_owner_in_force_at_the_time(tmp_path):
    config = make_project(
        tmp_path,
        [
            ("100", "2024-01-01 00:00:00", "add_time", "2024-01-01T00:00:00"),
            ("100", "2024-01-02 00:00:00", "user_id", "7"),
            ("100", "2024-01-05 00:00:00", "stage_id", "1"),
            ("100", "2024-02-01 00:00:00", "user_id", "8"),
            ("100", "2024-02-01 00:00:00", "stage_id", "2"),  # same second: the new owner's
            ("100", "2024-02-20 00:00:00", "lost_reason", "2"),
            ("200", "2024-02-02 00:00:00", "user_id", "8"),
            ("200", "2024-02-03 00:00:00", "lost_reason", "1"),
            ("300", "2024-02-02 00:00:00", "user_id", "8"),
            ("300", "2024-02-04 00:00:00", "lost_reason", "2"),
        ],
        [
            ("1", "meeting", "9", "100", "True", "2024-02-10T00:00:00"),  # credited to user 9
            ("2", "meeting", "", "100", "True", "2024-01-10T00:00:00"),  # no user: deal owner (7)
            ("3", "sc_2", "9", "100", "False", "2024-02-11T00:00:00"),  # not done
        ],
    )
    with build(config) as con:
        rows = con.execute(
            "SELECT strftime(month, '%Y-%m'), owner_id, owner_name, deals_assigned, deals_worked,"
            " stage_changes, activities_completed, deals_lost, lost_reasons, top_lost_reason "
            "FROM marts.rep_sales_rep_performance_monthly ORDER BY 1, 2"
        ).fetchall()
        lost = con.execute(
            "SELECT strftime(month, '%Y-%m'), owner_id, lost_reason, deals_lost "
            "FROM marts.rep_lost_reasons_monthly ORDER BY all"
        ).fetchall()
        deal = con.execute(
            "SELECT owner_id, stage_id, status, lost_reason FROM core.deals WHERE deal_id = '100'"
        ).fetchone()
    assert rows == [
        ("2024-01", "7", "A*** G***", 1, 1, 1, 1, 0, None, None),
        (
            "2024-02",
            "8",
            "J*** P***",
            3,
            3,
            1,
            0,
            3,
            "Pricing Issues: 2, Customer Not Ready: 1",
            "Pricing Issues",
        ),
        ("2024-02", "9", "K*** B***", 0, 1, 0, 1, 0, None, None),
    ]
    assert lost == [
        ("2024-02", "8", "Customer Not Ready", 1),
        ("2024-02", "8", "Pricing Issues", 2),
    ]
    assert deal == ("8", "2", "lost", "Pricing Issues")


# --- PII ---------------------------------------------------------------------------------------


def _text_values(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> set[str]:
    """Every text value (list elements included) of every table in `schemas`."""
    found: set[str] = set()
    cols = con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema IN (SELECT unnest(?)) AND data_type IN ('VARCHAR', 'VARCHAR[]')",
        [list(schemas)],
    ).fetchall()
    for schema, table, column, kind in cols:
        expr = f'unnest("{column}")' if kind == "VARCHAR[]" else f'"{column}"'
        found |= {
            v
            for (v,) in con.execute(f'SELECT DISTINCT {expr} FROM {schema}."{table}"').fetchall()
            if v is not None
        }
    return found


@pytest.mark.parametrize("mode", ["initials", "hash"])
def test_user_names_and_emails_only_stay_in_raw(tmp_path, mode):
    config = make_project(
        tmp_path,
        [
            ("100", "2024-01-02 00:00:00", "user_id", "7"),
            ("100", "2024-01-05 00:00:00", "stage_id", "1"),
        ],
        [("1", "meeting", "8", "100", "True", "2024-01-10T00:00:00")],
        pii=mode,
    )
    with build(config) as con:
        analyst = _text_values(con, ("staging", "core", "marts", "quarantine", "search"))
        analyst |= {v for (v,) in con.execute("SELECT value FROM meta.row_issues").fetchall()}
        raw = _text_values(con, ("raw",))
        names = dict(con.execute("SELECT user_id, name FROM core.users").fetchall())
        emails = dict(con.execute("SELECT user_id, email FROM core.users").fetchall())
    for _, name, email, _ in USERS:
        assert name in raw and email in raw
        for secret in (name, email, *name.split(), email.split("@")[0]):
            assert not any(secret.lower() in v.lower() for v in analyst), secret
    if mode == "initials":
        assert names["7"] == "A*** G***"
        assert emails["7"] == ["c***@example.org"]
    else:
        assert len(names["7"]) == 16 and names["7"] != names["8"]
        assert len(emails["7"][0]) == 16


def test_no_masking_when_configured_off(tmp_path):
    config = make_project(
        tmp_path, [("100", "2024-01-05 00:00:00", "stage_id", "1")], [], pii="none"
    )
    with build(config) as con:
        (name,) = con.execute("SELECT name FROM core.users WHERE user_id = '7'").fetchone()
    assert name == "Ashley Gonzalez"


# --- checks, skipping, the generator ------------------------------------------------------------


def test_checks_report_unknown_keys_stages_owners_and_a_rising_funnel(tmp_path):
    config = make_project(
        tmp_path,
        [
            ("100", "2024-01-01 00:00:00", "add_time", "2024-01-01T00:00:00"),
            ("100", "2024-01-02 00:00:00", "user_id", "42"),  # no such user
            ("100", "2024-01-05 00:00:00", "stage_id", "77"),  # no such stage
            ("100", "2024-01-06 00:00:00", "won_time", "2024-01-06"),  # a key the marts ignore
            ("100", "2024-02-01 00:00:00", "add_time", "2024-02-01T00:00:00"),  # created twice
            ("500", "2024-01-05 00:00:00", "stage_id", "1"),
            ("500", "2024-01-06 00:00:00", "stage_id", "3"),  # 2 skipped: more in 3 than in 2
        ],
        [("1", "meeting", "99", "100", "True", "2024-01-10T00:00:00")],
    )
    with build(config) as con:
        checks = {o.check.name: o for o in latest_mart_checks(con)}
        stored = con.execute(
            "SELECT count(*) FROM meta.check_results WHERE origin = 'mart'"
        ).fetchone()[0]
    assert stored == len(checks)
    assert checks["changed_field_key_accepted"].status == "warn"
    assert "won_time (1)" in checks["changed_field_key_accepted"].message
    assert checks["deal_stage_exists"].status == "fail"
    assert checks["deal_owner_exists"].measured == 1
    assert checks["activities_user_exists"].measured == 1
    assert checks["deal_id_unique"].status == "warn"
    assert checks["stage_id_unique"].status == "pass"
    assert checks["funnel_monotonic"].status == "warn"
    assert "3 Needs Assessment (1) > 2 Qualified Lead (0)" in checks["funnel_monotonic"].message
    assert "1 deals skipped a stage step" in checks["funnel_monotonic"].message


def test_marts_are_skipped_without_funnel_sources(tmp_path):
    con = duckdb.connect()
    for schema in ("core", "marts", "meta", "staging", "quarantine"):
        con.execute(f"CREATE SCHEMA {schema}")
    cfg = load_config(make_project(tmp_path, [], []))
    cfg.sources.clear()
    assert build_marts(con, cfg) == []
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'"
    ).fetchone()[0]
    assert tables == 0


def test_models_are_ordered_by_their_dependencies():
    names = [m.name for m in load_models()]
    assert names.index("int_field_options") < names.index("int_stages")
    assert names.index("int_deal_funnel_entries") < names.index("rep_sales_funnel_monthly")
    assert names.index("int_deal_owner_history") < names.index("int_deal_lost")
    deals = next(m for m in load_models() if m.name == "deals")
    assert deals.target == "core.deals" and deals.unless_source == "deals"


def test_synthetic_export_matches_its_truth(tmp_path):
    generated = generate(tmp_path / "case", seed=3, deals=300, users=40, shared=False)
    assert {f.name for f in generated.files} == {f for f, _, _ in SOURCES.values()}
    truth = json.loads(generated.truth_path.read_text())
    with build(generated.config_path) as con:
        got = funnel_rows(con)
        quarantined = con.execute("SELECT count(*) FROM quarantine.activities").fetchone()[0]
    expected = {(r["month"], r["funnel_step"]): r["deals_count"] for r in truth["funnel"]}
    assert {k: v for k, v in got.items() if v} == expected
    assert quarantined == truth["duplicate_activity_rows"]
    # The same seed writes the same files.
    again = generate(tmp_path / "again", seed=3, deals=300, users=40, shared=False)
    for a, b in zip(generated.files, again.files, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_generator_points_at_the_real_export_without_copying_it(tmp_path):
    shared = tmp_path / "shared"
    (shared / "pipedrive").mkdir(parents=True)
    for file, _, _ in SOURCES.values():
        (shared / "pipedrive" / file).write_text("x\n1\n")
    generated = generate(tmp_path / "case", shared_dir=shared)
    text = generated.config_path.read_text()
    assert str((shared / "pipedrive" / "activity.csv").resolve()) in text
    assert not list((tmp_path / "case").glob("*.csv"))
    assert not (tmp_path / "case" / "data").exists()


def test_marts_go_away_when_their_sources_are_removed(tmp_path):
    config = make_project(
        tmp_path,
        [("100", "2024-01-05 10:00:00", "stage_id", "1")],
        [("1", "meeting", "7", "100", "True", "2024-01-10T09:00:00")],
    )
    with build(config) as con:
        assert funnel_rows(con)[("2024-01", "1")] == 1
    text = config.read_text()
    kept = {k: v for k, v in yaml.safe_load(text)["sources"].items() if k in ("users", "stages")}
    config.write_text(yaml.safe_dump({"sources": kept}))
    with build(config) as con:
        marts = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()
    assert marts == []
