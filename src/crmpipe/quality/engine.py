"""Checks: specs → set-based SQL over `core.<table>`, results in `meta.check_results`.

One scan per table evaluates every row-level check (as `count(*) FILTER (WHERE failing)`), the
completeness and freshness figures and the column profile; rows failing an `error` check are
then moved to `quarantine.<table>` (crmpipe.quality.quarantine) and the figures describe what
stays in core. Uniqueness and row counts take one small query each. Validity uses the cleaning
issues of `meta.row_issues`: a value the cleaner dropped as invalid still counts as an invalid
value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from crmpipe.build.core import Delta
from crmpipe.config.checks import Check
from crmpipe.config.expression import CheckSpecError
from crmpipe.model import Role, Table, physical_columns
from crmpipe.quality import incremental
from crmpipe.quality.quarantine import quarantine_rows
from crmpipe.sqltext import quote_ident, sql_str
from crmpipe.warehouse.connection import table_exists

#: Exit status of a run whose `error` checks or SLAs failed (the data is built and served).
EXIT_CHECKS_FAILED = 3

_VALUE_CHARS = 80


@dataclass
class CheckOutcome:
    """One check's result: `status` is pass, warn or fail; `measured` its figure."""

    check: Check
    status: str
    failed: int
    total: int | None
    measured: float | None
    threshold: float | None
    message: str
    seconds: float = 0.0
    quarantined: int = 0


@dataclass
class TableStats:
    """What the checks measured of one core table (after quarantine), for SLAs and scores."""

    table: str
    rows: int = 0
    non_null: dict[str, int] = field(default_factory=dict)
    #: Columns with cleaning issues: values present in the source (kept or dropped) and valid.
    present: dict[str, int] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)
    newest: dict[str, Any] = field(default_factory=dict)
    quarantined: int = 0


def _value(col: str) -> str:
    return f"left(coalesce(CAST({quote_ident(col)} AS VARCHAR), 'NULL'), {_VALUE_CHARS})"


