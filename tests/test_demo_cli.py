"""`crmpipe demo pursuit` as a user runs it: the run, the three reference queries, and the
follow-up commands it suggests, which must work as printed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_demo_pursuit_answers_and_its_suggested_commands_work(tmp_path):
    folder = tmp_path / "pursuit"
    result = runner.invoke(app, ["demo", "pursuit", "--contacts", "3000", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for query in ("title: finance", "filter: bob Accela >10000", "crm: a"):
        assert f"crmpipe search {query!r}" in out
    assert "checks:" in out and "quality scores" in out
    # The hints name commands that run as printed (the output is not wrapped when piped).
    commands = re.findall(r"crmpipe (report -c \S+|resolve -c \S+ --evaluate \S+)", out)
    assert [c.split()[0] for c in commands] == ["report", "resolve"]
    report = runner.invoke(app, shlex.split(commands[0]))
    assert report.exit_code == 0, report.output
    html = Path(report.stdout.strip())
    assert html.name == "run-1.html" and "<svg" in html.read_text(encoding="utf-8")
    evaluation = runner.invoke(app, shlex.split(commands[1]))
    assert evaluation.exit_code == 0, evaluation.output
    f1 = float(re.search(r"pairwise F1\s*│\s*([0-9.]+)", evaluation.stdout).group(1))
    assert f1 > 0.9
