"""Incremental resolution: when a run brings a few new or changed records, only they are scored.

A full resolution trains a model and scores every blocked pair. When the last resolution of a
table left its model and its records' fingerprints (a hash of each raw record, with its prepared
features: resolution/prepared.py),
and the project's resolution settings have not changed, the next one instead:

1. finds the records that are new or whose matching input changed (`_changed`);
2. has Splink score, with the stored model and term frequencies counted over *all* records,
   the pairs a blocking rule makes with a changed record, and again the stored predictions
   between unchanged records (the prior and the term frequencies move a little as records
   arrive; scoring them again keeps every probability what a full resolution would give).
   Splink gets only those records and those pairs (`register_blocked_pairs_for_predict`);
4. re-runs the exact pre-pass, clustering, ids and golden records as usual (all SQL).

Ids stay stable (`resolution/ids.py`), and on a case small enough for the built-in priors the
clusters equal a full re-resolve's (a test checks it). One approximation: a pair of unchanged
records stored below `STORE_FLOOR` (0.5) is not scored again, so a prior that rose enough to
lift it over the threshold would link it only in a full resolution.
More than `MAX_CHANGED_SHARE` changed, or `crmpipe resolve --full`, re-resolves everything and
retrains. Facilities and companies (rule-based pre-passes over address and name keys) always
resolve in full.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import duckdb

from crmpipe.config.schema import ResolveSpec
from crmpipe.resolution.settings import without_exclusion
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

#: Above this share of new or changed records a resolution runs in full (and retrains).
MAX_CHANGED_SHARE = 0.2


#: Raised when the matching logic itself changes (the pre-pass rules, the prepared features,
#: the records' raw hash): what an earlier version stored is then prepared and resolved again,
#: in full, once. 2: the `same name` pre-pass rule, and `hash` for the raw hash (was md5).
#: 3: the names' local parts (`<emails>_names`) no longer a stored feature, made per pair.
MATCHING_VERSION = 3


def spec_hash(spec: ResolveSpec, features: list[Any]) -> str:
    """What a stored model depends on: the table's resolution settings and derived features,
    and the version of the matching logic."""
    text = json.dumps(
        [spec.model_dump(mode="json"), [repr(f) for f in features], MATCHING_VERSION], default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_state(
    con: duckdb.DuckDBPyConnection, t: ResolvedTables, table: str, digest: str
) -> dict[str, Any] | None:
    """The last resolution's model when it can be reused: same settings, fingerprints and
    predictions kept. None when a full resolution is needed."""
    name = t.fingerprints.split(".")[1]
    if not (
        table_exists(con, "resolved", name)
        and table_exists(con, "resolved", t.predictions.split(".")[1])
    ):
        return None
    row = con.execute(
        "SELECT settings_json, spec_hash, trained FROM meta.resolve_models "
        "WHERE table_name = ? ORDER BY created_at DESC LIMIT 1",
        [table],
    ).fetchall()
    row = row[0] if row else None
    if row is None or row[1] != digest:
        return None
    model = json.loads(row[0])
    if not isinstance(model, dict) or "comparisons" not in model:
        return None
    return {"model": model, "trained": bool(row[2])}


def prior_allows(model: dict[str, Any], prior: float, threshold: float, floor: float) -> bool:
    """Whether the stored predictions still hold every pair a full resolution would link: a
    pair stored below `floor` gains the prior's rise in match weight, and must stay under
    `threshold`. Otherwise (a first drop without duplicates, then one with many) resolve in
    full."""
    old = model.get("probability_two_random_records_match")
    if not old:
        return False

    def logit(p: float) -> float:
        return math.log2(p / (1 - p))

    return logit(prior) - logit(float(old)) < logit(threshold) - logit(floor)


def changed_records(
    con: duckdb.DuckDBPyConnection, t: ResolvedTables, *, in_place: bool
) -> tuple[int, int]:
    """Temp table `_changed` (_rid) of records new or changed since the stored fingerprints;
    returns (changed, records). `in_place`: the stored features were updated in place
    (prepared.prepare), and `_stale` lists the new records; otherwise `_fp` is compared."""
    if in_place:  # the stored features were updated in place: the new records changed
        con.execute("CREATE OR REPLACE TEMP TABLE _changed AS SELECT _rid FROM _stale").fetchall()
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _changed AS SELECT f._rid FROM _fp f "
            f"LEFT JOIN {t.fingerprints} p ON p.k = f.k WHERE p._fp IS DISTINCT FROM f._fp"
        ).fetchall()
    changed = con.execute("SELECT count(*) FROM _changed").fetchall()[0][0]
    total = con.execute(f"SELECT count(*) FROM {t.records}").fetchall()[0][0]
    return changed, total


def blocked_pairs(
    con: duckdb.DuckDBPyConnection,
    t: ResolvedTables,
    key: str,
    rules: list[str],
    *,
    in_place: bool = False,
) -> int:
    """Temp table `_blocked` (match_key, join_key_l, join_key_r) in Splink's blocked-pairs
    shape: each rule's pairs with a changed record (its index as match key, the first rule
    that makes a pair winning), then the stored predictions between two unchanged records
    still present and still in two pre-pass groups (renumbered to this run's `_rid`s, by key;
    `in_place`: the records kept their numbers, and the predictions are read by number)."""
    k, kl, kr = quote_ident(key), quote_ident(key + "_l"), quote_ident(key + "_r")
    # the changed records on one side, then the other: each join is built on the few changed
    # records (an OR of the two sides made one self-join of every record: 5.8 s at 4.5M)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _changed_rin AS "
        "SELECT * FROM _rin2 WHERE _rid IN (SELECT _rid FROM _changed)"
    ).fetchall()  # once: each rule reads it twice, and `_rin2` may be a view over every record
    changed = "_changed_rin"
    # in place, `_rin2` is a view joining every record's stored features with its pre-pass
    # group: each rule probes the stored features (`_rin`) themselves, without the group, and
    # the pre-pass exclusion is applied to the few pairs made (2.13 against 0.59 s at 4.5M)
    bare = [without_exclusion(rule, "_pg") for rule in rules] if in_place else []
    deferred = bool(bare) and all(b is not None for b in bare)
    other = "_rin" if deferred else "_rin2"
    parts = [
        f"SELECT '{i}' AS match_key, l._rid AS a, r._rid AS b FROM {left} l "
        f"JOIN {right} r ON ({rule}) WHERE l._rid < r._rid"
        for i, rule in enumerate(bare if deferred else rules)
        for left, right in ((changed, other), (other, changed))
    ]
    # by number, the join is built on the few stored predictions (by key, every record's key
    # was cast and looked up: 0.5 s at 4.5M)
    on = (
        ("a._rid = p._rid_l", "b._rid = p._rid_r")
        if in_place
        else (
            f"CAST(a.{k} AS VARCHAR) = CAST(p.{kl} AS VARCHAR)",
            f"CAST(b.{k} AS VARCHAR) = CAST(p.{kr} AS VARCHAR)",
        )
    )
    parts.append(
        f"""SELECT 'stored' AS match_key, least(a._rid, b._rid), greatest(a._rid, b._rid)
        FROM {t.predictions} p JOIN {other} a ON {on[0]} JOIN {other} b ON {on[1]}
        WHERE a._rid NOT IN (SELECT _rid FROM _changed)
          AND b._rid NOT IN (SELECT _rid FROM _changed)"""
        + ("" if deferred else " AND a._pg <> b._pg")
    )
    if deferred:  # the pre-pass exclusion, on the pairs made
        parts = [
            "SELECT u.match_key, u.a, u.b FROM (" + " UNION ALL ".join(parts) + ") u "
            "LEFT JOIN _pg ga ON ga._rid = u.a LEFT JOIN _pg gb ON gb._rid = u.b "
            "WHERE coalesce(ga._cluster, u.a) <> coalesce(gb._cluster, u.b)"
        ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _blocked AS SELECT min(match_key) AS match_key, "
        "a AS join_key_l, b AS join_key_r FROM (" + " UNION ALL ".join(parts) + ") GROUP BY a, b"
    ).fetchall()
    con.execute("DROP TABLE _changed_rin").fetchall()
    return con.execute("SELECT count(*) FROM _blocked").fetchall()[0][0]


def with_run_settings(model: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A stored trained `model` with this resolution's prior and blocking rules from
    `settings`: both follow from the records, not from training."""
    kept = dict(model)
    for name in ("probability_two_random_records_match", "blocking_rules_to_generate_predictions"):
        kept[name] = settings[name]
    return kept


