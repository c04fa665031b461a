"""The sales-funnel case's data checks, as SQL over the warehouse, stored in `meta.mart_checks`.

Each check measures one number and says pass, warn (the marts handle it, but someone should
know) or fail (a rule the marts rely on is broken). Also here: the one repair the case needs
before its marts run — an activity_id repeated within one export is de-duplicated (the last row
is kept, as the core build keeps the last version of a key) and the other rows are moved to
`quarantine.activities` with the reason, instead of being silently merged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

MART_CHECKS_DDL = """
CREATE TABLE IF NOT EXISTS meta.mart_checks (
  run_id BIGINT, check_name VARCHAR, table_name VARCHAR, status VARCHAR, measured BIGINT,
  detail VARCHAR, checked_at TIMESTAMP
)
"""

#: The deal_changes field keys the marts understand.
ACCEPTED_FIELD_KEYS: tuple[str, ...] = ("add_time", "user_id", "stage_id", "lost_reason")

#: How many example ids a check's detail lists.
EXAMPLES = 5


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: `status` is pass, warn or fail; `measured` the count it found."""

    name: str
    table: str
    status: str
    measured: int
    detail: str


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    if not table_exists(con, schema, table):
        return False
    sql = f"SELECT 1 FROM {schema}.{quote_ident(table)} LIMIT 1"
    return con.execute(sql).fetchone() is not None


def _examples(values: list[object]) -> str:
    shown = ", ".join(str(v) for v in values[:EXAMPLES])
    return shown + (", ..." if len(values) > EXAMPLES else "")


# --- the repair ------------------------------------------------------------------------------

QUARANTINE_CHECK = "activity_id_unique"


def quarantine_activity_duplicates(con: duckdb.DuckDBPyConnection, run_id: int | None) -> int:
    """Move repeats of an activity_id within one export to quarantine.activities; return them.

    The core build kept the last row of each activity_id (newest file, then last row) and counted
    the rest as merged versions. Versions from an older export are updates, fine to merge; repeats
    inside the winning export are defects (two different activities share an id), so they are
    quarantined with the reason and the run's `meta.table_counts` moves them from merged to
    quarantined, keeping `read = loaded + merged + quarantined + rejected` true.
    """
    if not all(table_exists(con, s, "activities") for s in ("staging", "core", "quarantine")):
        return 0
    con.execute("DELETE FROM quarantine.activities WHERE _check = ?", [QUARANTINE_CHECK])
    con.execute(
        "INSERT INTO quarantine.activities BY NAME "
        "WITH ranked AS (SELECT *, row_number() OVER w AS _rank, "
        "first_value(_file_hash) OVER w AS _winner_hash, first_value(_row) OVER w AS _winner_row, "
        "count(*) OVER (PARTITION BY activity_id, _file_hash) AS _copies "
        "FROM staging.activities WHERE activity_id IS NOT NULL "
        "WINDOW w AS (PARTITION BY activity_id ORDER BY _file_mtime DESC, _file DESC, _row DESC)) "
        "SELECT * EXCLUDE (_rank, _winner_hash, _winner_row, _copies), "
        "? AS _check, format('activity_id {} appears {} times in {}; record {} is kept', "
        "activity_id, _copies, _file, _winner_row) AS _reason, "
        "?::BIGINT AS _quarantined_run "
        "FROM ranked WHERE _rank > 1 AND _file_hash = _winner_hash",
        [QUARANTINE_CHECK, run_id],
    )
    (moved,) = con.execute(
        "SELECT count(*) FROM quarantine.activities WHERE _check = ?", [QUARANTINE_CHECK]
    ).fetchone()
    if run_id is not None:
        con.execute(
            "UPDATE meta.table_counts SET "
            "quarantined = (SELECT count(*) FROM quarantine.activities), "
            "merged = staged - loaded - (SELECT count(*) FROM quarantine.activities) "
            "WHERE run_id = ? AND table_name = 'activities'",
            [run_id],
        )
    return int(moved)