def _literal(value: Any, sql_type: str) -> str:
    """A typed SQL constant for a value from the project file (escaped, cast, never spliced)."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"TRY_CAST({sql_str(text)} AS {sql_type})"


def _is_list(sql_type: str) -> bool:
    return sql_type.endswith("[]")


class _Sql:
    """The failing-row predicate and the quarantine reason of each row-level check."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tbl: Table, issue_cols: set[str]) -> None:
        self.con, self.tbl, self.issue_cols = con, tbl, issue_cols
        self.types = dict(physical_columns(tbl))

    def issue(self, col: str) -> str:
        return (
            f"coalesce(i.{quote_ident('_iss_' + col)}, false)"
            if col in self.issue_cols
            else "false"
        )

    def predicate(self, c: Check) -> str:
        if c.type == "expression":
            # NULL counts as passing, as in dbt's expression_is_true.
            return f"NOT coalesce(({c.params['sql']}), true)"
        col = c.columns[0] if c.columns else ""
        q, t = quote_ident(col), self.types.get(col, "VARCHAR")
        if c.type == "not_null":
            return " OR ".join(f"{quote_ident(x)} IS NULL" for x in c.columns)
        if c.type == "accepted_values":
            if _is_list(t):
                values = ", ".join(_literal(v, t[:-2]) for v in c.params["values"])
                return f"len(list_filter({q}, lambda crm_x: crm_x NOT IN ({values}))) > 0"
            values = ", ".join(_literal(v, t) for v in c.params["values"])
            return f"{q} NOT IN ({values})"
        if c.type == "relationship":
            target, tcol = c.params["to_table"], c.params["to_column"]
            if not table_exists(self.con, "core", target):
                return f"{q} IS NOT NULL"
            return (
                f"{q} IS NOT NULL AND {q} NOT IN (SELECT {quote_ident(tcol)} FROM "
                f"core.{quote_ident(target)} WHERE {quote_ident(tcol)} IS NOT NULL)"
            )
        if c.type == "regex":
            pat = sql_str(c.params["pattern"])
            if _is_list(t):
                return f"len(list_filter({q}, lambda crm_x: NOT regexp_matches(crm_x, {pat}))) > 0"
            return f"NOT regexp_matches(CAST({q} AS VARCHAR), {pat})"
        if c.type == "range":
            parts = []
            if c.params.get("min") is not None:
                parts.append(f"{q} < {_literal(c.params['min'], t)}")
            if c.params.get("max") is not None:
                parts.append(f"{q} > {_literal(c.params['max'], t)}")
            return " OR ".join(parts)
        if c.type in ("valid_email", "valid_phone"):
            role = self.tbl.column(col).role
            # A column of the email/phone role was cleaned by the same rule: what failed it is
            # in the cleaning issues. Any other column is tested here.
            if c.type == "valid_email" and role is not Role.EMAIL_LIST:
                own = (
                    f"len(list_filter({q}, lambda crm_x: NOT crm_email_ok(lower(crm_x)))) > 0"
                    if _is_list(t)
                    else f"NOT crm_email_ok(lower(CAST({q} AS VARCHAR)))"
                )
            elif c.type == "valid_phone" and role is not Role.PHONE:
                own = f"NOT regexp_full_match(CAST({q} AS VARCHAR), '\\+[1-9][0-9]{{6,14}}')"
            else:
                own = "false"
            return f"{self.issue(col)} OR {own}"
        raise ValueError(f"{c.type} is not a row-level check")

    def reason(self, c: Check) -> str:
        if c.type == "expression":
            return sql_str(f"expression {c.name} is false: {c.params['sql']}")
        col = c.columns[0] if c.columns else ""
        head = f"{col} " if col else ""
        v = _value(col) if col else "''"
        if c.type == "not_null":
            return sql_str(f"{c.column} is missing")
        if c.type == "accepted_values":
            return f"{sql_str(head)} || {v} || ' is not an accepted value'"
        if c.type == "relationship":
            to = f"{c.params['to_table']}.{c.params['to_column']}"
            return f"{sql_str(head)} || {v} || {sql_str(' has no match in ' + to)}"
        if c.type == "regex":
            return f"{sql_str(head)} || {v} || {sql_str(' does not match ' + c.params['pattern'])}"
        if c.type == "range":
            bounds = f"[{c.params.get('min', '')}, {c.params.get('max', '')}]"
            return f"{sql_str(head)} || {v} || {sql_str(' is outside ' + bounds)}"
        kind = "email" if c.type == "valid_email" else "phone"
        return (
            f"CASE WHEN {self.issue(col)} THEN {sql_str(head + 'had an invalid ' + kind)} "
            f"ELSE {sql_str(head)} || {v} || {sql_str(' is not a valid ' + kind)} END"
        )


def _status(c: Check, failing: bool) -> str:
    if not failing:
        return "pass"
    return "fail" if c.severity == "error" else "warn"


def repeated_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str]
) -> tuple[int, int]:
    """(rows of core.<table> with every one of `columns` set, how many of them repeat a
    combination already seen): the `unique` check's and the duplicate-rate SLA's measure."""
    cols = ", ".join(quote_ident(x) for x in columns)
    present = " AND ".join(f"{quote_ident(x)} IS NOT NULL" for x in columns)
    distinct = f"({cols})" if len(columns) > 1 else cols
    n, dups = con.execute(
        f"SELECT count(*), count(*) - count(DISTINCT {distinct}) "
        f"FROM core.{quote_ident(table)} WHERE {present}"
    ).fetchone()
    return int(n), int(dups)


def age_days(newest: Any) -> float | None:
    if newest is None:
        return None
    if isinstance(newest, datetime):
        now = datetime.now(UTC).replace(tzinfo=None)
        return (now - newest.replace(tzinfo=None)).total_seconds() / 86400
    if isinstance(newest, date):
        return float((datetime.now(UTC).date() - newest).days)
    return None


