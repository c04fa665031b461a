"""Entity resolution of a canonical table: records → pre-pass + Splink → clusters → golden rows.

`resolve_table` runs on a warehouse connection inside the pipeline's transaction: it snapshots
`core.<table>` (one row per key) into `resolved.<x>_records`, links obvious pairs in SQL,
has Splink score the rest, clusters at the threshold, names clusters with stable golden ids and
rewrites `core.<table>` with one golden row per cluster plus `core.<x>_sources` (lineage).
`resolve` (the `crmpipe resolve` command) re-runs it alone from the stored records.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb

from crmpipe.config.schema import Config, ResolveSpec
from crmpipe.errors import CrmpipeError
from crmpipe.model import Table
from crmpipe.resolution.clusters import connected_components
from crmpipe.resolution.companies import (
    across_edges,
    company_features,
    company_prepass,
    empty_predictions,
    is_company_table,
)
from crmpipe.resolution.drawn import scores
from crmpipe.resolution.evaluate import Evaluation, evaluate_truth, truth_tables
from crmpipe.resolution.facilities import (
    facility_prepass,
    facility_prior,
    facility_settings,
    facility_training_rules,
    feature_select,
    is_facility_table,
    splink_guard,
)
from crmpipe.resolution.features import derive_features, feature_columns, feature_source
from crmpipe.resolution.ids import assign_golden_ids
from crmpipe.resolution.incremental import (
    MAX_CHANGED_SHARE,
    changed_records,
    prior_allows,
    score_changes,
    spec_hash,
    stored_state,
    with_run_settings,
)
from crmpipe.resolution.prepared import drop_relation, prepare, save_prepared
from crmpipe.resolution.prepass import email_pairs, prepass_edges, prepass_rules
from crmpipe.resolution.records import ensure_resolved
from crmpipe.resolution.references import remap_references
from crmpipe.resolution.scoring import preload_splink, score_beside, splink_columns
from crmpipe.resolution.settings import (
    name_columns,
    names_guard,
    pair_guard,
    scope_columns,
    splink_settings,
    training_rules,
)
from crmpipe.resolution.splitting import split_clusters
from crmpipe.resolution.survivorship import (
    build_field_sources,
    build_golden,
    build_lineage,
    prefer_mixed_case,
)
from crmpipe.resolution.tables import RESOLVE_TEMPS, ResolvedTables
from crmpipe.resolution.touched import assign_in_place, keep_previous
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

#: Splink predictions at or above this probability are stored (for explain and re-thresholding).
STORE_FLOOR = 0.5
#: Share of true duplicate pairs the pre-pass is assumed to find (for the match prior).
PREPASS_RECALL = 0.6


class ResolveError(CrmpipeError):
    """Resolution cannot run (e.g. no records yet); one line."""


@dataclass
class ResolveResult:
    """What one table's resolution did."""

    table: str
    records: int = 0
    golden: int = 0
    prepass_pairs: int = 0
    splink_pairs: int = 0
    linked_pairs: int = 0
    split_clusters: int = 0  # clusters split at weak links or the size cap
    mode: str = "full"  # or "incremental": only new or changed records scored
    changed: int = 0  # records new or changed since the last resolution (incremental)
    prepared: int = 0  # records whose features were prepared (the others' were kept)
    scored_records: int = 0  # records given to Splink in an incremental resolution
    touched: int | None = None  # golden ids whose rows were written again (None: all)
    touched_keys: str | None = None  # a temp table (golden_id) of those, the caller drops
    trained: bool = False
    note: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    provenance: Callable[[], object] | None = None  # core.<x>_field_sources, still to build

    @property
    def merged(self) -> int:
        """Records folded into another one's golden record."""
        return self.records - self.golden


