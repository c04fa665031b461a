"""Training that fails on odd data: the resolution goes on with the built-in priors, scoring
the records it already loaded into Splink's DuckDB (streamed there from the warehouse, so no
second copy of them is kept to start over from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.warehouse.connection import connect


def _partition_and_trained(cfg) -> tuple[set[frozenset[str]], bool]:
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rows = con.execute(
            "SELECT list(DISTINCT record_id ORDER BY record_id) FROM core.contact_sources "
            "GROUP BY golden_id"
        ).fetchall()
        ((trained,),) = con.execute(
            "SELECT trained FROM meta.resolve_models WHERE table_name = 'contacts' "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchall()
        return {frozenset(r[0]) for r in rows}, bool(trained)
    finally:
        con.close()


def test_failed_training_resolves_with_the_built_in_priors(tmp_path: Path, monkeypatch) -> None:
    from splink.internals.linker_components.training import LinkerTraining

    made = pursuit.generate(tmp_path / "case", contacts=2500, seed=4, shared=None)
    text = made.config_path.read_text()
    priors = made.config_path.parent / "priors.yml"
    priors.write_text(
        text.replace(".crmpipe/warehouse.duckdb", ".crmpipe/priors.duckdb")
        + "\nresolve:\n  contacts:\n    train: false\n"
    )
    run(load_config(priors))
    expected, trained = _partition_and_trained(load_config(priors))
    assert not trained

    def broken(self, *args, **kwargs):
        raise RuntimeError("EM diverged on odd data")

    monkeypatch.setattr(
        LinkerTraining, "estimate_parameters_using_expectation_maximisation", broken
    )
    run(load_config(made.config_path))
    got, trained = _partition_and_trained(load_config(made.config_path))
    assert not trained
    assert got == expected
    assert len([c for c in got if len(c) > 1]) > 50  # duplicates were found all the same


@pytest.fixture(autouse=True)
def _quiet_splink_logs(caplog) -> None:
    caplog.set_level("ERROR")
