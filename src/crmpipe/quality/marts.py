"""The sales-funnel case's checks run: each spec of `quality.specs.mart_checks` measured with
set-based SQL after the marts are built, as `CheckOutcome`s in `meta.check_results` (origin
`mart`).

Each check measures one number (`failed_rows`) and says pass, warn or fail; a check whose tables
are not there is skipped. The repeated activity ids it reports were moved to quarantine before
the marts ran (`quarantine_mart_repeats`, through crmpipe.quality.quarantine).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import duckdb

from crmpipe.config.checks import Check
from crmpipe.quality.engine import CheckOutcome, record_checks
from crmpipe.quality.quarantine import quarantine_repeats
from crmpipe.sqltext import quote_ident, quote_qualified, sql_str
from crmpipe.warehouse.connection import table_exists

#: How many example ids a check's message lists.
EXAMPLES = 5


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    if not table_exists(con, schema, table):
        return False
    sql = f"SELECT 1 FROM {schema}.{quote_ident(table)} LIMIT 1"
    return con.execute(sql).fetchone() is not None


def _examples(values: list[object]) -> str:
    shown = ", ".join(str(v) for v in values[:EXAMPLES])
    return shown + (", ..." if len(values) > EXAMPLES else "")


def _outcome(c: Check, found: int, message: str) -> CheckOutcome:
    status = "pass" if not found else ("fail" if c.severity == "error" else "warn")
    return CheckOutcome(c, status, found, None, float(found), None, message)


def _unique_in_export(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """Rows repeating a key within one file version of `table` (the build kept the last)."""
    key = c.columns[0]
    if not _rows(con, "staging", c.table):
        return None
    k = quote_ident(key)
    rows = con.execute(
        f"SELECT {k}, count(*) FROM staging.{quote_ident(c.table)} WHERE {k} IS NOT NULL "
        f"GROUP BY {k}, _file_hash HAVING count(*) > 1 ORDER BY {k}"
    ).fetchall()
    extra = sum(n - 1 for _, n in rows)
    if not extra:
        return _outcome(c, 0, f"every {key} appears once")
    return _outcome(
        c,
        extra,
        f"{len(rows)} {key}s appear more than once in one export "
        f"({_examples([r[0] for r in rows])}); the last row of each was kept",
    )


def _created_once(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """Deals derived from the change log: one creation (add_time) per deal id."""
    if not _rows(con, "core", c.table):
        return None
    ids = [
        r[0]
        for r in con.execute(
            f"SELECT deal_id FROM core.{quote_ident(c.table)} "
            "WHERE lower(trim(changed_field_key)) = 'add_time' "
            "GROUP BY deal_id HAVING count(*) > 1 ORDER BY deal_id"
        ).fetchall()
    ]
    if not ids:
        return _outcome(c, 0, "every deal id has one add_time")
    return _outcome(
        c,
        len(ids),
        f"{len(ids)} deal ids were created more than once ({_examples(ids)}): two deals may "
        "share an id; each still counts once per funnel step",
    )


def _repeats_quarantined(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """The repeats of a key within one export that were moved to quarantine.<table>."""
    name, key = quote_ident(c.table), quote_ident(c.columns[0])
    if not table_exists(con, "quarantine", c.table) or not _rows(con, "staging", c.table):
        return None
    rows = con.execute(
        f"SELECT DISTINCT {key} FROM quarantine.{name} WHERE _check = ? ORDER BY 1", [c.name]
    ).fetchall()
    (moved,) = con.execute(
        f"SELECT count(*) FROM quarantine.{name} WHERE _check = ?", [c.name]
    ).fetchone()
    if not moved:
        return _outcome(c, 0, f"every {c.columns[0]} appears once per export")
    outcome = _outcome(
        c,
        int(moved),
        f"{moved} rows repeat an {c.columns[0]} within one export ({len(rows)} ids, e.g. "
        f"{_examples([r[0] for r in rows])}); the last row of each is in core.{c.table}, the "
        f"others in quarantine.{c.table}",
    )
    outcome.quarantined = int(moved)
    return outcome


def _accepted_keys(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    if not _rows(con, "core", c.table):
        return None
    col, values = quote_ident(c.columns[0]), c.params["values"]
    rows = con.execute(
        f"SELECT coalesce({col}, '(empty)'), count(*) FROM core.{quote_ident(c.table)} "
        f"WHERE NOT list_contains(?, lower(trim(coalesce({col}, '')))) "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        [list(values)],
    ).fetchall()
    n = sum(k for _, k in rows)
    if not n:
        return _outcome(c, 0, f"all keys are one of {', '.join(values)}")
    shown = _examples([f"{k} ({k_n})" for k, k_n in rows])
    return _outcome(c, n, f"{n} changes of fields the marts ignore: {shown}")


def _json_list(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    if not _rows(con, "core", c.table):
        return None
    col = quote_ident(c.columns[0])
    rows = con.execute(
        f"SELECT field_key FROM core.{quote_ident(c.table)} WHERE {col} IS NOT NULL AND NOT "
        f"coalesce(json_valid({col}) AND json_type({col}) = 'ARRAY', false) "
        "ORDER BY 1"
    ).fetchall()
    if not rows:
        return _outcome(c, 0, f"every {c.columns[0]} is a JSON list")
    return _outcome(
        c,
        len(rows),
        f"{c.columns[0]} of {_examples([r[0] for r in rows])} is not a JSON list of options",
    )


def _orphans(con: duckdb.DuckDBPyConnection, c: Check, sql: str) -> CheckOutcome:
    noun = c.params["noun"]
    ids = [r[0] for r in con.execute(sql).fetchall()]
    if not ids:
        return _outcome(c, 0, f"every {noun} exists")
    if c.params.get("note"):
        return _outcome(
            c,
            len(ids),
            f"{len(ids)} {noun}s have {c.table} but no change log entry ({_examples(ids)}); "
            + c.params["note"],
        )
    return _outcome(c, len(ids), f"{len(ids)} unknown {noun}s ({_examples(ids)})")


def _relationship(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """Values of a column (or of the changes of one field) with no match in the parent table.

    A core parent must have rows; a mart parent (built by the marts step) must exist.
    """
    p_schema, _, p_table = c.params["parent"].partition(".")
    parent_there = (
        _rows(con, p_schema, p_table)
        if p_schema == "core"
        else table_exists(con, p_schema, p_table)
    )
    if not _rows(con, "core", c.table) or not parent_there:
        return None
    to_col = quote_ident(c.params["to_column"])
    parent = quote_qualified(c.params["parent"])
    if c.params.get("parent_filter"):
        parent = f"(SELECT {to_col} FROM {parent} WHERE {c.params['parent_filter']})"
    elif p_table != c.params["to_table"]:
        parent = f"(SELECT DISTINCT {to_col} FROM {parent})"
    col = quote_ident(c.columns[0])
    if c.params.get("field"):  # the changes of one field: their new values
        value = f"trim(d.{col})"
        field = sql_str(c.params["field"])
        where = f"lower(trim(d.changed_field_key)) = {field} AND d.{col} IS NOT NULL"
    else:
        value, where = f"d.{col}", f"d.{col} IS NOT NULL"
    return _orphans(
        con,
        c,
        f"SELECT DISTINCT {value} FROM core.{quote_ident(c.table)} d ANTI JOIN {parent} p "
        f"ON p.{to_col} = {value} WHERE {where} ORDER BY 1",
    )


def _decoded(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """Every id of a coded field decodes to a label of its field's options."""
    schema, _, table = c.params["source"].partition(".")
    if not table_exists(con, schema, table):
        return None
    col, label = quote_ident(c.columns[0]), quote_ident(c.params["label"])
    sql = (
        f"SELECT DISTINCT {col} FROM {quote_qualified(c.params['source'])} "
        f"WHERE {label} IS NULL ORDER BY 1"
    )
    return _orphans(con, c, sql)


