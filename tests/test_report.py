"""`crmpipe report`: content from a real run plus planted data-quality rows, the HTML page, JSON,
the command line, and the page in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.report.collect import ReportError
from crmpipe.report.content import render_json, report_content
from crmpipe.report.html import SECTIONS, render_html
from crmpipe.report.write import report
from crmpipe.warehouse.connection import connect

runner = CliRunner()
HOSTILE = '<script>alert("pwned")</script>'


#: The data-quality tables `_plant` replaces the checks engine's rows of with known ones.
PLANTED = (
    "check_results",
    "sla_results",
    "quality_scores",
    "column_profiles",
    "schema_changes",
    "alerts",
)


def _plant(con) -> None:
    """Known data-quality rows for runs 1 and 2 (run 2 is 'up to date') in place of the checks
    engine's, so every figure of the report can be compared with a number written here."""
    for table in PLANTED:
        con.execute(f"DELETE FROM meta.{table}")
    con.execute("UPDATE meta.runs SET checks_failed = NULL, checks_warned = NULL")
    checks = [
        # run, table, column, name, type, severity, status, failed, total, measured, threshold
        (2, "contacts", "contact_id", "contact_id_unique", "unique", "error", "pass", 0, 100),
        (2, "contacts", "emails", "emails_valid", "valid_email", "error", "fail", 7, 100),
        (2, "contacts", "phone", "phone_complete", "completeness", "warn", "warn", 5, 100),
        (2, "entities", None, "entities_rows", "row_count", "error", "fail", 0, 1000),
        (1, "contacts", "emails", "emails_valid", "valid_email", "error", "pass", 0, 100),
    ]
    for r, t, c, n, ty, sev, st, f, tot in checks:
        con.execute(
            "INSERT INTO meta.check_results (run_id, table_name, column_name, check_name, "
            "check_type, severity, status, failed_rows, total_rows, measured, threshold, "
            "message, origin, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r, t, c, n, ty, sev, st, f, tot, float(f), 1.0, f"{f} rows", "default", 0.01],
        )
    con.execute("UPDATE meta.runs SET checks_failed = 2, checks_warned = 1 WHERE run_id = 2")
    slas = [
        ("email completeness", "contacts", "emails", "completeness", 96.2, 95, ">=", "%", "pass"),
        ("newest record age", "contacts", "created_at", "max_age", 41, 30, "<=", "days", "fail"),
    ]
    for s in slas:
        con.execute(
            "INSERT INTO meta.sla_results (run_id, sla_name, table_name, column_name, metric, "
            "measured, target, comparison, unit, status, message) "
            "VALUES (2, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*s, f"{s[0]}: {s[4]} {s[7]}"],
        )
    for run_id, table, dim, score in [
        (1, "contacts", "overall", 88.0),
        (2, "contacts", "overall", 91.5),
        (2, "contacts", "completeness", 97.0),
        (1, "entities", "validity", 70.0),
        (1, "entities", "uniqueness", 90.0),
        (2, "entities", "overall", 82.0),
    ]:
        con.execute(
            "INSERT INTO meta.quality_scores VALUES (?, ?, ?, ?)", [run_id, table, dim, score]
        )
    for col, nulls in [("emails", 25), ("phone", 50), ("title", 0)]:
        con.execute(
            "INSERT INTO meta.column_profiles (run_id, table_name, column_name, row_count, "
            "null_count) VALUES (2, 'contacts', ?, 200, ?)",
            [col, nulls],
        )
    con.execute(
        "INSERT INTO meta.schema_changes (source, file, run_id, change, column_name, detected_at) "
        "VALUES ('contacts', 'c2.csv', 2, 'added', 'fax', TIMESTAMP '2026-01-02 03:04:05')"
    )
    con.execute(
        "INSERT INTO meta.alerts (run_id, sent_at, url, event, status, attempts, message) "
        "VALUES (2, TIMESTAMP '2026-01-02 03:04:06', 'http://127.0.0.1:9/hook', "
        "'check_failed', 'sent', 2, '2 checks failed')"
    )
    # Three rows quarantined by a planted check, with their lineage.
    con.execute(
        "INSERT INTO quarantine.contacts BY NAME SELECT *, 'planted_check' AS _check, "
        "'planted for the report test' AS _reason, 1::BIGINT AS _quarantined_run "
        "FROM staging.contacts ORDER BY _file, _row LIMIT 3"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A generated case run twice (a build, then an up-to-date run) with planted meta rows."""
    folder = tmp_path_factory.mktemp("report")
    case = pursuit.generate(folder, contacts=1500, seed=11)
    cfg = load_config(case.config_path)
    run(cfg)
    run(cfg)
    # The checks engine's own results, kept aside before planting (see `engine`).
    shutil.copy(cfg.warehouse_path, folder / "engine.duckdb")
    con = connect(cfg.warehouse_path)
    try:
        _plant(con)
    finally:
        con.close()
    return cfg


@pytest.fixture(scope="module")
def engine(project):
    """The project's warehouse as the pipeline and its checks engine left it (nothing planted)."""
    return project.base_dir / "engine.duckdb"


@pytest.fixture()
def copy(project, tmp_path):
    """A private copy of the project's warehouse to change (returns its path)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(project.warehouse_path, path)
    return path


def _collect(path: Path, run_id: int | None = None, **kw):
    con = connect(path, read_only=True)
    try:
        return report_content(con, run_id, **kw)
    finally:
        con.close()


def _section(page: str, key: str) -> str:
    return re.search(rf'<section id="{key}">.*?</section>', page, re.S).group(0)


def _q(path: Path, sql: str, params=None):
    con = connect(path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# --- content ---------------------------------------------------------------------------------


def test_latest_run_summary_matches_meta_runs(project):
    c = _collect(project.warehouse_path)
    wh = project.warehouse_path
    (row,) = _q(
        wh,
        "SELECT run_id, status, rows_read, rows_loaded, rows_rejected, rows_quarantined, "
        "rows_merged, message FROM meta.runs WHERE run_id = 2",
    )
    r = c["run"]
    assert (
        r["run_id"],
        r["status"],
        r["rows_read"],
        r["rows_loaded"],
        r["rows_rejected"],
        r["rows_quarantined"],
        r["rows_merged"],
        r["message"],
    ) == row
    assert r["seconds"] is not None and r["seconds"] >= 0
    assert c["checks_summary"] == {"total": 4, "passed": 1, "failed": 2, "warned": 1}
    steps = _q(wh, "SELECT step, target, rows FROM meta.run_steps WHERE run_id = 2")
    assert sorted((s["step"], s["target"], s["rows"]) for s in c["steps"]) == sorted(steps)


def test_report_of_the_checks_engines_own_results(engine):
    """Whatever the engine wrote for a run is in the report, figure for figure."""
    for run_id in (1, 2):
        c = _collect(engine, run_id)

        def count(table: str, rid: int = run_id) -> int:
            return _q(engine, f"SELECT count(*) FROM meta.{table} WHERE run_id = ?", [rid])[0][0]

        assert len(c["checks"]) == count("check_results")
        assert len(c["slas"]) == count("sla_results")
        assert len(c["alerts"]) == count("alerts")
        assert len(c["schema_changes"]) == count("schema_changes")
        ((failed, warned),) = _q(
            engine, "SELECT checks_failed, checks_warned FROM meta.runs WHERE run_id = ?", [run_id]
        )
        if failed is not None:
            assert (c["checks_summary"]["failed"], c["checks_summary"]["warned"]) == (
                failed,
                warned,
            )
        for ch in c["checks"]:
            assert ch["outcome"] in ("pass", "warn", "fail", "skip")
        scored = _q(
            engine,
            "SELECT table_name, score FROM meta.quality_scores "
            "WHERE dimension = 'overall' AND run_id = ?",
            [c["quality"]["run_id"]],
        )
        for table, score in scored:
            assert c["quality"]["latest"][table]["overall"] == pytest.approx(score)
    c = _collect(engine)
    quarantined = {
        t: _q(engine, f"SELECT count(*) FROM quarantine.{t}")[0][0]
        for (t,) in _q(
            engine,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine'",
        )
    }
    by_table: dict[str, int] = {}
    for q in c["quarantine"]:
        by_table[q["table"]] = by_table.get(q["table"], 0) + q["rows"]
    assert by_table == {t: n for t, n in quarantined.items() if n}
    page = render_html(c)
    assert page.startswith("<!DOCTYPE html>") and json.loads(render_json(c)) == c


def test_table_counts_reconcile_with_the_build_the_run_kept(project):
    c = _collect(project.warehouse_path)
    assert c["build_run_id"] == 1  # run 2 was up to date
    wh = project.warehouse_path
    counts = {
        t: (loaded, merged, quarantined)
        for t, loaded, merged, quarantined in _q(
            wh,
            "SELECT table_name, loaded, merged, quarantined FROM meta.table_counts "
            "WHERE run_id = 1",
        )
    }
    assert {t["table"]: (t["loaded"], t["merged"], t["quarantined"]) for t in c["tables"]} == counts
    assert all(t["balanced"] for t in c["tables"])
    (run_row,) = _q(wh, "SELECT rows_read, rows_rejected FROM meta.runs WHERE run_id = 2")
    assert (sum(t["read"] for t in c["tables"]), sum(t["rejected"] for t in c["tables"])) == run_row
    by_source = dict(_q(wh, "SELECT source, sum(rows_rejected) FROM meta.manifest GROUP BY 1"))
    assert {s["source"]: s["rejected"] for s in c["sources"]} == by_source
    assert c["run"]["rows_rejected"] > 0  # the generated case has broken lines


def test_quarantine_counted_per_table_source_and_check(project):
    c = _collect(project.warehouse_path)
    planted = [q for q in c["quarantine"] if q["check"] == "planted_check"]
    assert sum(q["rows"] for q in planted) == 3
    assert {q["table"] for q in planted} == {"contacts"}
    contacts = next(s for s in c["sources"] if s["source"] == "contacts")
    assert contacts["quarantined"] == sum(
        q["rows"] for q in c["quarantine"] if q["source"] == "contacts"
    )


def test_checks_slas_changes_alerts_of_the_run(project):
    c = _collect(project.warehouse_path)
    assert [ch["outcome"] for ch in c["checks"]][:2] == ["fail", "fail"]  # failures first
    assert {ch["check"] for ch in c["checks"]} == {
        "contact_id_unique",
        "emails_valid",
        "phone_complete",
        "entities_rows",
    }
    emails = next(ch for ch in c["checks"] if ch["check"] == "emails_valid")
    assert (emails["failed_rows"], emails["total_rows"], emails["measured"]) == (7, 100, 7.0)
    assert [(s["name"], s["outcome"], s["measured"], s["target"]) for s in c["slas"]] == [
        ("email completeness", "pass", 96.2, 95.0),
        ("newest record age", "fail", 41.0, 30.0),
    ]
    assert c["slas"][0]["severity"] is None  # no severity column yet
    assert [(s["change"], s["column"]) for s in c["schema_changes"]] == [("added", "fax")]
    assert [(a["event"], a["attempts"]) for a in c["alerts"]] == [("check_failed", 2)]
    # Run 1 has its own check and none of run 2's SLAs, changes or alerts.
    c1 = _collect(project.warehouse_path, 1)
    assert [ch["check"] for ch in c1["checks"]] == ["emails_valid"]
    assert c1["checks_summary"]["failed"] == 0 and not c1["slas"] and not c1["alerts"]


def test_quality_series_and_null_rates(project):
    c = _collect(project.warehouse_path)
    q = c["quality"]
    assert q["runs"] == [1, 2] and q["run_id"] == 2
    # contacts: overall both runs; entities run 1 has no overall: the mean of its dimensions
    assert q["overall"] == {"contacts": [88.0, 91.5], "entities": [80.0, 82.0]}
    assert q["latest"]["contacts"] == {"completeness": 97.0, "overall": 91.5}
    n = c["null_rates"]
    assert n["origin"] == "meta.column_profiles"
    assert {r["column"]: r["null_rate"] for r in n["tables"]["contacts"]} == {
        "emails": 12.5,
        "phone": 25.0,
        "title": 0.0,
    }
    assert _collect(project.warehouse_path, history=1)["quality"]["runs"] == [2]


def test_null_rates_measured_on_core_without_profiles(copy):
    con = connect(copy)
    con.execute("DELETE FROM meta.column_profiles")
    con.close()
    n = _collect(copy)["null_rates"]
    assert n["origin"].startswith("core tables")
    ((total, emails_null),) = _q(
        copy, "SELECT count(*), count(*) - count(emails) FROM core.contacts"
    )
    emails = next(r for r in n["tables"]["contacts"] if r["column"] == "emails")
    assert (emails["rows"], emails["nulls"]) == (total, emails_null)
    assert not any(r["column"].startswith("_") for r in n["tables"]["contacts"])


def test_sla_severity_shown_when_the_table_has_it_and_absent_without(copy):
    con = connect(copy)
    con.execute("ALTER TABLE meta.sla_results ADD COLUMN IF NOT EXISTS severity VARCHAR")
    con.execute("UPDATE meta.sla_results SET severity = 'error'")
    con.close()
    c = _collect(copy)
    assert {s["severity"] for s in c["slas"]} == {"error"}
    assert '<th class="">severity</th>' in _section(render_html(c), "slas")
    con = connect(copy)
    con.execute("ALTER TABLE meta.sla_results DROP COLUMN severity")  # an older warehouse
    con.close()
    c = _collect(copy)
    assert {s["severity"] for s in c["slas"]} == {None}
    assert '<th class="">severity</th>' not in _section(render_html(c), "slas")


def test_a_failed_warn_check_is_a_warning(copy):
    con = connect(copy)
    con.execute(
        "INSERT INTO meta.check_results (run_id, table_name, check_name, severity, status) "
        "VALUES (2, 'contacts', 'soft', 'warn', 'fail')"
    )
    con.execute("UPDATE meta.runs SET checks_failed = NULL, checks_warned = NULL")
    con.close()
    c = _collect(copy)
    soft = next(ch for ch in c["checks"] if ch["check"] == "soft")
    assert soft["outcome"] == "warn"
    # Without meta.runs figures the summary counts the results themselves.
    assert c["checks_summary"] == {"total": 5, "passed": 1, "failed": 2, "warned": 2}


def test_quarantine_tables_of_other_shapes(copy):
    """The checks engine may name the check column check_name; tables without lineage count too."""
    con = connect(copy)
    con.execute(
        "CREATE TABLE quarantine.deals AS SELECT 'd1' AS deal_id, 'crm' AS _source, "
        "'f.csv' AS _file, 1::BIGINT AS _row, 'range' AS check_name, 'too big' AS reason "
        "FROM range(4)"
    )
    con.execute("CREATE TABLE quarantine.bare AS SELECT 1 AS x")
    con.close()
    c = _collect(copy)
    assert {"table": "deals", "source": "crm", "check": "range", "rows": 4} in c["quarantine"]
    assert {"table": "bare", "source": None, "check": None, "rows": 1} in c["quarantine"]
    crm = next(s for s in c["sources"] if s["source"] == "crm")
    assert (crm["rejected"], crm["quarantined"]) == (0, 4)
    assert next(s for s in c["sources"] if s["source"] == "(bare)")["quarantined"] == 1
    render_html(c)


def test_an_older_run_without_profiles_has_no_null_rates(copy):
    con = connect(copy)
    con.execute("DELETE FROM meta.column_profiles")
    con.execute("INSERT INTO meta.table_counts SELECT 3, * EXCLUDE (run_id) FROM meta.table_counts")
    con.execute("INSERT INTO meta.runs (run_id, started_at, status) VALUES (3, now(), 'success')")
    con.close()
    c = _collect(copy, 1)  # core now holds run 3's build
    assert c["null_rates"]["tables"] == {}
    # quarantine.contacts stamps rows with their build's run: run 1's can still be counted
    assert c["quarantine_note"] is None
    assert [q["rows"] for q in c["quarantine"] if q["check"] == "planted_check"] == [3]
    assert "no column profiles for this run" in render_html(c)


def test_unknown_run_and_no_runs_are_report_errors(project, tmp_path):
    with pytest.raises(ReportError, match=r"no run 99: runs go from 1 to 2"):
        _collect(project.warehouse_path, 99)
    empty = tmp_path / "empty.duckdb"
    connect(empty).close()
    with pytest.raises(ReportError, match="no runs yet"):
        _collect(empty)


# --- HTML and JSON ---------------------------------------------------------------------------


def test_html_has_every_section_and_the_charts(project):
    page = render_html(_collect(project.warehouse_path))
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>{title.replace("&", "&amp;")}</h2>' in page
    charts = re.findall(r'<svg [^>]*data-chart="(\w+)"', page)
    assert charts.count("line") == 1  # quality over runs
    assert charts.count("grouped") == 1  # rejects and quarantine per source
    assert charts.count("hbar") == 2  # step timings + null rates of contacts (profiled)
    assert "newest record age" in page and "41 days" in page and "&lt;= 30 days" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://127.0.0.1:9/hook", ""
    )
    assert "<script" not in page and "<link" not in page
    history = _section(page, "history")
    assert history.count('<span class="badge pass">success</span>') == 2
    assert '<dd><span class="badge pass">success</span></dd>' in _section(page, "summary")


def test_empty_sections_say_so(copy):
    con = connect(copy)
    for t in ("check_results", "sla_results", "schema_changes", "alerts", "quality_scores"):
        con.execute(f"DELETE FROM meta.{t}")
    con.close()
    page = render_html(_collect(copy))
    for sentence in (
        "no checks recorded for this run",
        "no SLAs evaluated for this run",
        "no schema changes detected in this run",
        "no alerts sent for this run",
        "no quality scores recorded",
    ):
        assert sentence in page


def test_hostile_names_are_escaped_everywhere(copy):
    con = connect(copy)
    con.execute(
        "INSERT INTO meta.check_results (run_id, table_name, column_name, check_name, status, "
        "message) VALUES (2, ?, ?, ?, ?, ?)",
        [HOSTILE, HOSTILE, HOSTILE, HOSTILE, '<img src=x onerror="alert(1)">'],
    )
    con.execute(
        "INSERT INTO meta.sla_results (run_id, sla_name, unit, status) VALUES (2, ?, ?, 'fail')",
        [HOSTILE, HOSTILE],
    )
    con.execute("INSERT INTO meta.quality_scores VALUES (2, ?, 'overall', 50)", [HOSTILE])
    con.execute("INSERT INTO meta.column_profiles VALUES (2, ?, ?, 10, 5)", [HOSTILE, HOSTILE])
    con.execute("UPDATE meta.runs SET message = ? WHERE run_id = 2", [HOSTILE])
    con.execute("UPDATE meta.schema_changes SET column_name = ?", [HOSTILE])
    con.execute("UPDATE meta.alerts SET message = ?, url = ?", [HOSTILE, HOSTILE])
    con.execute("UPDATE meta.manifest SET source = ? WHERE source = 'contacts'", [HOSTILE])
    con.close()
    c = _collect(copy)
    page = render_html(c)
    assert "<script" not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;") >= 8
    assert json.loads(render_json(c)) == c


def test_json_round_trips(project):
    c = _collect(project.warehouse_path)
    assert json.loads(render_json(c)) == c
    assert set(c) >= {"run", "steps", "tables", "checks", "slas", "schema_changes", "alerts"}


def test_report_writes_default_path_beside_the_warehouse(project, tmp_path):
    path, content = report(project, as_json=True)
    assert path == project.warehouse_path.parent / "reports" / "run-2.json"
    assert json.loads(path.read_text())["run"] == content["run"]
    path, _ = report(project, 1, tmp_path / "out" / "r1.html")
    assert path == tmp_path / "out" / "r1.html" and path.read_text().startswith("<!DOCTYPE html>")
    path, _ = report(project.warehouse_path, 1, tmp_path)  # a folder, and a bare warehouse path
    assert path == tmp_path / "run-1.html"


# --- command line ----------------------------------------------------------------------------


def _cli(*args: str):
    return runner.invoke(app, ["report", *args])


def test_cli_default_path_is_printed(project):
    res = _cli("-c", str(project.path))
    assert res.exit_code == 0, res.output
    expected = project.warehouse_path.parent / "reports" / "run-2.html"
    assert res.stdout.strip() == str(expected)
    assert expected.read_text().startswith("<!DOCTYPE html>")


def test_cli_stdout_json_and_history(project):
    res = _cli("1", "-c", str(project.path), "-o", "-", "--json", "--history", "1")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["run"]["run_id"] == 1 and [h["run_id"] for h in doc["history"]] == [1]
    res = _cli("-c", str(project.path), "-o", "-")
    assert res.exit_code == 0 and res.stdout.startswith("<!DOCTYPE html>")


def test_cli_bad_run_and_no_warehouse_are_one_line_errors(project, tmp_path):
    res = _cli("42", "-c", str(project.path))
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: no run 42: runs go from 1 to 2 (see 'crmpipe runs'); leave RUN out for the latest"
    ]
    (tmp_path / "crmpipe.yml").write_text("warehouse: wh.duckdb\nsources: {}\n")
    res = _cli("-c", str(tmp_path / "crmpipe.yml"))
    assert res.exit_code == 1 and "run 'crmpipe run' first" in res.stderr
    assert "Traceback" not in res.output


# --- in a real browser -----------------------------------------------------------------------


def _open(browser, path: Path):
    """Load the page; return it with the console messages, page errors and requests seen."""
    page = browser.new_page()
    seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, seen


def test_report_in_headless_chromium_shows_the_charts(project, browser, tmp_path):
    path, content = report(project, output=tmp_path / "report.html")
    page, seen = _open(browser, path)
    try:
        assert seen["console"] == [] and seen["errors"] == []
        assert seen["requests"] == [path.resolve().as_uri()]  # nothing fetched but the page
        assert page.title() == "crmpipe run 2: success"
        for key, title in SECTIONS:
            assert page.locator(f"section#{key} h2").inner_text() == title
        charts = page.locator("svg.chart")
        assert charts.count() == 4
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
        quality = page.locator('svg[data-chart="line"]')
        assert quality.locator("circle.point").count() == 4  # 2 tables × 2 runs
        assert quality.locator("polyline").count() == 2
        sources = page.locator('svg[data-chart="grouped"] rect.bar')
        assert sources.count() == 2 * len(content["sources"])
        nulls = page.locator('section#nulls svg[data-chart="hbar"] rect')
        assert nulls.count() == 3
        assert "emails: 12.5%" in nulls.first.locator("title").text_content()
        assert page.locator("section#checks tr.fail").count() == 2
        assert page.locator("section#slas .badge.fail").inner_text() == "fail"
    finally:
        page.close()


def test_hostile_report_runs_nothing_in_the_browser(copy, browser, tmp_path):
    con = connect(copy)
    con.execute("UPDATE meta.runs SET message = ? WHERE run_id = 2", [HOSTILE])
    con.execute(
        "INSERT INTO meta.check_results (run_id, table_name, check_name, status, message) "
        "VALUES (2, ?, ?, 'fail', ?)",
        [HOSTILE, HOSTILE, '<img src=x onerror="alert(1)">'],
    )
    con.close()
    path, _ = report(copy, output=tmp_path / "hostile.html")
    page, seen = _open(browser, path)
    try:
        assert seen["dialogs"] == [] and seen["errors"] == [] and seen["console"] == []
        assert seen["requests"] == [path.resolve().as_uri()]
        assert HOSTILE in page.locator("section#summary").inner_text()
    finally:
        page.close()


def test_score_axis_starts_near_the_lowest_score():
    from crmpipe.report.html import _score_floor

    assert _score_floor({"a": [99.3, 98.2]}) == 90
    assert _score_floor({"a": [88.0, None], "b": [95.0]}) == 80
    assert _score_floor({"a": [42.0]}) == 0
    assert _score_floor({"a": [None]}) == 0


# --- the engine's own output ---------------------------------------------------------------


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """A generated case run with the checks engine on and an `error` check that fails on some
    rows (contacts without a phone are quarantined): the run ends 'checks_failed'."""
    folder = tmp_path_factory.mktemp("checked")
    case = pursuit.generate(folder, contacts=1500, seed=5)
    with case.config_path.open("a") as fh:
        fh.write(
            "checks:\n  contacts:\n    columns:\n"
            "      phone: [{not_null: {name: phone_present, severity: error}}]\n"
        )
    cfg = load_config(case.config_path)
    summary = run(cfg)
    assert summary.status == "checks_failed"
    return cfg


def test_report_of_a_real_checked_run(checked, browser, tmp_path):
    """The report shows what the engine recorded: every check and SLA of the run, the
    quarantined rows per source and check, balanced counts, scores and null rates."""
    wh = checked.warehouse_path
    c = _collect(wh)
    assert c["run"]["status"] == "checks_failed"
    recorded = _q(wh, "SELECT check_name, status FROM meta.check_results WHERE run_id = 1")
    assert sorted(ch["check"] for ch in c["checks"]) == sorted(n for n, _ in recorded)
    assert c["checks_summary"]["failed"] >= 1
    assert next(ch for ch in c["checks"] if ch["check"] == "phone_present")["outcome"] == "fail"
    slas = _q(wh, "SELECT sla_name, measured FROM meta.sla_results WHERE run_id = 1")
    assert slas and sorted((s["name"], s["measured"]) for s in c["slas"]) == sorted(slas)
    # quarantine per source and check = the quarantine table, and the counts reconcile
    ((kept,),) = _q(wh, "SELECT count(*) FROM quarantine.contacts WHERE _check LIKE '%phone%'")
    assert kept > 0
    assert (
        sum(q["rows"] for q in c["quarantine"] if q["table"] == "contacts")
        == _q(wh, "SELECT count(*) FROM quarantine.contacts")[0][0]
    )
    contacts = next(t for t in c["tables"] if t["table"] == "contacts")
    assert contacts["quarantined"] >= kept and contacts["balanced"]
    assert c["quality"]["latest"]["contacts"]["overall"] <= 100
    assert c["null_rates"]["origin"] == "meta.column_profiles"
    phone = next(n for n in c["null_rates"]["tables"]["contacts"] if n["column"] == "phone")
    assert phone["nulls"] == 0  # contacts without a phone went to quarantine
    path, _ = report(checked, output=tmp_path / "checked.html")
    page, seen = _open(browser, path)
    try:
        assert seen["console"] == [] and seen["errors"] == []
        assert page.title() == "crmpipe run 1: checks_failed"
        assert page.locator('svg[data-chart="line"]').count() == 1
        assert page.locator('svg[data-chart="grouped"]').count() == 1
        hbars = page.locator('section#nulls svg[data-chart="hbar"]')
        assert hbars.count() == len(c["null_rates"]["tables"])
        assert page.locator("section#checks tr.fail").count() == c["checks_summary"]["failed"]
        assert "phone_present" in page.locator("section#checks").inner_text()
    finally:
        page.close()
