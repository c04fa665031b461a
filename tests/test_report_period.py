"""`crmpipe report --since`: the runs of a period in one real warehouse (a small generated mover
case run four times: a good run, a forced rebuild, a run whose new file fails a check, a run
that rebuilt nothing), their SLAs and checks folded per item against the meta tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets.movers import generate
from crmpipe.pipeline import run
from crmpipe.report.collect import ReportError
from crmpipe.report.period import period_content, period_start
from crmpipe.report.write import report

runner = CliRunner()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("period")
    case = generate(folder, customers=300, branches=2, seed=4)
    cfg = load_config(case.config_path)
    assert run(cfg).exit_code == 0  # run 1
    assert run(cfg, force=True).exit_code == 0  # run 2
    # run 3: a third branch's jobs without its customers: most name an unknown customer
    data = folder / "data"
    text = (data / "jobs_b02.csv").read_text(encoding="utf-8", errors="replace")
    (data / "jobs_b03.csv").write_text(text.replace("J1", "J3"), encoding="utf-8")
    assert run(cfg).exit_code == 3
    third = run(cfg)  # run 4: nothing new, rebuilds nothing, records no results
    assert third.up_to_date
    con = duckdb.connect(str(cfg.warehouse_path))
    try:  # run 1 is ten days old
        con.execute(
            "UPDATE meta.runs SET started_at = started_at - INTERVAL 10 DAY, "
            "finished_at = finished_at - INTERVAL 10 DAY WHERE run_id = 1"
        )
    finally:
        con.close()
    return case, cfg


def _content(cfg, since: str) -> dict:
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        return period_content(con, since)
    finally:
        con.close()


def _meta(cfg, sql: str, params: list) -> list[tuple]:
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_runs_of_the_last_week_are_counted(warehouse):
    _, cfg = warehouse
    c = _content(cfg, "7d")
    assert c["runs"]["count"] == 3 and (c["runs"]["first"], c["runs"]["last"]) == (2, 4)
    assert c["runs"]["by_status"] == {"success": 1, "checks_failed": 2}
    assert c["runs"]["checked"] == 2  # run 4 rebuilt nothing: no results of its own
    assert [r["run_id"] for r in c["history"]] == [2, 3, 4]
    assert _content(cfg, "2w")["runs"]["count"] == 4
    assert _content(cfg, "24h")["runs"]["count"] == 3


def test_a_check_that_failed_once_has_its_rate_latest_and_worst(warehouse):
    _, cfg = warehouse
    c = _content(cfg, "7d")
    (check,) = [s for s in c["checks"] if s["check"] == "relationship_customer_id"]
    assert (check["runs"], check["passed"], check["failed"]) == (2, 1, 1)
    assert check["pass_rate"] == 50.0
    assert c["checks"][0]["check"] == "relationship_customer_id"  # failures first
    (failed,) = _meta(
        cfg,
        "SELECT failed_rows FROM meta.check_results WHERE run_id = 3 AND check_name = ?",
        ["relationship_customer_id"],
    )
    assert check["latest"] == check["worst"]
    assert check["worst"]["run_id"] == 3 and check["worst"]["outcome"] == "fail"
    assert check["worst"]["failed_rows"] == failed[0]
    rows = _meta(cfg, "SELECT sum(failed_rows) FROM meta.check_results WHERE run_id IN (2, 3) "
                      "AND check_name = 'relationship_customer_id'", [])  # fmt: skip
    assert check["failed_rows"] == rows[0][0]
    over_two_weeks = _content(cfg, "2w")
    (check,) = [s for s in over_two_weeks["checks"] if s["check"] == "relationship_customer_id"]
    assert check["runs"] == 3 and check["pass_rate"] == pytest.approx(200 / 3, abs=0.01)


def test_slas_figures_match_the_meta_table(warehouse):
    _, cfg = warehouse
    c = _content(cfg, "2w")
    slas = {s["name"]: s for s in c["slas"]}
    assert len(slas) == 10
    for name in ("completeness_customers_email", "freshness_customers_updated_at"):
        measured = dict(
            _meta(cfg, "SELECT run_id, measured FROM meta.sla_results WHERE sla_name = ?", [name])
        )
        s = slas[name]
        assert s["runs"] == len(measured) == 3
        assert s["latest"]["run_id"] == 3 and s["latest"]["measured"] == measured[3]
        assert s["min"] == min(measured.values()) and s["max"] == max(measured.values())
        # worst: the lowest for a >= target, the highest for a <= one
        pick = min if s["comparison"].startswith(">") else max
        assert s["worst"]["measured"] == pick(measured.values())
        assert s["pass_rate"] == 100.0


def test_since_forms_and_errors():
    from datetime import datetime

    now = datetime(2026, 12, 5, 9, 0)
    assert period_start("7d", now) == datetime(2026, 11, 28, 9, 0)
    assert period_start("24h", now) == datetime(2026, 12, 4, 9, 0)
    assert period_start("2w", now) == datetime(2026, 11, 21, 9, 0)
    assert period_start("2026-12-01", now) == datetime(2026, 12, 1)
    assert period_start("2026-12-01T08:30+01:00", now) == datetime(2026, 12, 1, 7, 30)
    for bad in ("7", "7 days", "0d", "yesterday", "2026-13-01", ""):
        with pytest.raises(ReportError) as err:
            period_start(bad, now)
        assert "24h, 7d, 2w" in str(err.value) and "\n" not in str(err.value)


def test_a_period_without_runs_is_one_line(warehouse):
    _, cfg = warehouse
    with pytest.raises(ReportError, match="no runs since 2099-01-01"):
        _content(cfg, "2099-01-01")


def test_cli_writes_the_period_page_and_json(warehouse, tmp_path):
    _, cfg = warehouse
    result = runner.invoke(app, ["report", "--since", "7d", "-c", str(cfg.path)])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.name == "period-2-4.html" and path.parent.name == "reports"
    page = path.read_text(encoding="utf-8")
    for text in ("SLAs over the period", "Checks over the period", "relationship_customer_id",
                 "50 %", "Content-Security-Policy"):  # fmt: skip
        assert text in page
    result = runner.invoke(app, ["report", "--since", "2w", "--json", "-o", "-",
                                 "-c", str(cfg.path)])  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.output)["runs"]["count"] == 4
    written, content = report(cfg, output=tmp_path, since="2026-01-01")
    assert written == tmp_path / "period-1-4.html" and content["runs"]["count"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "a week"], "error: --since 'a week': give a span back from now"),
        (["3", "--since", "7d"], "error: give a RUN or --since, not both"),
    ],
)
def test_cli_bad_since_is_a_one_line_error(warehouse, args, message):
    _, cfg = warehouse
    result = runner.invoke(app, ["report", *args, "-c", str(cfg.path)])
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1


def test_the_single_run_report_is_unchanged(warehouse):
    _, cfg = warehouse
    _, content = report(cfg, 3, output="-", as_json=True)
    assert content["run"]["run_id"] == 3 and "period" not in content


def test_hostile_names_are_escaped(warehouse, tmp_path):
    import shutil as sh

    from crmpipe.report.period_html import render_period_html

    _, cfg = warehouse
    copy = tmp_path / "w.duckdb"
    sh.copy(cfg.warehouse_path, copy)
    hostile = '<script>alert("pwned")</script>'
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            "INSERT INTO meta.check_results (run_id, table_name, column_name, check_name, "
            "check_type, severity, status, failed_rows, total_rows, measured, threshold, "
            "message, origin, seconds) VALUES (3, ?, ?, ?, 'x', 'error', 'fail', 1, 2, 50, 0, "
            "?, 'config', 0)",
            [hostile, hostile, hostile, hostile],
        )
        page = render_period_html(period_content(con, "7d"))
    finally:
        con.close()
    assert "<script>" not in page and "&lt;script&gt;" in page