def _funnel_monotonic(con: duckdb.DuckDBPyConnection, c: Check) -> CheckOutcome | None:
    """Over the whole period, each stage step has no more deals than the stage step before."""
    schema, _, table = c.params["entries"].partition(".")
    if not table_exists(con, schema, table):
        return None
    steps, entries = quote_qualified(c.params["steps"]), quote_qualified(c.params["entries"])
    rows = con.execute(
        f"SELECT s.funnel_step, s.kpi_name, count(e.deal_id) FROM {steps} s "
        f"LEFT JOIN {entries} e ON e.funnel_step = s.funnel_step "
        "WHERE s.step_source = 'stage' GROUP BY ALL ORDER BY any_value(s.step_order)"
    ).fetchall()
    rises = [
        f"{cur[0]} {cur[1]} ({cur[2]:,}) > {prev[0]} {prev[1]} ({prev[2]:,})"
        for prev, cur in zip(rows, rows[1:], strict=False)
        if cur[2] > prev[2]
    ]
    (skipped,) = con.execute(
        "WITH st AS (SELECT step_order, funnel_step, lag(funnel_step) OVER (ORDER BY step_order) "
        f"AS prev_step FROM {steps} WHERE step_source = 'stage') "
        f"SELECT count(DISTINCT e.deal_id) FROM {entries} e "
        "JOIN st ON st.funnel_step = e.funnel_step AND st.prev_step IS NOT NULL "
        f"ANTI JOIN {entries} p "
        "ON p.deal_id = e.deal_id AND p.funnel_step = st.prev_step"
    ).fetchone()
    note = f"; {skipped:,} deals skipped a stage step on the way" if skipped else ""
    if not rises:
        return _outcome(c, 0, "deals per stage step never rise along the funnel" + note)
    return _outcome(
        c,
        len(rises),
        "more deals enter a later stage step than the one before: " + "; ".join(rises) + note,
    )


