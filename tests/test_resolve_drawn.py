"""A full resolution's Splink inputs drawn in the warehouse connection (resolution/drawn.py,
issue 15): the same u sample, EM pairs and blocked pairs as Splink over every record, so the
same trained model, predictions, links and golden records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

import crmpipe.resolution.run as run_module
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.warehouse.connection import connect

TABLES = (
    "resolved.contact_predictions",
    "resolved.contact_pairs",
    "resolved.contact_clusters",
    "core.contacts",
    "core.contact_sources",
)


def _resolved(folder: Path) -> tuple[dict, dict[str, list]]:
    """(the trained model but its random uid, each table's rows sorted)."""
    con = connect(load_config(folder / "crmpipe.yml").warehouse_path, read_only=True)
    try:
        ((model, trained),) = con.execute(
            "SELECT settings_json, trained FROM meta.resolve_models "
            "WHERE table_name = 'contacts' ORDER BY created_at DESC LIMIT 1"
        ).fetchall()
        assert trained
        out = {}
        for t in TABLES:
            cols = [c for c in con.table(t).columns if c not in ("_run_id", "_loaded_at")]
            picked = ", ".join(  # the two cases' folders differ: a file by its name
                f"regexp_replace({json.dumps(c)}, '^.*/', '')" if c in ("_file", "file")
                else json.dumps(c)
                for c in cols
            )  # fmt: skip
            rows = con.sql(f"SELECT {picked} FROM {t}").fetchall()
            out[t] = sorted(rows, key=repr)
    finally:
        con.close()
    model = json.loads(model)
    model.pop("linker_uid", None)
    return model, out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple, tuple]:
    """The generated case resolved with the inputs drawn, and by Splink over every record."""
    base = tmp_path_factory.mktemp("drawn")
    pursuit.generate(base / "drawn", contacts=4_000, seed=3)
    shutil.copytree(base / "drawn", base / "whole", copy_function=shutil.copy2)
    run(load_config(base / "drawn" / "crmpipe.yml"))
    with pytest.MonkeyPatch.context() as mp:  # drawn.scores declines: every record to Splink
        mp.setattr(run_module, "scores", lambda *a, **k: None)
        run(load_config(base / "whole" / "crmpipe.yml"))
    return _resolved(base / "drawn"), _resolved(base / "whole")


def test_the_same_model_as_splink_over_every_record(both) -> None:
    (drawn, _), (whole, _) = both
    assert drawn == whole


@pytest.mark.parametrize("table", TABLES)
def test_the_same_predictions_links_and_golden_records(both, table: str) -> None:
    (_, drawn), (_, whole) = both
    assert drawn[table] == whole[table]
    if table == "resolved.contact_predictions":
        assert drawn[table]  # Splink linked something


def test_the_sample_is_splinks() -> None:
    """The drawn sample's condition is the one Splink's u sampling writes for these records."""
    from splink.internals.estimate_u import _rows_needed_for_n_pairs

    from crmpipe.resolution.drawn import sample_filter
    from crmpipe.resolution.scoring import SEED, U_MAX_PAIRS, linker_for

    con = duckdb.connect()
    rows = "SELECT range AS _rid, 'x' || range AS name FROM range(50000)"
    records = con.sql(rows).to_arrow_table()
    settings = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "_rid",
        "comparisons": [],
        "blocking_rules_to_generate_predictions": [],
    }
    linker, own, _ = linker_for(records, settings, validate=False)
    try:
        uids = linker._settings_obj.column_info_settings.unique_id_input_columns
        proportion = _rows_needed_for_n_pairs(U_MAX_PAIRS) / 50000
        expected = linker._proportion_sample_sql(proportion, uids, seed=SEED)
        got = sample_filter(linker, 50000)
        assert got == expected and got
        (n,) = con.execute(f"SELECT count(*) FROM records WHERE 1=1 {got}").fetchone()
        assert 700 < n < 1300
    finally:
        own.close()
