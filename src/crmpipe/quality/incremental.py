"""Checks counted from the rows an incremental build changed, where their counts add up.

The checks of a table are one scan (quality.engine): per row, whether it fails each row-level
check and whether it is quarantined (`_q`), summed into counts, plus the newest date of each
date column. At 4.5M contacts that scan took 1–1.9 s of a drop's run, for the 50k rows the drop
brought. An incremental build (build.incremental.merge_core) knows the rows it took out of
core.<table> (`left`: versions replaced by a new one) and those it put in (`came`: the new
winners and the rows the checks had quarantined, back to be checked again); it keeps a copy of
each. The figures of the rows the last run's checks kept in core are recorded
(`meta.check_state`, as one JSON list per table), so this run's are

    kept last time − left + came

count by count, each side from the same SELECT run over the small copies. That holds only
where a row's flags are what they were the last time, so the record says what they stand for
(`basis`): the SELECT's text (columns, predicates, which columns have cleaning issues) and, for
each relationship check, the set of key values of its target table (as a count and two sums of
hashes). A changed target, an `expression` check (its SQL may read other tables or the clock),
no record, or a record of something else: the full scan, as before. So is a newest date that a
row left with (the newest of the rest is not known without reading them), a left row that
would now be quarantined, or a row count that does not add up to the table's.

Rows failing `error` checks can then only be among `came` (every other row passed the same
checks last time), and the quarantine move reads only those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from crmpipe.build.core import Delta
from crmpipe.config.checks import Check
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

STATE_TABLE = "meta.check_state"
STATE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (table_name VARCHAR, basis VARCHAR, figures VARCHAR)"
)


@dataclass(frozen=True)
class Layout:
    """Where the scan's figures are: `checks` row-level checks' failure counts over every row
    (positions 3..) and over kept rows (the last `checks`), `stamps` newest dates before
    those; every other figure is a count."""

    checks: int
    stamps: int

    def newest(self, size: int) -> range:
        end = size - self.checks
        return range(end - self.stamps, end)


def _fingerprint(con: duckdb.DuckDBPyConnection, c: Check) -> list[Any]:
    """What a relationship check's rows are tested against: its target's set of key values."""
    target, column = c.params["to_table"], quote_ident(c.params["to_column"])
    if not table_exists(con, "core", target):
        return [c.name, None]
    ((n, total, xor),) = con.execute(
        "SELECT count(*), CAST(sum(h::HUGEINT) AS VARCHAR), bit_xor(h) FROM (SELECT DISTINCT "
        f"hash({column}) AS h FROM core.{quote_ident(target)} WHERE {column} IS NOT NULL)"
    ).fetchall()
    return [c.name, n, total, xor]


def basis(con: duckdb.DuckDBPyConnection, template: str, checks: list[Check]) -> str | None:
    """What the figures of the scan `template` (its SQL, the source left as `{source}`) over
    `checks` stand for; None where they cannot be counted from changed rows alone."""
    if any(c.type == "expression" for c in checks):
        return None
    targets = [_fingerprint(con, c) for c in checks if c.type == "relationship"]
    return hashlib.sha256(json.dumps([template, targets]).encode()).hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "ts" in value:
            return datetime.fromisoformat(value["ts"])
        return date.fromisoformat(value["d"])
    return value


def kept(figures: list[Any], layout: Layout) -> list[Any]:
    """The figures of the rows the checks keep in core (what the next run counts from): every
    row is a kept one, its failures those of kept rows."""
    out = list(figures)
    out[0], out[1] = figures[2], 0
    out[3 : 3 + layout.checks] = figures[len(figures) - layout.checks :]
    return out


def save(
    con: duckdb.DuckDBPyConnection, table: str, basis_: str | None, figures: list[Any]
) -> None:
    """Record the kept rows' `figures` (`kept`) and their `basis` (none: forget them)."""
    con.execute(STATE_DDL)
    con.execute(f"DELETE FROM {STATE_TABLE} WHERE table_name = ?", [table])
    if basis_ is not None:
        text = json.dumps([_encode(v) for v in figures])
        con.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?)", [table, basis_, text])


def forget(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Forget the recorded figures of `table`, whose rows a later step of the run rewrote after
    its checks (the inferred gender, masked PII): its next checks read it all."""
    save(con, table, None, [])


def counted(
    con: duckdb.DuckDBPyConnection,
    table: str,
    basis_: str | None,
    scan: Callable[[str], str],
    delta: Delta,
    layout: Layout,
) -> list[Any] | None:
    """This run's figures of core.<table> from the recorded ones and the changed rows (`scan`
    makes the figures' SELECT over a source table); None where they cannot be: scan it all."""
    if basis_ is None or not table_exists(con, "meta", STATE_TABLE.split(".")[1]):
        return None
    rows = con.execute(
        f"SELECT basis, figures FROM {STATE_TABLE} WHERE table_name = ?", [table]
    ).fetchall()
    if len(rows) != 1 or rows[0][0] != basis_:
        return None
    before = [_decode(v) for v in json.loads(rows[0][1])]
    left = list(con.execute(scan(delta.left)).fetchone())
    came = list(con.execute(scan(delta.came)).fetchone())
    if left[1] or len(before) != len(left):  # a left row would be quarantined now
        return None
    newest = layout.newest(len(before))
    out: list[Any] = []
    for i, (b, gone, new) in enumerate(zip(before, left, came, strict=True)):
        if i not in newest:
            out.append(b - gone + new)
        elif gone is not None and (b is None or gone >= b):
            return None  # the newest value left: the rest's newest is not known
        else:
            out.append(max((v for v in (b, new) if v is not None), default=None))
    ((rows_now,),) = con.execute(f"SELECT count(*) FROM core.{quote_ident(table)}").fetchall()
    return out if out[0] == rows_now else None
