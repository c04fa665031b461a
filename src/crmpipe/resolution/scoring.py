"""Splink scoring: train (u by random sampling, m by EM) and predict, in a DuckDB of its own.

Splink runs on its own in-memory DuckDB connection (it creates many working tables, and the
warehouse connection is inside the run's transaction); the matching input arrives and the
predictions leave as Arrow tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crmpipe.sqltext import quote_ident

#: Below this many records the built-in priors are used: EM needs enough pairs to learn from.
MIN_TRAIN_RECORDS = 2_000
#: Random pairs sampled to estimate u, and the cap on pairs per EM training rule.
U_MAX_PAIRS = 5e5
EM_MAX_PAIRS = 2e6
SEED = 42

log = logging.getLogger(__name__)


@dataclass
class Scored:
    """Splink's predictions above the floor, the model it used, and whether it was trained."""

    predictions: pa.Table
    model: dict[str, Any]
    trained: bool
    note: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def splink_columns(columns: list[str], settings: dict[str, Any], keep: list[str]) -> list[str]:
    """The columns of `columns` Splink reads under `settings` — those its comparisons, blocking
    rules and term frequencies name (`"c_l"`, `l."c"`, `l.c`) — plus `keep` (ids, pre-pass
    group). The matching input carries more (the full email list, its first local part, for
    user blocking rules); at 1M records copying them out and into Splink cost seconds."""
    text = json.dumps(settings)
    used = []
    for c in columns:
        e = re.escape(c)
        pattern = rf'\\"{e}_[lr]\\"|\b[lr]\.(\\"{e}\\"|{e}\b)|"tf_adjustment_column": "{e}"'
        if c in keep or re.search(pattern, text):
            used.append(c)
    return used


def splink_connection() -> duckdb.DuckDBPyConnection:
    """Splink's in-memory DuckDB. What it spills goes to the system's temp folder: by default an
    in-memory DuckDB spills to `.tmp` in the working directory, the user's project folder."""
    con = duckdb.connect()
    con.execute("SET temp_directory = ?", [str(Path(tempfile.gettempdir()) / "crmpipe-splink")])
    threads = os.environ.get("CRMPIPE_THREADS")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET memory_limit = ?", [os.environ.get("CRMPIPE_SPLINK_MEMORY_LIMIT", "2GB")])
    con.execute("SET enable_progress_bar = false")
    return con


_preloading: list[threading.Thread] = []


def preload_splink() -> None:
    """Import Splink in a background thread (once), while the warehouse connection works on
    what comes before scoring (DuckDB releases the GIL while it runs a statement): importing
    it took about 0.5 s of each incremental resolution, on one core."""
    if _preloading:
        return

    def load() -> None:
        with contextlib.suppress(Exception):  # scoring imports it again, and says what failed
            __import__("splink")

    thread = threading.Thread(target=load, daemon=True)
    _preloading.append(thread)
    thread.start()


def linker_for(
    records: pa.Table | pa.RecordBatchReader, settings: dict[str, Any], *, validate: bool = True
) -> tuple[Any, Any, Any]:
    """A Splink Linker over `records` in a fresh in-memory DuckDB: (linker, connection, sdf).

    `records` is copied into that DuckDB's table `records`, in its order; a RecordBatchReader
    is read batch by batch there, never whole in Python's memory (at 4.7M contacts an Arrow
    table of every record, kept beside Splink's copy for the whole scoring, made the peak RSS
    of `resolve --full` 6.30 GB; streamed, 5.35 GB).
    `validate`: Splink checks the settings' columns and SQL and logs what it finds wrong
    (0.2 s); not for a stored model, checked when it was made."""
    from splink import DuckDBAPI, Linker

    con = splink_connection()
    con.register("_records_in", records)
    con.execute("CREATE TABLE records AS SELECT * FROM _records_in")
    con.unregister("_records_in")
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register("records")
    linker = Linker(sdf, settings, log_level=logging.WARNING, validate_settings=validate)
    return linker, con, sdf


