"""Incremental resolution (issue 15): a run that brings a new file scores only the new or
changed records against the stored state, keeps golden ids, and clusters as a full re-resolve
does on a case small enough for the built-in priors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.resolution.run import resolve
from crmpipe.warehouse.connection import connect


def _clusters(cfg) -> set[frozenset[str]]:
    """The partition of contact ids into golden records."""
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rows = con.execute(
            "SELECT list(DISTINCT record_id ORDER BY record_id) FROM core.contact_sources "
            "GROUP BY golden_id"
        ).fetchall()
        return {frozenset(r[0]) for r in rows}
    finally:
        con.close()


def _last_model(cfg) -> tuple[str, int, int, bool]:
    """(mode, records, changed, trained) of the last resolution of contacts."""
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        return con.execute(
            "SELECT mode, records, changed, trained FROM meta.resolve_models "
            "WHERE table_name = 'contacts' ORDER BY created_at DESC LIMIT 1"
        ).fetchall()[0]
    finally:
        con.close()


@pytest.fixture()
def case(tmp_path: Path) -> tuple[Path, Path]:
    made = pursuit.generate(tmp_path / "case", contacts=1500, seed=3, shared=None)
    newest = made.config_path.parent / "contacts_2.csv"  # new contacts and changed ones
    held = tmp_path / newest.name
    shutil.move(newest, held)  # the newest drop arrives later
    return made.config_path, held


def test_a_new_drop_is_resolved_incrementally_as_a_full_resolve_would(case) -> None:
    config, held = case
    cfg = load_config(config)
    run(cfg)
    assert _last_model(cfg)[0] == "full"  # nothing to build on yet
    before = _clusters(cfg)
    shutil.move(held, config.parent / held.name)
    run(cfg)
    mode, records, changed, _ = _last_model(cfg)
    assert mode == "incremental"
    assert 0 < changed < records * 0.5  # the new drop's records, not everything
    incremental = _clusters(cfg)
    assert incremental != before
    [full] = resolve(cfg, full=True)
    assert full.mode == "full" and full.changed == 0
    assert _clusters(cfg) == incremental


def test_a_rerun_with_nothing_new_keeps_the_clusters(case) -> None:
    config, _ = case
    cfg = load_config(config)
    run(cfg)
    first = _clusters(cfg)
    [again] = resolve(cfg)
    assert again.mode == "incremental" and again.changed == 0
    assert again.scored_records < again.records / 2  # the stored pairs' records only
    assert _clusters(cfg) == first


def test_changed_settings_resolve_in_full(case) -> None:
    config, _ = case
    cfg = load_config(config)
    run(cfg)
    config.write_text(config.read_text() + "\nresolve:\n  contacts:\n    threshold: 0.95\n")
    [res] = resolve(load_config(config))
    assert res.mode == "full"


def test_run_full_resolves_in_full_with_the_same_clusters(case) -> None:
    config, _ = case
    cfg = load_config(config)
    run(cfg)
    first = _clusters(cfg)
    out = CliRunner().invoke(app, ["run", "-c", str(config), "--full"])
    assert out.exit_code in (0, 3), out.output  # 3: the case's planted SLA misses
    assert "up to date" not in out.output and _last_model(cfg)[0] == "full"
    assert _clusters(cfg) == first


def test_record_numbers_follow_the_files_not_the_scan_order(case) -> None:
    """The same records in another physical order (as threads may scan them) get the same
    numbers, so Splink's seeded samples and the clusters are the same run after run."""
    from crmpipe.resolution.records import snapshot_records

    config, _ = case
    cfg = load_config(config)
    run(cfg)
    contacts = cfg.tables()["contacts"]
    con = connect(cfg.warehouse_path)
    numbers = "SELECT contact_id, _rid FROM resolved.contact_records"
    try:  # core as the run staged it (before resolution), in two physical orders
        for order in ("_rid", "md5(contact_id)"):
            con.execute(
                "CREATE OR REPLACE TABLE core.contacts AS SELECT * EXCLUDE (_rid, _rec) "
                f"FROM resolved.contact_records ORDER BY {order}"
            )
            snapshot_records(con, contacts, full=True)
            if order == "_rid":
                first = dict(con.execute(numbers).fetchall())
        again = dict(con.execute(numbers).fetchall())
    finally:
        con.close()
    assert len(first) > 1000 and again == first


def _prepared(cfg) -> list[tuple]:
    """Every record's stored raw hash and prepared features, by key."""
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        return con.execute("SELECT * FROM resolved.contact_fingerprints ORDER BY k").fetchall()
    finally:
        con.close()


