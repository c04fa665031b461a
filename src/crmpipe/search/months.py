"""A date range's page on PostgreSQL, read month by month through the field's month index.

Split from search/executor.py, which calls it for every PostgreSQL page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmpipe.search.backends import Backend, PostgresBackend

#: The most months a date range's page is read month by month (beyond, the key walk).
MONTHS_MAX = 600
#: A range beside other terms over more months than this has the key walk tried first, for
#: KEY_WALK_FIRST (crmpipe.search.backends): a long range's matches may come first in key order
#: (`created<2020-01-01 title:director` at 4.5M: 58 ms walked, 110 ms month by month).
KEY_FIRST_MONTHS = 24


def range_months(plan: Any) -> list[dt.datetime] | None:
    """The first instants of the months the query's date range covers, from its start (or the
    column's least value) to its end (or greatest value); None when the query has no such
    range that can be read month by month: no month index, or over MONTHS_MAX months."""
    db: Backend = plan.backend
    span = plan.compiled.date_range
    if plan.month_sql is None or plan.month_index is None or span is None:
        return None
    if not isinstance(db, PostgresBackend) or not db.has_relation(plan.month_index):
        return None
    column, table_sql = db.dialect.ident(span.column), plan.table_sql
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
    return [dt.datetime(m // 12, m % 12 + 1, 1) for m in range(first, last + 1)]


def month_page_keys(
    plan: Any, months: list[dt.datetime] | None, limit: int, counted_in: float = 0.0
) -> list[Any] | None:
    """The page's keys of a query requiring a range on one date or timestamp field, read month
    by month through the field's month index (crmpipe.publish.search_ddl.month_index): the
    first `limit` matching keys of each month the range covers (an index walk that stops
    there), merged and cut to `limit`. Exact: every match lies in one of those months, and a
    month's first matches include those among the page. `plan` is the executor's plan
    (`month_sql`, `month_params`, `month_index`, its backend, compiled query and table).

    `months`: range_months(plan). None when the query has no such range (`months` None), or
    when the range stands beside other terms and the walk was given up after the key walk's
    time (PostgresBackend.walk): a month may hold few of their matches. The caller then reads
    the page another way.

    This is the page the key walk would find, in milliseconds where the walk may pass millions
    of rows first: `created>2024-01-01` at 1M contacts, whose matches come last in key order
    (keys given out in creation order), 533 ms → 5 ms p50; `created>2024-01-01 state:CA` at
    4.5M, 3.4-3.6 s → 68-107 ms (docs/benchmarks.md).
    """
    if months is None or not months:
        return months
    db: PostgresBackend = plan.backend
    params = [months, *plan.month_params, limit, limit]
    if plan.compiled.date_range.alone:
        return [row[0] for row in db.execute(plan.month_sql, params).fetchall()]
    rows = db.walk(plan.month_sql, params, counted_in=counted_in)
    return None if rows is None else [row[0] for row in rows]
