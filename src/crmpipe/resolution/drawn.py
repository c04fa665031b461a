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
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from crmpipe.resolution.scoring import (
    MIN_TRAIN_RECORDS,
    SEED,
    U_MAX_PAIRS,
    Scored,
    em_fit,
    linker_for,
    records_of,
    score,
    splink_columns,
    term_frequencies,
    with_prior_m,
)

log = logging.getLogger(__name__)


@dataclass
class Drawn:
    """What Splink works on, read from the warehouse: the u sample, each training rule's
    records, the kept pairs (match_key, join_key_l, join_key_r), their records and the
    term-frequency tables."""

    sample: pa.Table | None
    em: list[tuple[str, list[str], pa.Table]]
    pairs: pa.Table
    rows: pa.Table
    tf: dict[str, pa.Table]
    timings: dict[str, float] = field(default_factory=dict)


def _shape(con: duckdb.DuckDBPyConnection, source: str, cols: list[str], settings: dict) -> Any:
    """A Linker over no records of `source`'s `cols` (the SQL it would write, not its data)."""
    empty = con.sql(f"SELECT {cols_sql(cols)} FROM {source} LIMIT 0").to_arrow_table()
    linker, own, _ = linker_for(empty, settings, validate=False)
    own.close()
    return linker


def cols_sql(cols: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


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


def draw(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cols: list[str],
    settings: dict[str, Any],
    *,
    training_rules: list[tuple[str, list[str]]],
    train: bool,
    pair_filter: str,
) -> Drawn | None:
    """Splink's inputs from `source` (every record; `cols`: what Splink reads), or None where
    Splink's blocking cannot be written as one statement here (score every record as before)."""
    clock = time.perf_counter()
    timings: dict[str, float] = {}
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
    timings["splink_load"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # the blocking reads only the columns its rules name
    narrow = splink_columns(cols, {"rules": settings["blocking_rules_to_generate_predictions"]},
                            [uid])  # fmt: skip
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _blocked AS WITH __splink__df_concat AS "
        f"(SELECT {cols_sql(narrow)} FROM {source}) {blocked}"
    )
    guard = splink_columns(cols, {"guard": pair_filter}, [uid])
    side = f"(SELECT COLUMNS(*) AS '\\0_{{0}}' FROM (SELECT {cols_sql(guard)} FROM {source})) {{0}}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _kept AS WITH p AS MATERIALIZED (SELECT * FROM _blocked b "
        f"JOIN {side.format('l')} ON l.{uid}_l = b.join_key_l "
        f"JOIN {side.format('r')} ON r.{uid}_r = b.join_key_r) "
        f"SELECT match_key, join_key_l, join_key_r FROM p WHERE {pair_filter}"
    )
    con.execute("DROP TABLE _blocked")
    try:
        pairs = con.table("_kept").to_arrow_table()
        ids = "SELECT join_key_l AS _k FROM _kept UNION SELECT join_key_r FROM _kept"
        rows = records_of(con, ids, uid, source, cols)
    finally:
        con.execute("DROP TABLE _kept")
    tf = term_frequencies(con, settings, source)
    timings["splink_block"] = time.perf_counter() - clock
    return Drawn(sample, em, pairs, rows, tf, timings)


def score_drawn(
    drawn: Drawn,
    settings: dict[str, Any],
    *,
    floor: float,
    train: bool,
    loaded: Callable[[], None] | None = None,
) -> Scored:
    """Train (u on the drawn sample, m by EM on each rule's records) and score the drawn pairs:
    what `scoring.score` does over every record, on what was drawn (module docstring).
    `loaded` is called at once: nothing here reads the warehouse connection."""
    if loaded is not None:
        loaded()
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    timings = dict(drawn.timings)
    clock = time.perf_counter()
    model, trained, note = settings, False, "built-in priors"
    if train and drawn.sample is None:
        note = f"built-in priors (under {MIN_TRAIN_RECORDS:,} records)"
    elif train:
        assert drawn.sample is not None
        try:
            n = drawn.sample.num_rows
            linker, own, _ = linker_for(drawn.sample, settings, validate=True)
            try:  # the whole drawn sample: max_pairs at least its n(n-1)/2 pairs
                linker.training.estimate_u_using_random_sampling(
                    max_pairs=float(max(n * n, 1)), seed=SEED, num_chunks=1,
                    min_count_per_level=None,
                )  # fmt: skip
                model = linker.misc.save_model_to_json()
            finally:
                own.close()
            timings["splink_u"] = time.perf_counter() - clock
            clock = time.perf_counter()
            keep: list[str] = []
            for rule, fixed, rows in drawn.em:
                model = em_fit(rows, model, rule)
                keep += fixed
            model = with_prior_m(model, settings, keep)
            timings["splink_em"] = time.perf_counter() - clock
            trained, note = True, "u by random sampling, m by EM"
        except Exception as exc:  # noqa: BLE001 - training can fail on odd data; say so
            note = f"training failed ({str(exc).splitlines()[0]}); built-in priors used"
            log.warning(note)
            model = settings
        clock = time.perf_counter()
    out = score(drawn.rows, model, training_rules=[], floor=floor, train=False,
                tf_tables=drawn.tf, blocked=drawn.pairs)  # fmt: skip
    timings.update({k: v for k, v in out.timings.items() if k != "splink_load"})
    timings["splink_predict"] = time.perf_counter() - clock
    return Scored(out.predictions, out.model, trained, note, timings)