def test_features_are_prepared_for_changed_records_only_and_equal_fresh_ones(case) -> None:
    config, held = case
    cfg = load_config(config)
    run(cfg)
    shutil.move(held, config.parent / held.name)
    run(cfg)  # incremental: the new drop's records prepared, the others' features kept
    kept = _prepared(cfg)
    [again] = resolve(cfg)
    assert again.mode == "incremental" and again.prepared == 0  # nothing new: nothing prepared
    [full] = resolve(cfg, full=True)
    assert full.prepared == full.records  # --full prepares every record again…
    assert _prepared(cfg) == kept  # …and gets exactly the features that were kept


def _compressions(cfg) -> dict[str, set[str]]:
    """Each stored text or text-list features column's segment compressions (a list's: its
    offsets' and its strings')."""
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rows = con.execute(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info("
            "'resolved.contact_fingerprints') WHERE segment_type IN ('VARCHAR', 'VARCHAR[]') "
            "AND column_name IN (SELECT column_name FROM duckdb_columns() WHERE schema_name = "
            "'resolved' AND table_name = 'contact_fingerprints' AND data_type IN "
            "('VARCHAR', 'VARCHAR[]')) GROUP BY ALL"
        ).fetchall()
        return {name: set(kinds) for name, kinds in rows}
    finally:
        con.close()


def test_the_keys_a_drop_probes_are_stored_uncompressed_in_every_way_features_are_saved(
    case,
) -> None:
    """The stored features' near-unique text (e-mail keys and parts, phones, entity ids, the
    key as text: resolution/prepared.UNCOMPRESSED) and e-mail lists (offsets and strings) are
    written without compression, so that a drop's probes and Splink's input read a few
    percent of the records without decompressing every one, and the write skips analysing
    them; names and nickname lists stay compressed. So after a first resolution, a drop's
    in-place update and `resolve --full`, with the same features."""
    from crmpipe.resolution.prepared import UNCOMPRESSED, UNCOMPRESSED_PREFIX

    config, held = case
    cfg = load_config(config)

    def check() -> None:
        kinds = _compressions(cfg)
        plain = {c for c in kinds if c in UNCOMPRESSED or c.startswith(UNCOMPRESSED_PREFIX)}
        assert {"k", "entity_id", "phone_key", "emails_key", "emails_wlocal"} <= plain
        assert {"emails", "emails_own"} <= plain  # the lists
        assert all(kinds[c] == {"Uncompressed"} for c in plain), kinds
        assert kinds["last_name"] != {"Uncompressed"}
        assert kinds["first_name_canon"] != {"Uncompressed"}

    run(cfg)
    check()
    full = _prepared(cfg)
    shutil.move(held, config.parent / held.name)
    run(cfg)  # in place
    check()
    kept = _prepared(cfg)
    assert len(kept) > len(full)
    resolve(cfg, full=True)
    check()
    assert _prepared(cfg) == kept


def _numbers(cfg) -> dict[str, int]:
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        return dict(con.execute("SELECT contact_id, _rid FROM resolved.contact_records").fetchall())
    finally:
        con.close()


def test_a_new_drop_appends_records_in_the_order_a_full_snapshot_gives(case) -> None:
    """A newer drop's records are appended after the kept ones, which keep their numbers; the
    order of all records is a full snapshot's (only the numbers have gaps)."""
    from crmpipe.resolution.records import snapshot_records

    config, held = case
    cfg = load_config(config)
    run(cfg)
    before = _numbers(cfg)
    shutil.move(held, config.parent / held.name)
    run(cfg)
    after = _numbers(cfg)
    kept = {k for k in before if after.get(k) == before[k]}
    new = set(after) - kept
    assert len(kept) > 1000 and new  # most records kept their number; the drop's are new
    assert min(after[k] for k in new) > max(before.values())
    assert max(after.values()) > len(after)  # gaps: the changed records' old numbers
    numbers = "SELECT contact_id, _rid FROM resolved.contact_records"
    con = connect(cfg.warehouse_path)
    try:  # a full snapshot of the same records numbers them in the same order
        con.execute("BEGIN")
        con.execute(
            "CREATE OR REPLACE TABLE core.contacts AS SELECT * EXCLUDE (_rid, _rec) "
            "FROM resolved.contact_records"
        )
        snapshot_records(con, cfg.tables()["contacts"], full=True)
        fresh = dict(con.execute(numbers).fetchall())
        con.execute("ROLLBACK")
    finally:
        con.close()
    assert sorted(after, key=after.__getitem__) == sorted(fresh, key=fresh.__getitem__)


def test_a_drop_ranked_before_the_others_numbers_every_record_again(case) -> None:
    config, held = case
    cfg = load_config(config)
    run(cfg)
    dropped = config.parent / held.name
    shutil.move(held, dropped)
    oldest = min((config.parent / "contacts_1.csv").stat().st_mtime, 1e9) - 86400
    os.utime(dropped, (oldest, oldest))  # an old export found late: ranked first
    run(cfg)
    after = _numbers(cfg)
    assert sorted(after.values()) == list(range(1, len(after) + 1))  # renumbered from 1
    assert _last_model(cfg)[0] == "incremental"
    incremental = _clusters(cfg)
    resolve(cfg, full=True)
    assert _clusters(cfg) == incremental


def test_an_incremental_run_rewrites_only_the_golden_records_that_change(case) -> None:
    """The golden rows, lineage and field provenance an incremental run updates in place equal
    what rebuilding them all from the same clusters gives."""
    from crmpipe.resolution.clusters import connected_components
    from crmpipe.resolution.features import derive_features, name_columns
    from crmpipe.resolution.ids import assign_golden_ids
    from crmpipe.resolution.prepass import prepass_edges, prepass_rules
    from crmpipe.resolution.settings import scope_columns
    from crmpipe.resolution.survivorship import build_field_sources, build_golden, build_lineage
    from crmpipe.resolution.tables import ResolvedTables

    config, held = case
    cfg = load_config(config)
    run(cfg)
    con = connect(cfg.warehouse_path)
    try:  # the last lineage, to name every cluster again from it below
        con.execute(
            "CREATE TABLE main.last_ids AS SELECT DISTINCT record_id AS contact_id, golden_id "
            "FROM core.contact_sources"
        )
    finally:
        con.close()
    shutil.move(held, config.parent / held.name)
    summary = run(cfg)
    [detail] = [s.detail for s in summary.steps if s.step == "resolve"]
    rewritten = int(detail.split(", ")[-1].split(" golden")[0].replace(",", ""))
    golden = len(_clusters(cfg))
    assert 0 < rewritten < golden / 2, detail
    tbl, spec, t = (
        cfg.tables()["contacts"],
        cfg.resolve_spec("contacts"),
        ResolvedTables("contacts"),
    )
    outs = ("core.contacts", t.sources, t.field_sources)
    con = connect(cfg.warehouse_path)
    try:
        con.execute("BEGIN")
        # every cluster named again from the last lineage: the ids kept in place are the same
        connected_components(con, t.pairs, "_c")
        assign_golden_ids(con, t.records, "contact_id", "_c", "main.last_ids", "_named")
        # the closure of the affected records (resolution/touched.py) follows the golden
        # records of more than one member by `_size`: it counts every golden id's members
        miscounted = con.execute(
            f"SELECT count(*) FROM (SELECT golden_id FROM {t.clusters} GROUP BY golden_id "
            "HAVING min(_size) <> count(*) OR max(_size) <> count(*))"
        ).fetchall()[0][0]
        renamed = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT _rid, golden_id, _size FROM {t.clusters} "
            "EXCEPT SELECT _rid, golden_id, _size FROM _named)) + (SELECT count(*) FROM "
            f"(SELECT _rid, golden_id, _size FROM _named EXCEPT SELECT _rid, golden_id, _size "
            f"FROM {t.clusters}))"
        ).fetchall()[0][0]
        # the pre-pass links kept and made again: those of every group made again
        features = derive_features(tbl, spec)
        rules = prepass_rules(features, scope_columns(tbl, features), name_columns(features))
        prepass_edges(con, rules, t.fingerprints, "_all", stored="_all_rules")
        relinked = con.execute(
            f"SELECT (SELECT count(*) FROM (FROM {t.prepass} EXCEPT ALL FROM _all_rules)) + "
            f"(SELECT count(*) FROM (FROM _all_rules EXCEPT ALL FROM {t.prepass})), "
            f"(SELECT count(*) FROM {t.prepass})"
        ).fetchall()[0]
        for i, out in enumerate(outs):
            con.execute(f"CREATE TEMP TABLE _kept{i} AS SELECT * FROM {out}")
        build_golden(con, tbl, spec, t.records, t.clusters, outs[0])
        build_lineage(con, tbl, t.records, t.clusters, t.pairs, outs[1])
        build_field_sources(con, tbl, spec, t.records, t.clusters, outs[2])
        differ = [
            con.execute(
                f"SELECT (SELECT count(*) FROM (FROM _kept{i} EXCEPT ALL FROM {out})) + "
                f"(SELECT count(*) FROM (FROM {out} EXCEPT ALL FROM _kept{i})), "
                f"(SELECT count(*) FROM {out})"
            ).fetchall()[0]
            for i, out in enumerate(outs)
        ]
        con.execute("ROLLBACK")
    finally:
        con.close()
    assert renamed == 0
    assert miscounted == 0
    assert relinked[0] == 0 and relinked[1] > 100, relinked
    assert [d for d, _ in differ] == [0, 0, 0] and all(n > 0 for _, n in differ), differ


