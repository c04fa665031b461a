"""`crmpipe demo childcare` as a user runs it: on the real lists when they are there, else on
generated ones, with the leads' figures and follow-up commands that work as printed."""

from __future__ import annotations

import re
import shlex

from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.warehouse.connection import connect
from support.shared import shared_folder

runner = CliRunner()


def _figure(out: str, label: str) -> int:
    return int(re.search(rf"{re.escape(label)}\s*│\s*([\d,]+)", out).group(1).replace(",", ""))


def test_demo_childcare_on_the_real_lists(tmp_path):
    shared_folder("childcare")  # skips with a message when the real files are absent
    folder = tmp_path / "childcare"
    result = runner.invoke(app, ["demo", "childcare", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert _figure(out, "facility rows from source1") == 70
    assert _figure(out, "facility rows from source2") == 28
    assert _figure(out, "facility rows from source3") == 29
    assert _figure(out, "facility rows from salesforce_leads") == 39
    facilities = _figure(out, "facilities (one lead each)")
    parts = [
        "in the lists and already a CRM lead",
        "in the lists, new leads",
        "CRM leads no list mentions",
    ]
    assert sum(_figure(out, p) for p in parts) == facilities
    cfg = load_config(folder / "crmpipe.yml")
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        (leads,) = con.execute("SELECT count(*) FROM marts.leads").fetchone()
        (sources,) = con.execute(
            "SELECT count(*) FROM marts.leads WHERE len(sources) >= 1"
        ).fetchone()
        # The processors gave Oklahoma's and Texas's facilities their ages served.
        (ages,) = con.execute(
            "SELECT count(*) FROM marts.leads WHERE ages_served IS NOT NULL"
        ).fetchone()
    finally:
        con.close()
    assert leads == facilities == sources
    assert ages > 0


def test_demo_childcare_generates_lists_when_the_real_ones_are_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("CRMPIPE_SHARED_DATA", str(tmp_path / "no-such-folder"))
    folder = tmp_path / "childcare"
    result = runner.invoke(app, ["demo", "childcare", "--facilities", "600", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = sum(_figure(out, f"facility rows from source{i}") for i in (1, 2, 3))
    assert 590 <= rows <= 600  # 600 rows written; the planted malformed lines are rejected
    assert _figure(out, "merged across two or more lists") > 0
    assert _figure(out, "in the lists and already a CRM lead") > 0
    assert "crmpipe search -t facilities 'name: montessori'" in out
    assert "the leads: crmpipe shell -c" in out
    # The evaluation it suggests runs as printed, and finds the planted facilities.
    command = re.search(r"crmpipe (resolve -c \S+ --evaluate \S+)", out).group(1)
    evaluation = runner.invoke(app, shlex.split(command))
    assert evaluation.exit_code == 0, evaluation.output
    f1 = float(re.search(r"pairwise F1\s*│\s*([0-9.]+)", evaluation.stdout).group(1))
    assert f1 >= 0.95