class Checker:
    """Runs the checks of each table right after the build made it; keeps every outcome.

    `check_table` is the pipeline's hook between building core.<table> and the next table, so
    relationship checks see finalized referenced tables and quarantined rows leave before
    anything reads the table.
    """

    def __init__(self, checks: list[Check], run_id: int) -> None:
        self.checks, self.run_id = checks, run_id
        self.outcomes: list[CheckOutcome] = []
        self.stats: dict[str, TableStats] = {}

    def check_table(
        self, con: duckdb.DuckDBPyConnection, tbl: Table, delta: Delta | None = None
    ) -> int:
        """Check core.<table>; quarantine rows failing `error` checks; return how many moved.
        `delta`: the rows an incremental build took out and put in, from which the figures are
        counted where they can be (quality.incremental)."""
        mine = [c for c in self.checks if c.table == tbl.name]
        name = quote_ident(tbl.name)
        issue_cols = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT column_name FROM meta.row_issues WHERE table_name = ?", [tbl.name]
            ).fetchall()
        }
        sql = _Sql(con, tbl, issue_cols)
        row_checks = [c for c in mine if c.row_level and not _build_enforced(c, tbl)]
        for c in row_checks:
            if c.type == "expression":
                _bind_expression(con, c)
        preds = [f"coalesce(({sql.predicate(c)}), false)" for c in row_checks]
        join = ""
        if issue_cols:
            flags = ", ".join(
                f"bool_or(column_name = {sql_str(col)}) AS {quote_ident('_iss_' + col)}"
                for col in sorted(issue_cols)
            )
            con.execute(
                # Lineage renamed so an expression check's `_source` etc. stays unambiguous.
                "CREATE OR REPLACE TEMP TABLE _crm_issues AS SELECT _source AS _crm_s, "
                f"_file AS _crm_f, _row AS _crm_r, {flags} "
                "FROM meta.row_issues WHERE table_name = ? GROUP BY ALL",
                [tbl.name],
            )
            join = (
                " LEFT JOIN _crm_issues i ON i._crm_s = c._source AND i._crm_f = c._file "
                "AND i._crm_r = c._row"
            )
        quarantining = [i for i, c in enumerate(row_checks) if c.quarantines]
        q_expr = " OR ".join(f"_f{i}" for i in quarantining) or "false"
        cols = [n for n, _ in physical_columns(tbl)]
        stamps = [c.name for c in tbl.all_columns if c.role in (Role.DATE, Role.TIMESTAMP)]
        aggs = ["count(*)", "count(*) FILTER (WHERE _q)", "count(*) FILTER (WHERE NOT _q)"]
        aggs += [f"count(*) FILTER (WHERE _f{i})" for i in range(len(row_checks))]
        aggs += [f"count({quote_ident(n)}) FILTER (WHERE NOT _q)" for n in cols]
        for col in sorted(issue_cols & set(cols)):
            q, iss = quote_ident(col), quote_ident("_iss_" + col)
            aggs.append(f"count(*) FILTER (WHERE NOT _q AND ({q} IS NOT NULL OR {iss}))")
            aggs.append(f"count(*) FILTER (WHERE NOT _q AND {q} IS NOT NULL AND NOT {iss})")
        aggs += [f"max({quote_ident(n)}) FILTER (WHERE NOT _q)" for n in stamps]
        aggs += [f"count(*) FILTER (WHERE _f{i} AND NOT _q)" for i in range(len(row_checks))]
        inner_cols = ", ".join(
            [f"c.{quote_ident(n)}" for n in cols]
            + [
                f"coalesce(i.{quote_ident('_iss_' + n)}, false) AS {quote_ident('_iss_' + n)}"
                for n in sorted(issue_cols & set(cols))
            ]
            + [f"{p} AS _f{i}" for i, p in enumerate(preds)]
        )

        def scan(source: str) -> str:
            return (
                f"SELECT {', '.join(aggs)} FROM (SELECT *, {q_expr} AS _q FROM "
                f"(SELECT {inner_cols} FROM {source} c{join}))"
            )

        t0 = time.perf_counter()
        layout = incremental.Layout(len(row_checks), len(stamps))
        basis = incremental.basis(con, scan("{source}"), row_checks)
        figures = None
        if delta is not None:
            figures = incremental.counted(con, tbl.name, basis, scan, delta, layout)
        among = "" if figures is None or delta is None else delta.came
        if figures is None:
            figures = list(con.execute(scan(f"core.{name}")).fetchone())
        incremental.save(con, tbl.name, basis, incremental.kept(figures, layout))
        row = figures[: len(figures) - len(row_checks)]
        scan_seconds = time.perf_counter() - t0
        total, n_q, kept = row[0], row[1], row[2]
        fails = row[3 : 3 + len(row_checks)]
        rest = row[3 + len(row_checks) :]
        stats = TableStats(tbl.name, rows=kept)
        stats.non_null = dict(zip(cols, rest[: len(cols)], strict=True))
        rest = rest[len(cols) :]
        for col in sorted(issue_cols & set(cols)):
            stats.present[col], stats.valid[col] = rest[0], rest[1]
            rest = rest[2:]
        stats.newest = dict(zip(stamps, rest, strict=True))
        self.stats[tbl.name] = stats

        moved = 0
        if n_q:
            t1 = time.perf_counter()
            chosen = [(i, row_checks[i]) for i in quarantining if fails[i]]
            moved = quarantine_rows(
                con,
                tbl.name,
                self.run_id,
                failing=[
                    (f"coalesce(({sql.predicate(c)}), false)", c.name, sql.reason(c))
                    for _, c in chosen
                ],
                join=join,
                among=(tuple(tbl.key), among) if among else None,
            )
            scan_seconds += time.perf_counter() - t1
            stats.quarantined = moved
        for c, failed in zip(row_checks, fails, strict=True):
            share = 100.0 * failed / total if total else 0.0
            failing = failed > 0 and share > c.threshold
            what = "quarantined" if c.quarantines and failed else "failing"
            msg = f"{failed:,} of {total:,} rows {what} ({share:.2f}%)" if failed else "no failures"
            self.outcomes.append(
                CheckOutcome(
                    c,
                    _status(c, failing),
                    failed,
                    total,
                    share,
                    c.threshold,
                    msg,
                    scan_seconds,
                    failed if c.quarantines else 0,
                )
            )
        for c in mine:
            if c.row_level and not _build_enforced(c, tbl):
                continue
            t2 = time.perf_counter()
            outcome = self._aggregate(con, c, tbl, stats)
            outcome.seconds = time.perf_counter() - t2
            self.outcomes.append(outcome)
        return moved

    def _aggregate(
        self, con: duckdb.DuckDBPyConnection, c: Check, tbl: Table, stats: TableStats
    ) -> CheckOutcome:
        name = quote_ident(tbl.name)
        if c.type == "not_null":  # the key: the build quarantined keyless rows already
            (failed,) = con.execute(
                f"SELECT count(*) FROM quarantine.{name} WHERE _check = 'key_not_null'"
            ).fetchone()
            (staged,) = con.execute(f"SELECT count(*) FROM staging.{name}").fetchone()
            share = 100.0 * failed / staged if staged else 0.0
            failing = failed > 0 and share > c.threshold
            msg = (
                f"{failed:,} of {staged:,} rows without a key quarantined"
                if failed
                else "no failures"
            )
            return CheckOutcome(
                c, _status(c, failing), failed, staged, share, c.threshold, msg, 0, failed
            )
        if c.type == "unique" and c.columns == tbl.key:
            # build_core keeps exactly one row per key (the latest version; the others are
            # counted as merged): a count(DISTINCT key) would only re-prove it, at ~1 s per
            # 4.5M rows. Repeated keys are measured by the duplicate_rate SLA.
            msg = "one row per key in core (the build merges repeated keys)"
            return CheckOutcome(c, "pass", 0, stats.rows, 0.0, c.threshold, msg)
        if c.type == "unique":
            n, dups = repeated_rows(con, tbl.name, c.columns)
            share = 100.0 * dups / n if n else 0.0
            failing = dups > 0 and share > c.threshold
            msg = f"{dups:,} repeated values among {n:,} rows" if dups else "all values unique"
            return CheckOutcome(c, _status(c, failing), dups, n, share, c.threshold, msg)
        if c.type == "completeness":
            col = c.columns[0]
            nn = stats.non_null.get(col, 0)
            pct = 100.0 * nn / stats.rows if stats.rows else 100.0
            target = float(c.params["min"])
            failing = pct < target - 1e-9
            msg = f"{pct:.2f}% of rows have {col} (target ≥ {target:g}%)"
            return CheckOutcome(
                c, _status(c, failing), stats.rows - nn, stats.rows, pct, target, msg
            )
        if c.type == "max_age":
            col = c.columns[0]
            age = age_days(stats.newest.get(col))
            limit = float(c.params["days"])
            failing = age is None or age > limit
            msg = (
                f"no {col} values"
                if age is None
                else f"newest {col} is {age:.1f} days old (limit {limit:g})"
            )
            return CheckOutcome(c, _status(c, failing), 0, stats.rows, age, limit, msg)
        if c.type == "row_count":
            rows = stats.rows
            problems: list[str] = []
            if c.params.get("min") is not None and rows < c.params["min"]:
                problems.append(f"fewer than {c.params['min']:,}")
            if c.params.get("max") is not None and rows > c.params["max"]:
                problems.append(f"more than {c.params['max']:,}")
            change = None
            if c.params.get("max_change") is not None:
                prev = con.execute(
                    "SELECT loaded FROM meta.table_counts WHERE table_name = ? AND run_id < ? "
                    "ORDER BY run_id DESC LIMIT 1",
                    [tbl.name, self.run_id],
                ).fetchone()
                if prev and prev[0]:
                    change = 100.0 * (rows - prev[0]) / prev[0]
                    limit = c.params["max_change"]
                    if abs(change) > limit:
                        problems.append(f"{change:+.1f}% vs the previous run (limit ±{limit:g}%)")
            msg = f"{rows:,} rows" + (": " + ", ".join(problems) if problems else "")
            if change is not None and not problems:
                msg += f" ({change:+.1f}% vs the previous run)"
            return CheckOutcome(c, _status(c, bool(problems)), 0, rows, float(rows), None, msg)
        raise ValueError(f"unknown check type {c.type}")


