"""Quality scores: per table, 0–100 for completeness, validity, uniqueness, consistency and
timeliness, and `overall` (their mean), in `meta.quality_scores`; column profiles (rows and
nulls per column) in `meta.column_profiles`.

How each is measured (docs/quality.md): completeness = mean share of rows having each mapped
column; validity = share of present values that passed cleaning, averaged with each regex /
range / valid_email / valid_phone check's passing share; uniqueness = share of staged rows that
did not repeat a key, averaged with each unique check; consistency = mean passing share of the
accepted_values / relationship / expression checks; timeliness = 100 while the newest value is
within its max_age check or freshness SLA, then limit/age × 100. A dimension with nothing to
measure has no row; `overall` is the mean of the others.
"""

from __future__ import annotations

from statistics import mean

import duckdb

from crmpipe.config.schema import Config
from crmpipe.quality.engine import CheckOutcome, TableStats, age_days
from crmpipe.quality.slas import SlaOutcome
from crmpipe.quality.specs import mapped_columns

DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "timeliness")
VALIDITY_CHECKS = {"regex", "range", "valid_email", "valid_phone"}
CONSISTENCY_CHECKS = {"accepted_values", "relationship", "expression"}


def _passing(o: CheckOutcome) -> float:
    share = o.measured if o.measured is not None else 0.0
    return max(0.0, 100.0 - share)


def table_scores(
    cfg: Config,
    table: str,
    stats: TableStats,
    build: tuple[int, int],
    checks: list[CheckOutcome],
    slas: list[SlaOutcome],
) -> dict[str, float]:
    """The dimension scores of one table (0–100) and `overall`."""
    mine = [o for o in checks if o.check.table == table]
    cols = sorted(mapped_columns(cfg, table) & set(stats.non_null))
    scores: dict[str, float] = {}
    if stats.rows and cols:
        scores["completeness"] = mean(100.0 * stats.non_null[c] / stats.rows for c in cols)
    present = sum(stats.present.get(c, stats.non_null[c]) for c in cols)
    valid = sum(stats.valid.get(c, stats.non_null[c]) for c in cols)
    parts = [100.0 * valid / present] if present else []
    parts += [_passing(o) for o in mine if o.check.type in VALIDITY_CHECKS and o.check.columns]
    if parts:
        scores["validity"] = mean(parts)
    staged, merged = build
    parts = [100.0 * (1 - merged / staged)] if staged else []
    parts += [_passing(o) for o in mine if o.check.type == "unique"]
    if parts:
        scores["uniqueness"] = mean(parts)
    parts = [_passing(o) for o in mine if o.check.type in CONSISTENCY_CHECKS]
    if parts:
        scores["consistency"] = mean(parts)
    limits = [
        (o.check.columns[0], float(o.check.params["days"]))
        for o in mine
        if o.check.type == "max_age"
    ]
    limits += [
        (o.sla.columns[0], o.sla.target)
        for o in slas
        if o.sla.table == table and o.sla.metric == "freshness"
    ]
    parts = []
    for col, limit in limits:
        age = age_days(stats.newest.get(col))
        parts.append(0.0 if age is None else min(100.0, 100.0 * limit / max(age, 1e-9)))
    if parts:
        scores["timeliness"] = mean(parts)
    if scores:
        scores["overall"] = mean(scores.values())
    return scores


def record_quality(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    run_id: int,
    stats: dict[str, TableStats],
    build: dict[str, tuple[int, int]],
    checks: list[CheckOutcome],
    slas: list[SlaOutcome],
) -> dict[str, dict[str, float]]:
    """Compute and store every table's scores and column profile; return the scores."""
    con.execute("DELETE FROM meta.quality_scores WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM meta.column_profiles WHERE run_id = ?", [run_id])
    out: dict[str, dict[str, float]] = {}
    score_rows, profile_rows = [], []
    for table, st in stats.items():
        out[table] = table_scores(cfg, table, st, build.get(table, (0, 0)), checks, slas)
        score_rows += [(run_id, table, dim, round(v, 4)) for dim, v in out[table].items()]
        profile_rows += [(run_id, table, c, st.rows, st.rows - nn) for c, nn in st.non_null.items()]
    if score_rows:
        con.executemany("INSERT INTO meta.quality_scores VALUES (?, ?, ?, ?)", score_rows)
    if profile_rows:
        con.executemany("INSERT INTO meta.column_profiles VALUES (?, ?, ?, ?, ?)", profile_rows)
    return out