def with_prior_m(model: dict[str, Any], priors: dict[str, Any], keep: list[str]) -> dict[str, Any]:
    """`model` with the m probabilities of comparisons `keep` put back to their priors.

    EM on a rule blocking on a comparison's own evidence (the same email) sees only pairs that
    agree on it, so what it would learn for that comparison is meaningless.
    """
    prior_levels = {c["output_column_name"]: c["comparison_levels"] for c in priors["comparisons"]}
    for comp in model["comparisons"]:
        if comp["output_column_name"] not in keep:
            continue
        for level, prior in zip(
            comp["comparison_levels"], prior_levels[comp["output_column_name"]], strict=True
        ):
            if "m_probability" in prior:
                level["m_probability"] = prior["m_probability"]
    return model


def records_of(
    con: duckdb.DuckDBPyConnection,
    ids: str,
    uid: str,
    source: str = "records",
    cols: list[str] | None = None,
) -> pa.Table:
    """The rows (`cols`, else every column) of `con`'s `source` whose `uid` is among the `_k`
    values `ids` (a SELECT) returns, read through a join built on those ids (an IN over a
    subquery was planned to build on every record)."""
    picked = ", ".join(f"r.{quote_ident(c)}" for c in cols) if cols else "r.*"
    con.register("_ids", con.sql(ids).to_arrow_table())
    try:
        return con.sql(
            f"SELECT {picked} FROM _ids i JOIN {source} r ON r.{uid} = i._k"
        ).to_arrow_table()
    finally:
        con.unregister("_ids")


def em_fit(rows: pa.Table, model: dict[str, Any], rule: str) -> dict[str, Any]:
    """`model` with m estimated by EM on the pairs `rule` makes among `rows`, by a Linker of
    its own over just them (in a DuckDB of its own)."""
    trainer, own, _ = linker_for(rows, model, validate=False)
    try:
        trainer.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=EM_MAX_PAIRS
        )
        return trainer.misc.save_model_to_json()
    finally:
        own.close()


def _em_train(
    con: duckdb.DuckDBPyConnection, model: dict[str, Any], rule: str, uid: str
) -> dict[str, Any]:
    """`model` with m estimated by EM on the pairs `rule` makes among `con`'s `records`, by a
    Linker of its own over just the records `rule` pairs with another (`em_fit`).

    EM blocks on `rule`, so it sees the same pairs as over every record, with the same
    comparison vectors (it estimates without term frequencies), and its pair sampling
    (`max_pairs`) hashes the same ids. Over every record, Splink joined the pairs with a copy
    of all of them: at 4.7M contacts, 150k pairs took 19 s of EM, spilling; and tables
    written into the scoring connection beside every record cost seconds each."""
    rows = records_of(
        con,
        f"SELECT DISTINCT l.{uid} AS _k FROM records l JOIN records r ON {rule} "
        f"WHERE l.{uid} <> r.{uid}",
        uid,
    )
    return em_fit(rows, model, rule)


def _filter_pairs(con: duckdb.DuckDBPyConnection, condition: str) -> None:
    """Keep the pairs of Splink's connection's table `_blocked` (match_key, join_key_l,
    join_key_r) whose records meet `condition` (SQL on `_l`/`_r` columns of `records`)."""
    side = "(SELECT COLUMNS(*) AS '\\0_{0}' FROM records) {0}"
    # the pairs with their records' columns first (only those `condition` reads are kept),
    # then the condition: tested inside the join it cost 3.0 CPU s at 792k pairs, 1.0 so
    con.execute(
        f"CREATE TABLE _kept AS WITH p AS MATERIALIZED (SELECT * FROM _blocked b "
        f"JOIN {side.format('l')} ON l._rid_l = b.join_key_l "
        f"JOIN {side.format('r')} ON r._rid_r = b.join_key_r) "
        f"SELECT match_key, join_key_l, join_key_r FROM p WHERE {condition}"
    )
    con.execute("DROP TABLE _blocked")
    con.execute("ALTER TABLE _kept RENAME TO _blocked")