def test_exclusion_taken_off_the_blocking_rules() -> None:
    """The incremental blocked pairs take the pre-pass exclusion off each derived rule (and
    apply it to the pairs made): what `excluding` wraps, `without_exclusion` gives back, and
    a rule not made by it is left alone (the blocked pairs then join with the exclusion)."""
    from crmpipe.resolution.settings import excluding, without_exclusion

    rule = 'l."entity_id" = r."entity_id" AND (l."a" = r."a" OR l."b" = r."b")'
    assert without_exclusion(excluding(rule, "_pg"), "_pg") == rule
    assert excluding(rule, "_pg") == f'({rule}) AND l."_pg" <> r."_pg"'
    assert without_exclusion(rule, "_pg") is None
    assert without_exclusion(excluding(rule, "_pg"), "_grp") is None


def test_a_full_resolution_with_the_kept_model_makes_the_incremental_clusters(tmp_path) -> None:
    """Above the records the built-in priors are for, the model is trained; an incremental
    resolution keeps it. Every pair scored again with that model (`resolve --full
    --keep-model`) gives the incremental run's clusters exactly: the two differ only when
    `--full` trains a new model."""
    made = pursuit.generate(tmp_path / "case", contacts=3000, seed=3, shared=None)
    config = made.config_path
    newest = config.parent / "contacts_2.csv"
    held = tmp_path / newest.name
    shutil.move(newest, held)
    cfg = load_config(config)
    run(cfg)
    shutil.move(held, newest)
    run(cfg)
    assert _last_model(cfg)[0] == "incremental"
    incremental = _clusters(cfg)
    [kept] = resolve(cfg, full=True, keep_model=True)
    assert kept.mode == "full" and kept.trained and "kept" in kept.note
    assert _clusters(cfg) == incremental
    result = CliRunner().invoke(app, ["resolve", "-c", str(config), "--keep-model"])
    assert result.exit_code != 0 and "--keep-model goes with --full" in result.output