#: Check type → how it is measured.
MEASURES: dict[str, Callable[[duckdb.DuckDBPyConnection, Check], CheckOutcome | None]] = {
    "unique_in_export": _unique_in_export,
    "created_once": _created_once,
    "repeats_quarantined": _repeats_quarantined,
    "accepted_keys": _accepted_keys,
    "json_list": _json_list,
    "relationship": _relationship,
    "decoded": _decoded,
    "funnel_monotonic": _funnel_monotonic,
}


def quarantine_mart_repeats(
    con: duckdb.DuckDBPyConnection, checks: list[Check], run_id: int | None
) -> None:
    """The repair the case needs before its marts run: a key repeated within one export (an
    activity_id) keeps its last row; the others go to quarantine.<table> with the reason."""
    for c in checks:
        if c.type == "repeats_quarantined":
            quarantine_repeats(con, c.table, c.columns[0], c.name, run_id)


def check_marts(
    con: duckdb.DuckDBPyConnection, checks: list[Check], run_id: int | None
) -> list[CheckOutcome]:
    """Run every check whose tables are there; store the outcomes under `run_id`."""
    outcomes: list[CheckOutcome] = []
    for c in checks:
        t0 = time.perf_counter()
        outcome = MEASURES[c.type](con, c)
        if outcome is not None:
            outcome.seconds = time.perf_counter() - t0
            outcomes.append(outcome)
    record_checks(con, run_id, outcomes, origin="mart")
    return outcomes


def latest_mart_checks(con: duckdb.DuckDBPyConnection) -> list[CheckOutcome]:
    """The mart checks of the most recent run that stored any (empty when there are none)."""
    if not table_exists(con, "meta", "check_results"):
        return []
    rows = con.execute(
        "SELECT check_name, check_type, table_name, column_name, severity, status, failed_rows, "
        "message FROM meta.check_results WHERE origin = 'mart' AND run_id IS NOT DISTINCT FROM "
        "(SELECT max(run_id) FROM meta.check_results WHERE origin = 'mart') ORDER BY rowid"
    ).fetchall()
    return [
        CheckOutcome(
            Check(
                name,
                kind,
                table,
                tuple(column.split(", ")) if column else (),
                severity,
                0.0,
                {},
                "mart",
            ),
            status,
            int(found),
            None,
            float(found),
            None,
            message,
        )
        for name, kind, table, column, severity, status, found, message in rows
    ]