def _bind_expression(con: duckdb.DuckDBPyConnection, c: Check) -> None:
    """Fail with the check's key when its expression names unknown columns or mistypes them."""
    try:
        con.execute(f"SELECT ({c.params['sql']}) FROM core.{quote_ident(c.table)} LIMIT 0")
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise CheckSpecError(
            f"checks.{c.table}.table: expression {c.name!r} does not apply to {c.table}: {first}"
        ) from None


def _build_enforced(c: Check, tbl: Table) -> bool:
    """The key's not-null check is done by the build (keyless rows never reach core)."""
    return c.type == "not_null" and c.columns == tbl.key


def record_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: int | None,
    outcomes: list[CheckOutcome],
    origin: str | None = None,
) -> None:
    """Write the outcomes into meta.check_results (one row per check), replacing the run's rows
    (with `origin`, only its rows of that origin: the marts' checks are recorded after the rest)."""
    if origin is None:
        con.execute("DELETE FROM meta.check_results WHERE run_id = ?", [run_id])
    else:
        con.execute(
            "DELETE FROM meta.check_results WHERE run_id IS NOT DISTINCT FROM ? AND origin = ?",
            [run_id, origin],
        )
    if not outcomes:
        return
    con.executemany(
        "INSERT INTO meta.check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                o.check.table,
                o.check.column,
                o.check.name,
                o.check.type,
                o.check.severity,
                o.status,
                o.failed,
                o.total,
                o.measured,
                o.threshold,
                o.message,
                o.check.origin,
                o.seconds,
            )
            for o in outcomes
        ],
    )
