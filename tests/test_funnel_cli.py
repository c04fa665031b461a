"""`crmpipe funnel` and `crmpipe demo pipedrive` through the real CLI (typer's CliRunner), on a
synthetic Pipedrive export: table, CSV and JSON output, month ranges, charts, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import struct
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import SHARED_DATA_ENV
from crmpipe.demo.datasets.pipedrive import generate
from crmpipe.pipeline import run
from crmpipe.warehouse.connection import connect

runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A synthetic export, run once; returns its crmpipe.yml."""
    generated = generate(
        tmp_path_factory.mktemp("funnel_cli"), seed=7, deals=200, users=30, shared=False
    )
    run(load_config(generated.config_path))
    return generated.config_path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_table_shows_the_funnel_and_the_drop_off(project):
    result = invoke("funnel", "-c", str(project))
    assert result.exit_code == 0, result.output
    assert "sales funnel: deals entering each step" in result.stdout
    assert "drop-off from the step before" in result.stdout
    assert "2.1 Sales Call 1" in result.stdout.replace("\n", " ")


def test_csv_has_a_row_per_month_and_step(project):
    result = invoke("funnel", "-c", str(project), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "month",
        "funnel_step",
        "kpi_name",
        "deals_count",
        "previous_step",
        "previous_count",
        "conversion_rate",
        "drop_off_rate",
    ]
    months = {r["month"] for r in rows}
    assert len(rows) == 11 * len(months)
    first = [r for r in rows if r["month"] == min(months)]
    assert [r["funnel_step"] for r in first] == [
        "1",
        "2",
        "2.1",
        "3",
        "3.1",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
    ]
    by_step = {r["funnel_step"]: r for r in first}
    assert by_step["1"]["previous_step"] == "" and by_step["1"]["drop_off_rate"] == ""
    assert by_step["2.1"]["previous_step"] == "2"  # a sales call compares with its stage
    assert by_step["3"]["previous_step"] == "2"  # a stage with the stage before
    if int(by_step["2"]["deals_count"]):
        expected = 1 - int(by_step["3"]["deals_count"]) / int(by_step["2"]["deals_count"])
        assert float(by_step["3"]["drop_off_rate"]) == pytest.approx(expected, abs=1e-4)


def test_json_and_month_range(project):
    result = invoke(
        "funnel", "-c", str(project), "-f", "json", "--from", "2024-03", "--to", "2024-05"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["months"] == ["2024-03", "2024-04", "2024-05"]
    assert len(doc["rows"]) == 33
    assert [t["funnel_step"] for t in doc["totals"]][:3] == ["1", "2", "2.1"]
    total_1 = sum(r["deals_count"] for r in doc["rows"] if r["funnel_step"] == "1")
    assert doc["totals"][0]["deals_count"] == total_1


def test_svg_chart_is_valid_xml(project, tmp_path):
    chart = tmp_path / "funnel.svg"
    result = invoke("funnel", "-c", str(project), "--chart", str(chart))
    assert result.exit_code == 0, result.output
    root = ET.parse(chart).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "1  Lead Generation" in texts and "3.1  Sales Call 2" in texts


def test_html_and_png_charts(project, tmp_path):
    html_path, png_path = tmp_path / "f.html", tmp_path / "f.png"
    for path in (html_path, png_path):
        result = invoke("funnel", "-c", str(project), "-f", "csv", "--chart", str(path))
        assert result.exit_code == 0, result.output
    page = html_path.read_text()
    assert (
        page.startswith("<!doctype html>")
        and "<svg" in page
        and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    )
    data = png_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1920 and height > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chart", "funnel.pdf"], "unsupported chart type (.pdf); use .svg, .html, .png"),
        (["--from", "2024-13"], "--from: expected a month as YYYY-MM, got '2024-13'"),
        (["--from", "2024-05", "--to", "2024-03"], "--from 2024-05 is after --to 2024-03"),
    ],
)
def test_bad_arguments_are_one_line_errors(project, args, message):
    result = invoke("funnel", "-c", str(project), *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_warehouse_without_the_funnel_says_what_to_do(tmp_path):
    config = tmp_path / "crmpipe.yml"
    config.write_text("warehouse: w.duckdb\n")
    connect(tmp_path / "w.duckdb").close()
    result = invoke("funnel", "-c", str(config))
    assert result.exit_code == 1
    assert "no sales funnel in this warehouse" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_demo_pipedrive_prints_the_funnel_and_writes_charts(tmp_path, monkeypatch):
    # No real export here: the demo generates files of the same shape.
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / "no-shared-data"))
    folder = tmp_path / "demo"
    result = invoke("demo", "pipedrive", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert "sales funnel: deals entering each step" in result.stdout
    assert "data checks" in result.stdout
    for suffix in (".svg", ".html", ".png"):
        assert (folder / f"funnel{suffix}").stat().st_size > 1000
    assert (folder / "data" / "deal_changes.csv").exists()