# --- the checks ------------------------------------------------------------------------------


def _key_unique(con: duckdb.DuckDBPyConnection, table: str, key: str) -> CheckResult | None:
    """Rows repeating a key within one file version of `table` (the build kept the last)."""
    if not _rows(con, "staging", table):
        return None
    k = quote_ident(key)
    rows = con.execute(
        f"SELECT {k}, count(*) FROM staging.{quote_ident(table)} WHERE {k} IS NOT NULL "
        f"GROUP BY {k}, _file_hash HAVING count(*) > 1 ORDER BY {k}"
    ).fetchall()
    extra = sum(n - 1 for _, n in rows)
    if not extra:
        return CheckResult(f"{key}_unique", table, "pass", 0, f"every {key} appears once")
    return CheckResult(
        f"{key}_unique",
        table,
        "fail",
        extra,
        f"{len(rows)} {key}s appear more than once in one export "
        f"({_examples([r[0] for r in rows])}); the last row of each was kept",
    )


def check_deal_ids(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Deal ids are unique: in a deals export, or (derived) one creation event per deal id."""
    if cfg.sources_for("deals"):
        return _key_unique(con, "deals", "deal_id")
    if not _rows(con, "core", "deal_changes"):
        return None
    ids = [
        r[0]
        for r in con.execute(
            "SELECT deal_id FROM core.deal_changes "
            "WHERE lower(trim(changed_field_key)) = 'add_time' "
            "GROUP BY deal_id HAVING count(*) > 1 ORDER BY deal_id"
        ).fetchall()
    ]
    if not ids:
        return CheckResult(
            "deal_id_unique", "deal_changes", "pass", 0, "every deal id has one add_time"
        )
    return CheckResult(
        "deal_id_unique",
        "deal_changes",
        "warn",
        len(ids),
        f"{len(ids)} deal ids were created more than once ({_examples(ids)}): two deals may "
        "share an id; each still counts once per funnel step",
    )


def check_activity_ids(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    if not table_exists(con, "quarantine", "activities") or not _rows(con, "staging", "activities"):
        return None
    rows = con.execute(
        "SELECT DISTINCT activity_id FROM quarantine.activities WHERE _check = ? ORDER BY 1",
        [QUARANTINE_CHECK],
    ).fetchall()
    (moved,) = con.execute(
        "SELECT count(*) FROM quarantine.activities WHERE _check = ?", [QUARANTINE_CHECK]
    ).fetchone()
    if not moved:
        return CheckResult(
            QUARANTINE_CHECK, "activities", "pass", 0, "every activity_id appears once per export"
        )
    return CheckResult(
        QUARANTINE_CHECK,
        "activities",
        "warn",
        int(moved),
        f"{moved} rows repeat an activity_id within one export ({len(rows)} ids, e.g. "
        f"{_examples([r[0] for r in rows])}); the last row of each is in core.activities, the "
        "others in quarantine.activities",
    )


def check_field_keys(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    if not _rows(con, "core", "deal_changes"):
        return None
    rows = con.execute(
        "SELECT coalesce(changed_field_key, '(empty)'), count(*) FROM core.deal_changes "
        "WHERE NOT list_contains(?, lower(trim(coalesce(changed_field_key, '')))) "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        [list(ACCEPTED_FIELD_KEYS)],
    ).fetchall()
    n = sum(c for _, c in rows)
    if not n:
        return CheckResult(
            "changed_field_key_accepted",
            "deal_changes",
            "pass",
            0,
            f"all keys are one of {', '.join(ACCEPTED_FIELD_KEYS)}",
        )
    shown = _examples([f"{k} ({c})" for k, c in rows])
    return CheckResult(
        "changed_field_key_accepted",
        "deal_changes",
        "warn",
        n,
        f"{n} changes of fields the marts ignore: {shown}",
    )


def _orphans(
    con: duckdb.DuckDBPyConnection,
    name: str,
    table: str,
    sql: str,
    what: str,
    status: str = "warn",
) -> CheckResult:
    ids = [r[0] for r in con.execute(sql).fetchall()]
    if not ids:
        return CheckResult(name, table, "pass", 0, f"every {what} exists")
    return CheckResult(
        name, table, status, len(ids), f"{len(ids)} unknown {what}s ({_examples(ids)})"
    )


def check_activity_users(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Relationship activities.user_id → users.user_id."""
    if not _rows(con, "core", "activities") or not _rows(con, "core", "users"):
        return None
    return _orphans(
        con,
        "activities_user_exists",
        "activities",
        "SELECT DISTINCT a.user_id FROM core.activities a ANTI JOIN core.users u "
        "ON u.user_id = a.user_id WHERE a.user_id IS NOT NULL ORDER BY 1",
        "assigned user",
    )


def check_deal_owners(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Relationship deal_changes user_id values → users.user_id."""
    if not _rows(con, "core", "deal_changes") or not _rows(con, "core", "users"):
        return None
    return _orphans(
        con,
        "deal_owner_exists",
        "deal_changes",
        "SELECT DISTINCT trim(d.new_value) FROM core.deal_changes d ANTI JOIN core.users u "
        "ON u.user_id = trim(d.new_value) WHERE lower(trim(d.changed_field_key)) = 'user_id' "
        "AND d.new_value IS NOT NULL ORDER BY 1",
        "owner",
    )


def check_deal_stages(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Relationship deal_changes stage_id values → a stage with a label."""
    if not _rows(con, "core", "deal_changes") or not table_exists(con, "marts", "int_stages"):
        return None
    return _orphans(
        con,
        "deal_stage_exists",
        "deal_changes",
        "SELECT DISTINCT trim(d.new_value) FROM core.deal_changes d ANTI JOIN "
        "(SELECT stage_id FROM marts.int_stages WHERE stage_name IS NOT NULL) s "
        "ON s.stage_id = trim(d.new_value) WHERE lower(trim(d.changed_field_key)) = 'stage_id' "
        "AND d.new_value IS NOT NULL ORDER BY 1",
        "stage",
        status="fail",
    )


def check_lost_reasons(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Every lost_reason id decodes to a label of fields.csv's lost_reason options."""
    if not table_exists(con, "marts", "int_deal_lost"):
        return None
    return _orphans(
        con,
        "lost_reason_decoded",
        "deal_changes",
        "SELECT DISTINCT lost_reason_id FROM marts.int_deal_lost WHERE lost_reason IS NULL "
        "ORDER BY 1",
        "lost reason",
    )


def check_activity_deals(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Relationship activities.deal_id → a deal of the change log (informational)."""
    if not _rows(con, "core", "activities") or not _rows(con, "core", "deal_changes"):
        return None
    sql = (
        "SELECT DISTINCT a.deal_id FROM core.activities a ANTI JOIN "
        "(SELECT DISTINCT deal_id FROM core.deal_changes) d ON d.deal_id = a.deal_id "
        "WHERE a.deal_id IS NOT NULL ORDER BY 1"
    )
    result = _orphans(con, "activities_deal_exists", "activities", sql, "deal")
    if result.status == "pass":
        return result
    return CheckResult(
        result.name,
        result.table,
        result.status,
        result.measured,
        f"{result.measured} deals have activities but no change log entry "
        f"({_examples([r[0] for r in con.execute(sql).fetchall()])}); they still count in the "
        "sales-call steps",
    )


def check_field_options(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    if not _rows(con, "core", "fields"):
        return None
    rows = con.execute(
        "SELECT field_key FROM core.fields WHERE value_options IS NOT NULL AND NOT "
        "coalesce(json_valid(value_options) AND json_type(value_options) = 'ARRAY', false) "
        "ORDER BY 1"
    ).fetchall()
    if not rows:
        return CheckResult(
            "field_options_json", "fields", "pass", 0, "every value_options is a JSON list"
        )
    return CheckResult(
        "field_options_json",
        "fields",
        "fail",
        len(rows),
        f"value_options of {_examples([r[0] for r in rows])} is not a JSON list of options",
    )


def check_funnel_monotonic(con: duckdb.DuckDBPyConnection, cfg: Config) -> CheckResult | None:
    """Over the whole period, each stage step has no more deals than the stage step before."""
    if not table_exists(con, "marts", "int_deal_funnel_entries"):
        return None
    rows = con.execute(
        "SELECT s.funnel_step, s.kpi_name, count(e.deal_id) FROM marts.int_funnel_steps s "
        "LEFT JOIN marts.int_deal_funnel_entries e ON e.funnel_step = s.funnel_step "
        "WHERE s.step_source = 'stage' GROUP BY ALL ORDER BY any_value(s.step_order)"
    ).fetchall()
    rises = [
        f"{cur[0]} {cur[1]} ({cur[2]:,}) > {prev[0]} {prev[1]} ({prev[2]:,})"
        for prev, cur in zip(rows, rows[1:], strict=False)
        if cur[2] > prev[2]
    ]
    (skipped,) = con.execute(
        "WITH st AS (SELECT step_order, funnel_step, lag(funnel_step) OVER (ORDER BY step_order) "
        "AS prev_step FROM marts.int_funnel_steps WHERE step_source = 'stage') "
        "SELECT count(DISTINCT e.deal_id) FROM marts.int_deal_funnel_entries e "
        "JOIN st ON st.funnel_step = e.funnel_step AND st.prev_step IS NOT NULL "
        "ANTI JOIN marts.int_deal_funnel_entries p "
        "ON p.deal_id = e.deal_id AND p.funnel_step = st.prev_step"
    ).fetchone()
    note = f"; {skipped:,} deals skipped a stage step on the way" if skipped else ""
    if not rises:
        return CheckResult(
            "funnel_monotonic",
            "rep_sales_funnel_monthly",
            "pass",
            0,
            "deals per stage step never rise along the funnel" + note,
        )
    return CheckResult(
        "funnel_monotonic",
        "rep_sales_funnel_monthly",
        "warn",
        len(rises),
        "more deals enter a later stage step than the one before: " + "; ".join(rises) + note,
    )


CHECKS: tuple[Callable[[duckdb.DuckDBPyConnection, Config], CheckResult | None], ...] = (
    check_deal_ids,
    lambda con, cfg: _key_unique(con, "stages", "stage_id"),
    lambda con, cfg: _key_unique(con, "users", "user_id"),
    check_activity_ids,
    check_field_keys,
    check_field_options,
    check_activity_users,
    check_deal_owners,
    check_deal_stages,
    check_lost_reasons,
    check_activity_deals,
    check_funnel_monotonic,
)


def run_checks(
    con: duckdb.DuckDBPyConnection, cfg: Config, run_id: int | None = None
) -> list[CheckResult]:
    """Run every check whose tables are there; store the results under `run_id`."""
    results = [r for check in CHECKS if (r := check(con, cfg)) is not None]
    con.execute(MART_CHECKS_DDL)
    con.execute("DELETE FROM meta.mart_checks WHERE run_id IS NOT DISTINCT FROM ?", [run_id])
    con.executemany(
        "INSERT INTO meta.mart_checks VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
        [(run_id, r.name, r.table, r.status, r.measured, r.detail) for r in results],
    )
    return results


def latest_checks(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """The checks of the most recent run that stored any (empty when there are none)."""
    if not table_exists(con, "meta", "mart_checks"):
        return []
    rows = con.execute(
        "SELECT check_name, table_name, status, measured, detail FROM meta.mart_checks "
        "WHERE run_id IS NOT DISTINCT FROM (SELECT max(run_id) FROM meta.mart_checks) "
        "ORDER BY rowid"
    ).fetchall()
    return [CheckResult(*r) for r in rows]
