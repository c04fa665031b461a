"""`crmpipe demo movers` prints unification, duplicate jobs with precision/recall, the SLA
table and rolling counts per branch; the case's SLAs are evaluated with their figures."""

from __future__ import annotations

from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.demo.runner import demo


def test_demo_movers_prints_its_tables(tmp_path):
    result = CliRunner().invoke(
        app, ["demo", "movers", "--customers", "800", "--branches", "3", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for text in ("golden customers after unification", "duplicate-job precision / recall",
                 "completeness_customers_email", "duplicate_rate_customers_email",
                 "rolling job counts per branch", "explain customer"):  # fmt: skip
        assert text in result.output


def test_the_case_slas_are_measured(tmp_path):
    result = demo("movers", folder=tmp_path, customers=600, branches=2)
    slas = {o.sla.name: o for o in result.summary.slas}
    assert len(slas) == 10
    assert slas["consistency_branches_name"].measured == 100.0
    assert slas["completeness_customers_email"].measured >= 95
    assert slas["freshness_customers_updated_at"].measured <= 30
    assert slas["duplicate_rate_customers_email"].measured < 1
    assert all(o.status == "pass" for o in result.summary.slas)
    assert result.movers is not None and result.movers.golden < result.movers.records
    assert result.movers.precision >= 0.98 and result.movers.recall >= 0.98
