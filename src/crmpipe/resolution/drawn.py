"""A full resolution's Splink inputs drawn in the warehouse connection.

Splink used to receive every record (4.7M at 4.5M contacts) in a DuckDB of its own, capped at
2 GB: loading them, its u sample, its blocking (five hash joins over every record) and the
names guard's filter all ran there, spilling. Every one of them is a query on the stored,
compressed features, so they run here instead, and Splink sees only what it works on:

- **u**: the records Splink's random sampling would draw. Which records it draws is a pure
  function of each record's id and the seed (`proportion_sample_sql`: a hash bucket of the id
  below the proportion `_rows_needed_for_n_pairs(max_pairs) / records`), so the same filter on
  the warehouse's records draws the same sample; Splink then takes that whole sample (its
  `max_pairs` set so the proportion is 1) and compares every pair of it, as before.
- **EM**: the records each training rule pairs with another (scoring._em_train).
- **predict**: the pairs Splink's own blocking SQL (`block_using_rules_sqls`) makes, kept where
  the names guard can hold (`pair_filter`), their records, and the term frequencies counted
  over every record as Splink counts them (scoring.term_frequencies).

The same sample, training pairs and blocked pairs, so the same model and the same predictions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import duckdb
import pyarrow as pa

from crmpipe.resolution.scoring import (
    MIN_TRAIN_RECORDS,
    SEED,
    U_MAX_PAIRS,
    Scored,
    beside,
    em_fit,
    linker_for,
    records_of,
    score,
    splink_columns,
    term_frequencies,
    with_prior_m,
)
from crmpipe.sqltext import quote_ident

log = logging.getLogger(__name__)


def _shape(con: duckdb.DuckDBPyConnection, source: str, cols: list[str], settings: dict) -> Any:
    """A Linker over no records of `source`'s `cols` (the SQL it would write, not its data)."""
    empty = con.sql(f"SELECT {cols_sql(cols)} FROM {source} LIMIT 0").to_arrow_table()
    linker, own, _ = linker_for(empty, settings, validate=False)
    own.close()
    return linker


def cols_sql(cols: list[str]) -> str:
    """`cols` as a SELECT list (each name quoted and escaped)."""
    return ", ".join(map(quote_ident, cols))


def blocking_sql(linker: Any) -> str | None:
    """Splink's own SQL for the predict blocking rules' pairs over a table (or CTE) named
    `__splink__df_concat`; None where it needs more than one statement (exploding rules)."""
    from splink.internals.blocking import ExplodingBlockingRule, block_using_rules_sqls

    s = linker._settings_obj
    rules = s._blocking_rules_to_generate_predictions
    if not rules or any(isinstance(r, ExplodingBlockingRule) for r in rules):
        return None
    info = s.column_info_settings
    sqls = block_using_rules_sqls(
        input_tablename_l="__splink__df_concat",
        input_tablename_r="__splink__df_concat",
        blocking_rules=rules,
        link_type=s._link_type,
        source_dataset_input_column=info.source_dataset_input_column,
        unique_id_input_column=info.unique_id_input_column,
    )
    return sqls[0]["sql"] if len(sqls) == 1 else None


def sample_filter(linker: Any, records: int) -> str:
    """The condition (` AND …`, or empty) by which Splink's `estimate_u_using_random_sampling`
    (max_pairs U_MAX_PAIRS, seed SEED) draws its sample of `records` records."""
    from splink.internals.estimate_u import _rows_needed_for_n_pairs

    proportion = min(_rows_needed_for_n_pairs(U_MAX_PAIRS) / records, 1.0)
    uids = linker._settings_obj.column_info_settings.unique_id_input_columns
    return linker._proportion_sample_sql(proportion, uids, seed=SEED)


def scores(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cols: list[str],
    settings: dict[str, Any],
    *,
    training_rules: list[tuple[str, list[str]]],
    train: bool,
    pair_filter: str,
    floor: float,
    meanwhile: Callable[[], None] | None = None,
) -> Scored | None:
    """Splink's predictions (>= `floor`) for every record of `source` (`cols`: what Splink
    reads), trained on what is drawn here (module docstring) — or None where Splink's blocking
    cannot be written as one statement here (the caller scores every record as before).

    The training records are drawn first; Splink trains on them in another thread while this
    connection blocks every record and keeps the pairs `pair_filter` holds for; then the kept
    pairs are scored there, `meanwhile` (the caller's other work on `con`) called beside."""
    clock = time.perf_counter()
    linker = _shape(con, source, cols, settings)
    blocked = blocking_sql(linker)
    if blocked is None:
        return None
    uid = settings["unique_id_column_name"]
    ((count,),) = con.execute(f"SELECT count(*) FROM {source}").fetchall()
    sample, em = None, []
    if train and count >= MIN_TRAIN_RECORDS:
        sample = con.sql(
            f"SELECT {cols_sql(cols)} FROM {source} WHERE 1=1 {sample_filter(linker, count)}"
        ).to_arrow_table()
        for rule, fixed in training_rules:
            ids = (
                f"SELECT DISTINCT l.{uid} AS _k FROM {source} l JOIN {source} r ON {rule} "
                f"WHERE l.{uid} <> r.{uid}"
            )
            em.append((rule, fixed, records_of(con, ids, uid, source, cols)))
    timings = {"splink_load": time.perf_counter() - clock}
    with ThreadPoolExecutor(1, thread_name_prefix="splink-train") as pool:
        training = pool.submit(_train, sample, em, settings, train)
        del sample, em
        clock = time.perf_counter()
        pairs, rows = _kept_pairs(con, source, cols, uid, blocked, settings, pair_filter)
        tf = term_frequencies(con, settings, source)
        timings["splink_block"] = time.perf_counter() - clock
        work = partial(_score_kept, training, rows, pairs, tf, floor, timings)
        del rows, pairs, tf
        return beside(meanwhile, work) if meanwhile else work()