def test_failed_training_resolves_with_the_built_in_priors(tmp_path: Path, monkeypatch) -> None:
    """Training that fails on odd data: the resolution goes on with the built-in priors,
    scoring the records it already loaded into Splink's DuckDB (streamed there from the
    warehouse, so no second copy of them is kept to start over from)."""
    from splink.internals.linker_components.training import LinkerTraining

    made = pursuit.generate(tmp_path / "case", contacts=2500, seed=4, shared=None)
    text = made.config_path.read_text()
    priors = made.config_path.parent / "priors.yml"
    priors.write_text(
        text.replace(".crmpipe/warehouse.duckdb", ".crmpipe/priors.duckdb")
        + "\nresolve:\n  contacts:\n    train: false\n"
    )
    run(load_config(priors))
    expected, trained = _clusters(load_config(priors)), _last_model(load_config(priors))[3]
    assert not trained

    def broken(self, *args, **kwargs):
        raise RuntimeError("EM diverged on odd data")

    monkeypatch.setattr(
        LinkerTraining, "estimate_parameters_using_expectation_maximisation", broken
    )
    cfg = load_config(made.config_path)
    run(cfg)
    got, trained = _clusters(cfg), _last_model(cfg)[3]
    assert not trained
    assert got == expected
    assert len([c for c in got if len(c) > 1]) > 50  # duplicates were found all the same


def test_references_to_a_table_nothing_names_read_no_lineage() -> None:
    """Nothing references contacts: no lineage is read to remap them (at 4.5M records the map
    read every lineage row), so the remap needs no lineage table at all."""
    import duckdb

    from crmpipe.model import CONTACTS, ENTITIES
    from crmpipe.resolution.references import remap_references

    con = duckdb.connect()
    try:
        assert remap_references(con, {"contacts": CONTACTS, "entities": ENTITIES}, "contacts") == 0
    finally:
        con.close()