def term_frequencies(
    con: duckdb.DuckDBPyConnection, model: dict[str, Any], source: str
) -> dict[str, pa.Table]:
    """Each term-frequency column's table over all of `source`, as Splink computes it (count
    of the value over the count of non-null values), so a subset scores like the whole."""
    columns = sorted(
        {
            level["tf_adjustment_column"]
            for comp in model.get("comparisons", [])
            for level in comp["comparison_levels"]
            if level.get("tf_adjustment_column")
        }
    )
    out = {}
    for col in columns:
        c = quote_ident(col)
        out[col] = con.sql(
            f"SELECT {c}, CAST(count(*) AS DOUBLE) / (SELECT count({c}) FROM {source}) "
            f"AS {quote_ident('tf_' + col)} FROM {source} WHERE {c} IS NOT NULL GROUP BY {c}"
        ).to_arrow_table()
    return out


def _kept_scored(con: duckdb.DuckDBPyConnection, model: dict[str, Any], floor: float) -> Scored:
    """Score the pairs of `con`'s `_blocked` with `model`, in a DuckDB of their own holding
    just the records they name and the term frequencies Splink counts over all of `con`'s
    `records` (the way an incremental resolution scores): at 4.7M contacts every record
    outgrew the scoring connection's memory, and each table Splink wrote beside them (its
    source-pruned inputs) spilled for seconds to minutes."""
    tf = term_frequencies(con, model, "records")
    ids = "SELECT join_key_l AS _k FROM _blocked UNION SELECT join_key_r FROM _blocked"
    rows = records_of(con, ids, model["unique_id_column_name"])
    pairs = con.table("_blocked").to_arrow_table()
    return score(rows, model, training_rules=[], floor=floor, train=False, tf_tables=tf,
                 blocked=pairs)  # fmt: skip


def score_beside(
    meanwhile: Callable[[], None] | None,
    records: pa.Table | pa.RecordBatchReader,
    settings: dict[str, Any],
    **kwargs: Any,
) -> Scored:
    """`score(records, settings, **kwargs)` beside `meanwhile` (`beside`)."""
    if meanwhile is None:
        return score(records, settings, **kwargs)
    work = partial(score, records, settings, **kwargs)
    del records
    return beside(meanwhile, work)


def beside(meanwhile: Callable[[], None], work: Callable[..., Scored]) -> Scored:
    """`work(loaded=…)` in another thread, `meanwhile` called once on this one while Splink
    trains and predicts: Splink works on its own DuckDB and used ~1.2 of a run's 2 cores, so
    the caller's warehouse connection (idle until the scores come back) can do work that does
    not depend on them. `meanwhile` starts once `work` calls `loaded` (its records read: a
    reader of the caller's connection is read by Splink's thread); if it fails, Splink is
    waited for before its error is raised."""
    loaded = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="splink") as pool:
        scoring = pool.submit(work, loaded=loaded.set)
        del work
        while not loaded.wait(0.05) and not scoring.done():
            pass
        try:
            if loaded.is_set():
                meanwhile()
        finally:
            futures.wait([scoring])
        if not loaded.is_set():
            scoring.result()  # failed before its records were read: that error
            meanwhile()
        return scoring.result()