def _kept_pairs(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cols: list[str],
    uid: str,
    blocked: str,
    settings: dict[str, Any],
    pair_filter: str,
) -> tuple[pa.Table, pa.Table]:
    """(the pairs Splink's blocking SQL makes over `source` that `pair_filter` holds for, their
    records): the blocking reads only the columns its rules name, the filter only those it
    reads, joined with the pairs before it is tested (scoring._filter_pairs)."""
    rules = {"rules": settings["blocking_rules_to_generate_predictions"]}
    narrow = splink_columns(cols, rules, [uid])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _blocked AS WITH __splink__df_concat AS "
        f"(SELECT {cols_sql(narrow)} FROM {source}) {blocked}"
    )
    guard = splink_columns(cols, {"guard": pair_filter}, [uid])
    side = f"(SELECT COLUMNS(*) AS '\\0_{{0}}' FROM (SELECT {cols_sql(guard)} FROM {source})) {{0}}"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _kept AS WITH p AS MATERIALIZED (SELECT * FROM "
            f"_blocked b JOIN {side.format('l')} ON l.{uid}_l = b.join_key_l "
            f"JOIN {side.format('r')} ON r.{uid}_r = b.join_key_r) "
            f"SELECT match_key, join_key_l, join_key_r FROM p WHERE {pair_filter}"
        )
    finally:
        con.execute("DROP TABLE _blocked")
    try:
        pairs = con.table("_kept").to_arrow_table()
        ids = "SELECT join_key_l AS _k FROM _kept UNION SELECT join_key_r FROM _kept"
        return pairs, records_of(con, ids, uid, source, cols)
    finally:
        con.execute("DROP TABLE _kept")


def _train(
    sample: pa.Table | None,
    em: list[tuple[str, list[str], pa.Table]],
    settings: dict[str, Any],
    train: bool,
) -> tuple[dict[str, Any], bool, str, dict[str, float]]:
    """(model, trained, note, timings): u on the drawn sample — all of it, as Splink compares
    every pair of the sample it draws —, then m by EM on each training rule's records."""
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not train:
        return settings, False, "built-in priors", {}
    if sample is None:
        return settings, False, f"built-in priors (under {MIN_TRAIN_RECORDS:,} records)", {}
    clock, timings = time.perf_counter(), {}
    try:
        n = sample.num_rows
        linker, own, _ = linker_for(sample, settings, validate=True)
        try:  # max_pairs at least the sample's n(n-1)/2 pairs: Splink's proportion is then 1
            linker.training.estimate_u_using_random_sampling(
                max_pairs=float(max(n * n, 1)), seed=SEED, num_chunks=1, min_count_per_level=None
            )
            model = linker.misc.save_model_to_json()
        finally:
            own.close()
        timings["splink_u"] = time.perf_counter() - clock
        clock = time.perf_counter()
        keep: list[str] = []
        for rule, fixed, rows in em:
            model = em_fit(rows, model, rule)
            keep += fixed
        timings["splink_em"] = time.perf_counter() - clock
        return with_prior_m(model, settings, keep), True, "u by random sampling, m by EM", timings
    except Exception as exc:  # noqa: BLE001 - training can fail on odd data; say so
        note = f"training failed ({str(exc).splitlines()[0]}); built-in priors used"
        log.warning(note)
        return settings, False, note, timings


def _score_kept(
    training: Future,
    rows: pa.Table,
    pairs: pa.Table,
    tf: dict[str, pa.Table],
    floor: float,
    timings: dict[str, float],
    loaded: Callable[[], None] | None = None,
) -> Scored:
    """The kept pairs scored with the trained model once training is done (`loaded`: called
    at once, nothing here reads the warehouse connection)."""
    if loaded is not None:
        loaded()
    clock = time.perf_counter()
    model, trained, note, trained_in = training.result()
    timings = {**timings, **trained_in, "splink_wait": time.perf_counter() - clock}
    clock = time.perf_counter()
    out = score(rows, model, training_rules=[], floor=floor, train=False, tf_tables=tf,
                blocked=pairs)  # fmt: skip
    timings["splink_predict"] = time.perf_counter() - clock
    return Scored(out.predictions, out.model, trained, note, timings)
