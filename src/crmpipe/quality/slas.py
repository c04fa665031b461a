"""SLAs: data-quality service levels measured every run, pass/fail with the measured figure.

Metrics (docs/quality.md): completeness (% of rows with a value), validity and consistency (% of
the values present in the source that passed their role's cleaner — for code columns such as
state, that is consistency), freshness (age in days of the newest value) and duplicate rate (%
of staged rows that repeated a key, or of core rows repeating a natural key given as `columns`).
Figures come from the checks' table scan (`TableStats`); results go to `meta.sla_results`.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.config.checks import Sla
from crmpipe.config.schema import Config
from crmpipe.quality.engine import TableStats, age_days, repeated_rows


@dataclass
class SlaOutcome:
    """One SLA's result: `status` pass, warn or fail (an `error` SLA that missed its target)."""

    sla: Sla
    measured: float | None
    status: str
    message: str


def _valid_pct(stats: TableStats, col: str) -> float | None:
    present = stats.present.get(col, stats.non_null.get(col, 0))
    valid = stats.valid.get(col, stats.non_null.get(col, 0))
    return 100.0 * valid / present if present else None


def measure(
    con: duckdb.DuckDBPyConnection,
    sla: Sla,
    stats: TableStats,
    build: tuple[int, int],
    key: tuple[str, ...],
) -> tuple[float | None, str]:
    """(figure, how it was measured) for one SLA; None when there is nothing to measure."""
    if sla.metric == "completeness":
        col = sla.columns[0]
        nn = stats.non_null.get(col, 0)
        if not stats.rows:
            return None, "no rows"
        return 100.0 * nn / stats.rows, f"{nn:,} of {stats.rows:,} rows have {col}"
    if sla.metric in ("validity", "consistency"):
        col = sla.columns[0]
        pct = _valid_pct(stats, col)
        if pct is None:
            return 100.0, f"no {col} values"
        present = stats.present.get(col, stats.non_null.get(col, 0))
        valid = stats.valid.get(col, stats.non_null.get(col, 0))
        return pct, f"{valid:,} of {present:,} {col} values valid"
    if sla.metric == "freshness":
        col = sla.columns[0]
        age = age_days(stats.newest.get(col))
        if age is None:
            return None, f"no {col} values"
        return age, f"newest {col} is {age:.1f} days old"
    if sla.metric == "duplicate_rate":
        if not sla.columns or sla.columns == key:
            staged, merged = build
            if not staged:
                return 0.0, "no rows"
            return 100.0 * merged / staged, f"{merged:,} of {staged:,} rows repeated a key"
        n, dups = repeated_rows(con, sla.table, sla.columns)
        if not n:
            return 0.0, "no rows"
        return 100.0 * dups / n, f"{dups:,} of {n:,} rows repeat ({', '.join(sla.columns)})"
    raise ValueError(f"unknown SLA metric {sla.metric}")


def evaluate_slas(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    slas: list[Sla],
    stats: dict[str, TableStats],
    build: dict[str, tuple[int, int]],
) -> list[SlaOutcome]:
    """Measure every SLA on this run's build."""
    tables = cfg.tables()
    out: list[SlaOutcome] = []
    for sla in slas:
        if sla.table not in stats:
            measured, how = None, f"table {sla.table} was not built (no source)"
        else:
            measured, how = measure(
                con, sla, stats[sla.table], build.get(sla.table, (0, 0)), tables[sla.table].key
            )
        ok = measured is not None and sla.passes(measured)
        status = "pass" if ok else ("fail" if sla.severity == "error" else "warn")
        target = f"{sla.comparison} {sla.target:g}{'%' if sla.unit == '%' else ' ' + sla.unit}"
        figure = "—" if measured is None else f"{measured:.2f}{'%' if sla.unit == '%' else ''}"
        out.append(SlaOutcome(sla, measured, status, f"{figure} (target {target}): {how}"))
    return out


def record_slas(con: duckdb.DuckDBPyConnection, run_id: int, outcomes: list[SlaOutcome]) -> None:
    """Write the outcomes into meta.sla_results."""
    con.execute("DELETE FROM meta.sla_results WHERE run_id = ?", [run_id])
    if not outcomes:
        return
    con.executemany(
        "INSERT INTO meta.sla_results (run_id, sla_name, table_name, column_name, metric, "
        "measured, target, comparison, unit, status, message, severity) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                o.sla.name,
                o.sla.table,
                o.sla.column,
                o.sla.metric,
                o.measured,
                o.sla.target,
                o.sla.comparison,
                o.sla.unit,
                o.status,
                o.message,
                o.sla.severity,
            )
            for o in outcomes
        ],
    )