def _rule_sql(rule: Any) -> str:
    """A blocking rule as SQL, from settings (a string) or a saved model (a dict)."""
    return rule if isinstance(rule, str) else rule["blocking_rule"]


def score_changes(
    con: duckdb.DuckDBPyConnection,
    t: ResolvedTables,
    key: str,
    stored: dict[str, Any],
    settings: dict[str, Any],
    *,
    floor: float,
    counted: str = "_rin2",
    in_place: bool = False,
    pair_filter: str | None = None,
) -> tuple[dict[str, Any], int]:
    """Rewrite `t.predictions` with Splink's scores of the pairs that touch a changed record and
    of the stored predictions between unchanged ones; returns (the model used, records given
    to Splink).

    Term frequencies are counted over `counted` (every record's features: in place, the
    stored features themselves, without the pre-pass groups `_rin2` joins in). `in_place`:
    the records kept their numbers since the stored predictions were made. `pair_filter`:
    only the pairs it holds for are scored, as in a full resolution (scoring.score).

    A trained stored model is reused with this resolution's prior and blocking rules (both
    follow from the records, not from training); an untrained one is exactly `settings`, what
    a full resolution would use."""
    from crmpipe.resolution.scoring import score, splink_columns, term_frequencies

    model = with_run_settings(stored["model"], settings) if stored["trained"] else settings
    rules = [_rule_sql(r) for r in model["blocking_rules_to_generate_predictions"]]
    pairs = blocked_pairs(con, t, key, rules, in_place=in_place)
    if pairs == 0:  # nothing new and nothing stored: no prediction
        con.execute(f"DELETE FROM {t.predictions}").fetchall()
        con.execute("DROP TABLE IF EXISTS _blocked").fetchall()
        return model, 0
    cols = splink_columns(con.table("_rin2").columns, model, ["_rid", key, "_pg"])
    records = con.sql(
        f"SELECT {', '.join(map(quote_ident, cols))} FROM _rin2 WHERE _rid IN "
        "(SELECT join_key_l FROM _blocked UNION SELECT join_key_r FROM _blocked)"
    ).to_arrow_table()
    scored = score(
        records,
        model,
        training_rules=[],
        floor=floor,
        train=False,
        tf_tables=term_frequencies(con, model, counted),
        blocked=con.sql("SELECT * FROM _blocked").to_arrow_table(),
        pair_filter=pair_filter,
    )
    con.register("_scored", scored.predictions)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {t.predictions} AS SELECT * FROM _scored").fetchall()
    finally:
        con.unregister("_scored")
        con.execute("DROP TABLE IF EXISTS _blocked").fetchall()
    return model, records.num_rows
