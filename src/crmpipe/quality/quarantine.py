"""Quarantine: rows that failed an `error` check, kept in `quarantine.<table>` with the reason.

The build creates `quarantine.<table>` on every run (rows without a key go there first); the
checks then move the rows failing `error` checks out of `core.<table>` into it, with the check
name(s) in `_check`, a readable `_reason` and the source lineage (`_source`, `_file`, `_row`).
Nothing is dropped: rows read = loaded + merged + quarantined + rejected. `quarantine()` lists
them for `crmpipe quarantine [TABLE]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from crmpipe.config.suggest import suggest
from crmpipe.errors import CrmpipeError
from crmpipe.model import TABLES
from crmpipe.sqltext import quote_ident, sql_str
from crmpipe.warehouse.connection import table_columns, table_exists


class QuarantineError(CrmpipeError):
    """Unknown table or no warehouse; one line."""


def quarantine_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    run_id: int,
    failing: list[tuple[str, str, str]],
    join: str = "",
    among: tuple[tuple[str, ...], str] | None = None,
) -> int:
    """Move the rows of core.<table> matching any (predicate, check name, reason SQL) to
    quarantine.<table>; return how many moved. A row failing several checks moves once, with
    every check's name and reason. `among` (key columns, a relation holding them): only the
    rows of those keys can fail (the others passed the same checks before)."""
    if not failing:
        return 0
    name = quote_ident(table)
    only = ""
    if among:
        keys = ", ".join(quote_ident(k) for k in among[0])
        mine = ", ".join(f"c.{quote_ident(k)}" for k in among[0])
        only = f" WHERE ({mine}) IN (SELECT ({keys}) FROM {among[1]})"
    checks = ", ".join(
        f"CASE WHEN _f{i} THEN {sql_str(n)} END" for i, (_, n, _) in enumerate(failing)
    )
    reasons = ", ".join(f"CASE WHEN _f{i} THEN _r{i} END" for i in range(len(failing)))
    inner = ", ".join(
        f"{pred} AS _f{i}, CASE WHEN {pred} THEN {reason} END AS _r{i}"
        for i, (pred, _, reason) in enumerate(failing)
    )
    any_failed = " OR ".join(f"_f{i}" for i in range(len(failing)))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _crm_quarantine AS SELECT _rid, "
        f"concat_ws(', ', {checks}) AS _check, concat_ws('; ', {reasons}) AS _reason "
        f"FROM (SELECT c.rowid AS _rid, {inner} FROM core.{name} c{join}{only}) "
        f"WHERE {any_failed}"
    )
    con.execute(
        f"INSERT INTO quarantine.{name} BY NAME SELECT c.*, q._check, q._reason, "
        f"{int(run_id)}::BIGINT AS _quarantined_run "
        f"FROM core.{name} c JOIN _crm_quarantine q ON c.rowid = q._rid"
    )
    con.execute(f"DELETE FROM core.{name} WHERE rowid IN (SELECT _rid FROM _crm_quarantine)")
    (moved,) = con.execute("SELECT count(*) FROM _crm_quarantine").fetchone()
    con.execute("DROP TABLE _crm_quarantine")
    return int(moved)


def quarantine_repeats(
    con: duckdb.DuckDBPyConnection, table: str, key: str, check: str, run_id: int | None
) -> int:
    """Move repeats of a `key` within one export of staging.<table> to quarantine.<table>.

    The core build kept the last row of each key (newest file, then last row) and counted the
    rest as merged versions. Versions from an older export are updates, fine to merge; repeats
    inside the winning export are defects (two different records share a key), so they are
    quarantined as `check` with the reason, and the run's `meta.table_counts` moves them from
    merged to quarantined, keeping `read = loaded + merged + quarantined + rejected` true.
    Returns how many rows `check` holds in quarantine.<table>.
    """
    if not all(table_exists(con, s, table) for s in ("staging", "core", "quarantine")):
        return 0
    name, k = quote_ident(table), quote_ident(key)
    reason = sql_str(f"{key} {{}} appears {{}} times in {{}}; record {{}} is kept")
    con.execute(f"DELETE FROM quarantine.{name} WHERE _check = ?", [check])
    con.execute(
        f"INSERT INTO quarantine.{name} BY NAME "
        "WITH ranked AS (SELECT *, row_number() OVER w AS _rank, "
        "first_value(_file_hash) OVER w AS _winner_hash, first_value(_row) OVER w AS _winner_row, "
        f"count(*) OVER (PARTITION BY {k}, _file_hash) AS _copies "
        f"FROM staging.{name} WHERE {k} IS NOT NULL "
        f"WINDOW w AS (PARTITION BY {k} ORDER BY _file_mtime DESC, _file DESC, _row DESC)) "
        "SELECT * EXCLUDE (_rank, _winner_hash, _winner_row, _copies), "
        f"? AS _check, format({reason}, {k}, _copies, _file, _winner_row) AS _reason, "
        "?::BIGINT AS _quarantined_run "
        "FROM ranked WHERE _rank > 1 AND _file_hash = _winner_hash",
        [check, run_id],
    )
    (moved,) = con.execute(
        f"SELECT count(*) FROM quarantine.{name} WHERE _check = ?", [check]
    ).fetchone()
    if run_id is not None:
        con.execute(
            "UPDATE meta.table_counts SET "
            f"quarantined = (SELECT count(*) FROM quarantine.{name}), "
            f"merged = staged - loaded - (SELECT count(*) FROM quarantine.{name}) "
            "WHERE run_id = ? AND table_name = ?",
            [run_id, table],
        )
    return int(moved)


@dataclass
class QuarantineListing:
    """Quarantined rows: per table and check when no table is given, else the rows."""

    table: str | None
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    by_check: list[tuple[str, str, int]] = field(default_factory=list)


def quarantine(
    con: duckdb.DuckDBPyConnection, table: str | None = None, *, limit: int = 50
) -> QuarantineListing:
    """The quarantined rows of `table` (key, check, reason, lineage, then the row's values), or
    with no table the count per table and check."""
    tables = [t for t in TABLES if table_exists(con, "quarantine", t)]
    counts: list[tuple[str, str, int]] = []
    for t in tables:
        counts += con.execute(
            f"SELECT ?, _check, count(*) FROM quarantine.{quote_ident(t)} GROUP BY _check "
            "ORDER BY 3 DESC, 2",
            [t],
        ).fetchall()
    if table is None:
        total = sum(n for _, _, n in counts)
        return QuarantineListing(None, ["table", "check", "rows"], list(counts), total, counts)
    if table not in TABLES:
        raise QuarantineError(f"unknown table {table!r}{suggest(table, TABLES)}")
    if table not in tables:
        return QuarantineListing(table, [], [], 0, [])
    key = list(TABLES[table].key)
    first = ["_check", "_reason", "_source", "_file", "_row", *key]
    rest = [
        c
        for c in table_columns(con, "quarantine", table)
        if c not in first and c not in ("_file_mtime", "_file_hash", "_run_id", "_loaded_at")
    ]
    cols = first + rest
    name = quote_ident(table)
    (total,) = con.execute(f"SELECT count(*) FROM quarantine.{name}").fetchone()
    rows = con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM quarantine.{name} "
        "ORDER BY _source, _file, _row LIMIT ?",
        [limit],
    ).fetchall()
    return QuarantineListing(table, cols, rows, int(total), [c for c in counts if c[0] == table])
