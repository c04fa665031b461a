"""Blocked pairs that could never link are not scored (settings.pair_guard, issue 15): the
pairs Splink scores with the guard are exactly those the link-time guard (names_guard) lets
through, with the same scores, on the hand-made email-habit and name-variation records."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.resolution.features import derive_features
from crmpipe.resolution.scoring import score, splink_columns
from crmpipe.resolution.settings import names_guard, pair_guard, splink_settings
from crmpipe.warehouse.connection import connect
from test_resolve_email_habits import CRM_A, CRM_B, PROJECT, _write


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, dict, list]:
    """(every record's features, the Splink settings, the features) of the resolved case."""
    folder = tmp_path_factory.mktemp("guard")
    (folder / "entities.csv").write_text("place_id,name\ne1,Town\ne2,City\n", encoding="utf-8")
    _write(folder, "a.csv", CRM_A, 1_700_000_000)
    # and a record whose first name differs outright from the one whose address it shares
    extra = ["b10,e2,Terry,Young,pyoung@e205.org,,Police Chief"]
    _write(folder, "b.csv", CRM_B + extra, 1_700_086_400)
    (folder / "crmpipe.yml").write_text(PROJECT, encoding="utf-8")
    cfg = load_config(folder / "crmpipe.yml")
    run(cfg)
    tbl, spec = cfg.tables()["contacts"], cfg.resolve_spec("contacts")
    features = derive_features(tbl, spec)
    settings = splink_settings(tbl, features, spec, prior=0.01)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rel = con.sql("SELECT *, _rid AS _pg FROM resolved.contact_fingerprints")
        cols = splink_columns(rel.columns, settings, ["_rid", "contact_id", "_pg"])
        records = rel.select(*cols).to_arrow_table()
    finally:
        con.close()
    return records, settings, features


def _scored(records: pa.Table, settings: dict, guard: str | None) -> pa.Table:
    """Every pair of records scored (floor 0: none dropped), `guard` filtering them first."""
    ids = sorted(records.column("_rid").to_pylist())
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    blocked = pa.table(
        {
            "match_key": ["0"] * len(pairs),
            "join_key_l": [a for a, _ in pairs],
            "join_key_r": [b for _, b in pairs],
        }
    )
    out = score(
        records, settings, training_rules=[], floor=0.0, train=False, blocked=blocked,
        pair_filter=guard,
    )  # fmt: skip
    return out.predictions


def test_the_guard_keeps_exactly_the_pairs_that_can_link(case: tuple) -> None:
    import duckdb

    records, settings, features = case
    guard = pair_guard(features, settings["comparisons"])
    assert guard is not None
    every = _scored(records, settings, None)
    kept = _scored(records, settings, guard)
    n = records.num_rows
    assert every.num_rows == n * (n - 1) // 2
    con = duckdb.connect()
    con.register("every", every)
    con.register("kept", kept)
    cols = ", ".join(f'"{c}"' for c in every.column_names)
    linkable = f"SELECT {cols} FROM every WHERE {names_guard(features, settings['comparisons'])}"
    # the same rows, every score included, both ways
    assert con.execute(f"SELECT count(*) FROM ({linkable} EXCEPT ALL SELECT {cols} FROM kept)"
                       ).fetchall() == [(0,)]  # fmt: skip
    assert con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM kept EXCEPT ALL {linkable})"
                       ).fetchall() == [(0,)]  # fmt: skip
    # the guard did drop pairs, and kept ones of every kind the names_guard lets through
    assert 0 < kept.num_rows < every.num_rows
    levels = con.execute(
        "SELECT count(*) FILTER (WHERE gamma_first_name = 0 OR gamma_last_name = 0), "
        "count(*) FILTER (WHERE gamma_first_name IN (3, 4, 5)) FROM kept"
    ).fetchall()[0]
    assert levels[0] > 0  # names differing outright, on a shared address
    assert levels[1] > 0  # an initial, a nickname or a swap


def test_no_guard_without_emails_or_names(case: tuple) -> None:
    _, settings, features = case
    assert pair_guard([f for f in features if f.kind != "email"], settings["comparisons"]) is None
