"""A date range's page on PostgreSQL, read month by month through the field's month index.

Split from search/executor.py, which calls it for every PostgreSQL page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmpipe.search.backends import Backend, PostgresBackend
from crmpipe.search.compiler import CompiledQuery

#: The most months a date range's page is read month by month (beyond, the key walk).
MONTHS_MAX = 600


def month_page_keys(
    db: Backend,
    compiled: CompiledQuery,
    table_sql: str,
    month_sql: str | None,
    month_index: str | None,
    limit: int,
) -> list[Any] | None:
    """The page's keys of a query that is a range on one date or timestamp field, read month
    by month through the field's month index (crmpipe.publish.search_ddl.month_index): the
    first `limit` keys of each month the range covers (an index walk that stops there), merged
    and cut to `limit`. Exact: every match lies in one of those months, and a month's first
    keys include its matches among the page. None when the query isn't such a range, the
    index is missing or the range spans over MONTHS_MAX months (PostgresBackend's key walk
    then reads the page).

    This is the page the key walk would find, in a few milliseconds where the walk may pass
    millions of rows first: `created>2024-01-01` at 1M contacts, whose matches come last in
    key order (keys given out in creation order), 533 ms → 5 ms p50 (docs/benchmarks.md).
    """
    span = compiled.date_range
    if month_sql is None or month_index is None or span is None:
        return None
    if not isinstance(db, PostgresBackend) or not db.has_relation(month_index):
        return None
    column = db.dialect.ident(span.column)
    lowest, highest = db.execute(
        f"SELECT (SELECT min({column}) FROM {table_sql}), (SELECT max({column}) FROM {table_sql})"
    ).fetchone()
    low = lowest if span.low is None or (lowest is not None and lowest > span.low) else span.low
    high = (
        highest if span.high is None or (highest is not None and highest < span.high) else span.high
    )
    if low is None or high is None:
        return []
    first, last = low.year * 12 + low.month - 1, high.year * 12 + high.month - 1
    if last - first >= MONTHS_MAX:
        return None
    months = [dt.datetime(m // 12, m % 12 + 1, 1) for m in range(first, last + 1)]
    rows = db.execute(month_sql, [months, *compiled.params, limit, limit]).fetchall()
    return [row[0] for row in rows]