def resolve_table(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    spec: ResolveSpec,
    run_id: int | None = None,
    *,
    full: bool = False,
    keep_model: bool = False,
    meanwhile: Callable[[], None] | None = None,
    provenance_later: bool = False,
) -> ResolveResult:
    """Resolve `tbl` from resolved.<x>_records; rewrite core.<table> and its lineage.

    Incremental when the last resolution can be built on (resolution/incremental.py) unless
    `full`: then every pair is scored and the model retrained — or, with `keep_model`, scored
    with the last resolution's trained model when these settings made it (no training: the
    clusters are then those the incremental resolutions since that model built).

    `meanwhile`: the caller's other work on `con` (nothing the resolution reads or writes),
    done once before core is written: while Splink trains and predicts, if it does. With
    `provenance_later`, a full resolution leaves its field-level provenance to the caller
    (`res.provenance`), e.g. for the next table's `meanwhile`."""
    if len(tbl.key) != 1:
        raise ResolveError(f"{tbl.name}: resolution needs a one-column key")
    t = ResolvedTables(tbl.name)
    ensure_resolved(con)
    if not table_exists(con, "resolved", t.records.split(".")[1]):
        raise ResolveError(f"{tbl.name}: no records to resolve; run 'crmpipe run' first")
    if not is_company_table(tbl, spec):  # Splink scores: imported while the SQL below runs
        preload_splink()
    t0 = time.perf_counter()
    res = ResolveResult(tbl.name)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        res.timings[name] = now - clock
        clock = now

    key = tbl.key[0]
    company = is_company_table(tbl, spec)
    facility = is_facility_table(tbl, spec) and not company
    features = derive_features(tbl, spec)
    res.records = con.execute(f"SELECT count(*) FROM {t.records}").fetchone()[0]
    if company:
        company_features(con, t.records, key, "_rin")
    elif facility:
        raw = "_phone_raw" in con.table(t.records).columns
        select = feature_select(t.records, key, raw_phone=raw)
    generic = not (company or facility)
    digest = spec_hash(spec, features)
    prepared = None
    if generic:  # features prepared for new or changed records only (resolution/prepared.py)
        cols = feature_columns(tbl, features)
        source_of = partial(feature_source, tbl, features)
        scope, names = scope_columns(tbl, features), name_columns(features)
        rules = prepass_rules(features, scope, names)
        # the gone records' key (resolution/touched.py) and the columns the pre-pass groups by
        grouped = list(dict.fromkeys([key, *sorted({c for r in rules for c in r.columns})]))
        prepared = prepare(
            con, t, tbl.name, key, cols, source_of, digest, reuse=not full, gone_columns=grouped
        )
        res.prepared = prepared.count
    elif facility:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _rin AS {select}")
    # in place (resolution/prepared.py): the stored features are the matching input
    features_in_place = prepared is not None and prepared.in_place
    lap("features")

    # 1. the exact pre-pass, and its groups (kept out of Splink's blocks)
    if company:
        res.prepass_pairs = company_prepass(con, "_rin", "_prepass")
    elif facility:
        res.prepass_pairs = facility_prepass(con, "_rin", "_prepass")
    else:
        kept = None if spec.crm_merge else t.prepass  # (across companies: always in full)
        delta = None
        if kept and features_in_place and table_exists(con, "resolved", kept.split(".")[1]):
            delta = (
                "(SELECT * FROM _rin WHERE _rid IN (SELECT _rid FROM _stale) "
                "UNION ALL BY NAME SELECT * FROM _gone)"
            )
        res.prepass_pairs = prepass_edges(con, rules, "_rin", "_prepass", stored=kept, delta=delta)
        if spec.crm_merge:  # a job changer: linked across companies by e-mail or phone
            res.prepass_pairs += across_edges(con, features, names, "_rin", "_prepass")
    connected_components(con, "_prepass", "_pg")
    # in place, the matching input stays a view of the stored features: copying every record's
    # features with its pre-pass group took 10 s at 4.5M, more than the few reads of it cost;
    # so it does when they were just prepared anew (a full resolution: Splink reads that view
    # in no particular order, below)
    fresh = prepared is not None and prepared.saved
    kind = "VIEW" if features_in_place or fresh else "TABLE"
    drop_relation(con, "_rin2")
    # a table is written in record order, so Splink's input is read from it in that order
    # without a sort (below) while Splink's connection fills: a sort there at the same time made
    # a 6.5 GB peak at 4.7M contacts
    con.execute(
        f"CREATE TEMP {kind} _rin2 AS SELECT i.*, coalesce(g._cluster, i._rid) AS _pg "
        "FROM _rin i LEFT JOIN _pg g USING (_rid)" + (" ORDER BY _rid" if kind == "TABLE" else "")
    )
    if kind == "TABLE":
        drop_relation(con, "_rin")
    lap("prepass")
    stored = None
    if generic:
        # features prepared anew for every record: nothing to compare with, resolve in full
        fresh = prepared is not None and prepared.saved
        stored = None if full or fresh else stored_state(con, t, tbl.name, digest)
        if stored is not None:
            res.changed, total = changed_records(con, t, in_place=features_in_place)
            stored = stored if res.changed <= MAX_CHANGED_SHARE * total else None

    # 2. Splink on the rest
    model: dict = {"rules": "company pre-pass (resolution/companies.py)"}
    if company:  # the pre-pass rules are the whole decision
        empty_predictions(con, key, t.predictions)
    else:
        n = max(res.records, 2)
        prior = res.prepass_pairs / PREPASS_RECALL / (n * (n - 1) / 2) if res.prepass_pairs else 0
        prior = min(max(prior, 1e-8), 0.01)
        if facility:
            prior = facility_prior(res.prepass_pairs, res.records, PREPASS_RECALL)
            settings = facility_settings(key, spec, prior=prior)
            rules = facility_training_rules()
        else:
            settings = splink_settings(tbl, features, spec, prior=prior)
            rules = (
                []
                if stored
                else training_rules(tbl, features, email_pairs=email_pairs(con, features))
            )
    floor = min(STORE_FLOOR, spec.threshold)
    if stored is not None and not prior_allows(stored["model"], prior, spec.threshold, floor):
        stored = None  # the prior rose too far for the stored predictions: resolve in full
    if stored is not None:  # only the pairs touching a new or changed record
        counted = "_rin" if features_in_place else "_rin2"
        model, res.scored_records = score_changes(
            con, t, key, stored, settings, floor=floor, counted=counted, in_place=features_in_place,
            pair_filter=pair_guard(features, settings["comparisons"]),
        )  # fmt: skip
        res.mode, res.trained = "incremental", stored["trained"]
        res.note = f"incremental: {res.changed:,} new or changed records scored"
        lap("splink")
    elif not company:
        kept = stored_state(con, t, tbl.name, digest) if keep_model and generic else None
        train = spec.train
        if kept is not None and kept["trained"]:  # the stored model, this run's prior and rules
            settings = with_run_settings(kept["model"], settings)
            rules, train = [], False
        else:
            kept = None
        cols = con.table("_rin2").columns
        if generic:  # only what Splink reads
            cols = splink_columns(cols, settings, ["_rid", key, "_pg"])
        # streamed into Splink's DuckDB batch by batch (scoring.linker_for); in record order
        # when updated in place. Splink's sampling and pairs follow the ids, not the order: a
        # full resolution's view is read as it comes, without the sort (1 CPU s at 1M records)
        order = " ORDER BY _rid" if features_in_place else ""
        guard = pair_guard(features, settings["comparisons"]) if generic else None
        floor = min(STORE_FLOOR, spec.threshold)
        scored = None
        if guard:  # Splink's inputs drawn here, not every record copied into its DuckDB
            kw = {"training_rules": rules, "train": train, "floor": floor, "meanwhile": meanwhile}
            scored = scores(con, "_rin2", cols, settings, pair_filter=guard, **kw)
        if scored is None:
            rows = con.sql(f"SELECT {', '.join(map(quote_ident, cols))} FROM _rin2{order}")
            lap("export")
            kw = {"training_rules": rules, "floor": floor, "train": train, "pair_filter": guard}
            scored = score_beside(meanwhile, rows.to_arrow_reader(), settings, **kw)
        meanwhile = None
        res.trained, res.note = scored.trained, scored.note
        if kept is not None:  # still a trained model, for the next incremental resolution
            res.trained, res.note = True, "the stored model, kept (--keep-model)"
        elif keep_model:
            res.note += "; no stored trained model for these settings to keep"
        lap("splink")
        res.timings.update(scored.timings)
        con.register("_scored", scored.predictions)
        con.execute(f"CREATE OR REPLACE TABLE {t.predictions} AS SELECT * FROM _scored")
        con.unregister("_scored")
        del scored.predictions
        model = scored.model
    if meanwhile is not None:
        meanwhile()
    # a Splink link stands only where the guard lets it: facilities' addresses and names,
    # contacts' names that differ outright without a shared address (settings.names_guard)
    linked = f"match_probability >= {float(spec.threshold)}"
    guard = splink_guard() if facility else None
    if not (facility or company):
        guard = names_guard(features, settings["comparisons"])
    linked += f" AND {guard}" if guard else ""
    res.splink_pairs = con.execute(
        f"SELECT count(*) FROM {t.predictions} WHERE {linked}"
    ).fetchone()[0]

    # 3. linked pairs: the pre-pass's and Splink's at the threshold
    k = quote_ident(key)
    # the pre-pass links' keys: in place, read from the stored features (`_rin2`, a view of
    # them joined with every record's pre-pass group, would make that join twice)
    keyed = "_rin" if features_in_place or fresh else "_rin2"
    golden = f"core.{quote_ident(tbl.name)}"
    # incremental: only the golden records that change are written again (resolution/touched.py)
    rewrite_touched = stored is not None and keep_previous(con, t, golden)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {t.pairs} AS
        SELECT p._rid_l, p._rid_r, a.{k} AS {quote_ident(key + "_l")},
          b.{k} AS {quote_ident(key + "_r")}, 1.0::DOUBLE AS match_probability,
          NULL::DOUBLE AS match_weight, p.rule
        FROM _prepass p JOIN {keyed} a ON a._rid = p._rid_l JOIN {keyed} b ON b._rid = p._rid_r
        UNION ALL
        SELECT _rid_l, _rid_r, {quote_ident(key + "_l")}, {quote_ident(key + "_r")},
          match_probability, match_weight, 'splink' AS rule
        FROM {t.predictions} WHERE {linked}
        """
    )
    res.linked_pairs = con.execute(f"SELECT count(*) FROM {t.pairs}").fetchone()[0]
    lap("pairs")

    # 4. clusters, stable ids, golden records, lineage
    connected_components(con, t.pairs, "_components")
    res.split_clusters = split_clusters(
        con,
        t.pairs,
        "_components",
        t.splits,
        key,
        below=spec.split_below,
        max_size=spec.max_cluster_size,
    )
    only, records, clusters = None, t.records, t.clusters
    if rewrite_touched:  # only the affected records named again (resolution/touched.py)
        staging = f"staging.{quote_ident(tbl.name)}"
        delta = {"new": "_stale", "gone": "_gone", "gone_key": True} if features_in_place else {}
        res.touched = assign_in_place(con, t, key, "_components", staging, run_id, **delta)
        res.touched_keys = "_touched"  # left to the caller (pipeline.py: the index step)
        # the touched golden records' members (`_tclusters`), read once for the three
        # rewrites below
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _trecords AS SELECT * FROM {t.records} "
            "WHERE _rid IN (SELECT _rid FROM _tclusters)"
        )
        only, records, clusters = "_touched", "_trecords", "_tclusters"
    else:
        previous = t.sources if table_exists(con, "core", t.sources.split(".")[1]) else None
        if previous:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _previous AS SELECT DISTINCT record_id AS {k}, "
                f"golden_id FROM {t.sources}"
            )
            previous = "_previous"
        assign_golden_ids(con, t.records, k, "_components", previous, t.clusters)
    lap("clusters")
    res.golden = build_golden(con, tbl, spec, records, clusters, golden, only=only)
    build_lineage(con, tbl, records, clusters, t.pairs, t.sources, self_names=facility, only=only)
    provenance = partial(build_field_sources, con, tbl, spec, records, clusters, t.field_sources)
    if provenance_later and only is None:  # its inputs are the resolution's stored tables
        res.provenance = provenance
    else:
        provenance(only=only)
    if company and "display_name" in {c.name for c in tbl.all_columns}:
        prefer_mixed_case(con, tbl, t.records, t.clusters, golden, "display_name")
    lap("golden")
    if prepared is not None:
        save_prepared(con, t, "_rin2", prepared)
        lap("save_prepared")
    for tmp in RESOLVE_TEMPS:
        if tmp != res.touched_keys:
            drop_relation(con, tmp)
    con.execute(f"DROP TABLE IF EXISTS {t.changes}")  # read (resolution/prepared.py)
    res.seconds = time.perf_counter() - t0
    con.execute(
        "INSERT INTO meta.resolve_models (run_id, table_name, created_at, records, trained, "
        "threshold, settings_json, timings_json, spec_hash, mode, changed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            tbl.name,
            datetime.now(UTC).replace(tzinfo=None),
            res.records,
            res.trained,
            spec.threshold,
            json.dumps(model, default=str),
            json.dumps(res.timings),
            digest,
            res.mode,
            res.changed,
        ],
    )
    return res


def _resolved_names(cfg: Config, tables: list[str] | None) -> list[str]:
    names = tables or cfg.resolved_tables()
    if not names:
        raise ResolveError(
            "resolution is off for every table with a source "
            "(set resolve: {contacts: {enabled: true}} in the project file)"
        )
    return names


def evaluate(cfg: Config, truth: Path, *, tables: list[str] | None = None) -> list[Evaluation]:
    """`crmpipe resolve --evaluate`: score the stored resolution against a truth file.

    Reads the warehouse only: what is scored is what `crmpipe run` (or `crmpipe resolve`)
    built and serves, not a new resolution made for the occasion.
    """
    from crmpipe.warehouse.connection import connect

    names = truth_tables(truth, _resolved_names(cfg, tables))
    all_tables = cfg.tables()
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        evaluations = []
        for name in names:
            schema, sources = ResolvedTables(name).sources.split(".")
            if not table_exists(con, schema, sources.strip('"')):
                raise ResolveError(
                    f"{name} has not been resolved yet: run 'crmpipe run' (or 'crmpipe resolve') "
                    "first, then evaluate"
                )
            evaluations.append(evaluate_truth(con, all_tables[name], truth))
        return evaluations
    finally:
        con.close()


def resolve(
    cfg: Config, *, tables: list[str] | None = None, full: bool = False, keep_model: bool = False
) -> list[ResolveResult]:
    """`crmpipe resolve`: re-run resolution alone on the stored records and bring every search
    table up to date, in one transaction (`full`: score every pair and retrain, instead of
    building on the last resolution; with `keep_model`, score every pair with the stored
    trained model instead of retraining). Returns one result per resolved table.

    The search tables are updated as a run's index step updates them: in place where few rows
    changed (search.refresh: a re-resolution mostly keeps golden ids), else rebuilt; and all of
    them, since golden facilities feed facility_search and contact_search's entity columns
    alike (only contact_search was rebuilt, in full, before: 25 s of a 68 s `resolve --full`
    at 4.5M contacts, and a facility search left stale)."""
    from crmpipe.build.core import build_searches
    from crmpipe.warehouse.connection import connect

    con = connect(cfg.warehouse_path)
    results: list[ResolveResult] = []
    try:
        names = _resolved_names(cfg, tables)
        all_tables = cfg.tables()
        con.execute("BEGIN TRANSACTION")
        for name in names:
            spec = cfg.resolve_spec(name)
            res = resolve_table(con, all_tables[name], spec, full=full, keep_model=keep_model)
            results.append(res)
            update_counts(con, name, res)
            remap_references(con, all_tables, name)
        build_searches(con, cfg, full=False)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return results


def update_counts(con: duckdb.DuckDBPyConnection, name: str, res: ResolveResult) -> None:
    """Fold resolution into the latest reconciliation row: fewer loaded, more merged."""
    con.execute(
        "UPDATE meta.table_counts SET loaded = ?, merged = staged - ? - quarantined "
        "WHERE table_name = ? AND run_id = (SELECT max(run_id) FROM meta.table_counts "
        "WHERE table_name = ?)",
        [res.golden, res.golden, name, name],
    )