def score(
    records: pa.Table | pa.RecordBatchReader,
    settings: dict[str, Any],
    *,
    training_rules: list[tuple[str, list[str]]],
    floor: float,
    train: bool = True,
    tf_tables: dict[str, pa.Table] | None = None,
    blocked: pa.Table | None = None,
    pair_filter: str | None = None,
    loaded: Callable[[], None] | None = None,
) -> Scored:
    """Score the blocked pairs of `records`; keep those with match probability >= `floor`.

    `training_rules`: (EM blocking rule, comparisons whose m stays at its prior) pairs.
    `tf_tables`: column → term-frequency table counted elsewhere (over more records than
    `records`, for incremental scoring), used instead of Splink counting over `records`.
    `blocked`: the pairs to score (match_key, join_key_l, join_key_r), instead of the pairs
    the settings' blocking rules make; an empty table scores nothing.
    `pair_filter`: SQL on a pair's `_l`/`_r` columns; only the blocked pairs it holds for are
    scored (settings.pair_guard: pairs that could never link are not worth scoring). Splink
    then scores the kept pairs from just the records they name (its source-pruned predict)
    instead of joining them with a copy of every record.
    `loaded` is called once `records` are read into Splink's DuckDB (score_beside).
    """
    from splink import Linker

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    # a stored model scoring given pairs (incremental) was validated when it was made
    validate = train or blocked is None
    linker, con, sdf = linker_for(records, settings, validate=validate)
    del records  # a reader is spent; a table is the caller's (Splink reads its own copy)
    ((count,),) = con.execute("SELECT count(*) FROM records").fetchall()
    lap("splink_load")
    if loaded is not None:
        loaded()
    trained, note = False, "built-in priors"
    try:
        if train and count >= MIN_TRAIN_RECORDS:
            try:
                # One pass over the sampled pairs per comparison: the rare levels (a swap, an
                # initial) never reach Splink's early-stopping count, so its probe and ten
                # chunks only repeated the sampling (same u values, ~25% slower).
                linker.training.estimate_u_using_random_sampling(
                    max_pairs=U_MAX_PAIRS, seed=SEED, num_chunks=1, min_count_per_level=None
                )
                lap("splink_u")
                keep: list[str] = []
                model = linker.misc.save_model_to_json()
                for rule, fixed in training_rules:
                    model = _em_train(con, model, rule, settings["unique_id_column_name"])
                    keep += fixed
                lap("splink_em")
                model = with_prior_m(model, settings, keep)
                linker = Linker(sdf, model, log_level=logging.WARNING)
                trained, note = True, "u by random sampling, m by EM"
            except Exception as exc:  # noqa: BLE001 - training can fail on odd data; say so
                note = f"training failed ({str(exc).splitlines()[0]}); built-in priors used"
                log.warning(note)
                failed, copied = con, con.table("records").to_arrow_reader()
                linker, con, sdf = linker_for(copied, settings, validate=validate)
                failed.close()
        elif train:
            note = f"built-in priors (under {MIN_TRAIN_RECORDS:,} records)"
        if tf_tables:
            from splink import DuckDBAPI

            db_api = DuckDBAPI(connection=con)
            for i, (col, tf) in enumerate(tf_tables.items()):
                con.register("_tf_in", tf)
                con.execute(f"CREATE TABLE _tf_{i} AS SELECT * FROM _tf_in")
                con.unregister("_tf_in")
                lookup = db_api.register(f"_tf_{i}")
                linker.table_management.register_term_frequency_lookup(lookup, col)
        if blocked is not None:
            con.register("_blocked_in", blocked)
            con.execute("CREATE TABLE _blocked AS SELECT * FROM _blocked_in")
            con.unregister("_blocked_in")
        elif pair_filter:  # the settings' blocking rules' pairs, by Splink, filtered below
            made = linker.inference.compute_blocked_pairs_for_predict()
            con.execute(f"CREATE TABLE _blocked AS SELECT * FROM {made.physical_name}")
            made.drop_table_from_database_and_remove_from_cache()
        if pair_filter:
            _filter_pairs(con, pair_filter)
        if blocked is None and pair_filter:  # the kept pairs scored apart (_kept_scored)
            rest = _kept_scored(con, linker.misc.save_model_to_json(), floor)
            timings.update({k: v for k, v in rest.timings.items() if k != "splink_load"})
            lap("splink_predict")
            return Scored(rest.predictions, rest.model, trained, note, timings)
        if blocked is not None or pair_filter:
            from splink import DuckDBAPI

            pairs = DuckDBAPI(connection=con).register("_blocked")
            linker.table_management.register_blocked_pairs_for_predict(pairs)
        preds = linker.inference.predict(threshold_match_probability=floor)
        lap("splink_predict")
        table = con.sql(f"SELECT * FROM {preds.physical_name}").to_arrow_table()
        model = linker.misc.save_model_to_json()
    finally:
        con.close()
    return Scored(table, model, trained, note, timings)
