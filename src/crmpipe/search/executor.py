"""Run a query against the search table: the top rows and a capped count.

This is the API the CLI, the shell, the HTTP API and the web UI call, on either store: `con` is
a DuckDB connection, a psycopg connection (the published schema `crmpipe`) or a `Backend`
(search/backends.py). The total is counted only up to `count_cap` (a scan that stops after
cap + 1 matches), so a query matching millions of rows still answers at once and shows
"10,000+"; each store answers in two statements, the capped count with the page's keys and
then the page (`_duckdb_page`, `_postgres_page`). search.explainer shows those statements.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmpipe.search import backends
from crmpipe.search.backends import PG_SCHEMA, Backend, PostgresBackend, as_backend, choose_table
from crmpipe.search.candidates import first_answer, lead_statement
from crmpipe.search.compiler import CompiledQuery, compile_search
from crmpipe.search.dialects import pg_month, pg_month_index
from crmpipe.search.errors import QueryError, unknown_name_error
from crmpipe.search.fields import Field
from crmpipe.search.months import KEY_FIRST_MONTHS, month_page_keys, range_months
from crmpipe.search.tokens import TokenQuery, first_keys

#: The DuckDB warehouse's search table (PostgreSQL: `crmpipe.contact_search`).
#: Shown when the caller does not choose columns (those the table has, in this order).
DEFAULT_COLUMNS = ("contact_id", "full_name", "title", "emails", "phone", "display_name", "state")
#: The key results are ordered by (after the rank, when there is one).
KEY_COLUMN = "contact_id"
#: How PostgreSQL orders keys the way DuckDB does (bytes, whatever the database's collation).
_PG_KEY_ORDER = 'COLLATE "C"'


@dataclass
class SearchResult:
    """One page of results and how many rows matched (`total`, at most `count_cap`).

    `capped` means more rows matched than were counted: show `total_label` ("10,000+").
    `sql` and `params` are the statement that produced `rows`.
    """

    columns: list[str]
    rows: list[tuple]
    total: int
    capped: bool
    sql: str
    params: list
    elapsed_ms: float

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.capped else f"{self.total:,}"


@dataclass(frozen=True)
class _Plan:
    compiled: CompiledQuery
    rows_sql: str  # the page in key order
    rows_params: list[Any]
    ranked_sql: str | None  # the page best-ranked first, when the query has a rank
    ranked_params: list[Any]
    count_sql: str
    columns: list[str]
    backend: Backend
    table_sql: str  # the search table, quoted
    keys_sql: str | None = None  # DuckDB: count of up to cap + 1 matches, and their first keys
    page_sql: str | None = None  # DuckDB: the page's rows for a list of keys (and rowids)
    first_sql: str | None = None  # PostgreSQL: capped count, and the page's keys when few
    first_params: list[Any] = field(default_factory=list)  # ... all but the last three
    by_rowid: bool = False  # DuckDB: page_sql reads the rows by rowid (a base table)
    bounded_sql: str = ""  # DuckDB: the page in key order among matches whose key <= a bound
    month_sql: str | None = None  # PostgreSQL: a date range's page keys, month by month
    month_index: str | None = None  # ... through this index (qualified), when it exists
    month_params: list[Any] = field(default_factory=list)  # ... its condition's parameters
    tokens: TokenQuery | None = None  # DuckDB: the postings answering the first statement
    keyed_sql: str = ""  # DuckDB: the page's rows by key alone (keys from search.tokens)
    lead_sql: str | None = None  # PostgreSQL: first_sql through a term's candidates first
    lead_sides_sql: str = ""  # ... and its two sides apart, whose estimates decide (candidates)


def search(
    con: Any,
    query: str,
    *,
    aliases: Mapping[str, str] | None = None,
    shorthands: Mapping[str, str] | None = None,
    limit: int = 50,
    count_cap: int | None = 10_000,
    columns: Sequence[str] | None = None,
    table: str | None = None,
    fields: Mapping[str, Field] | None = None,
) -> SearchResult:
    """Run `query`: the first `limit` rows (best first) and the number of matches.

    Results are ordered by `contact_id`, except that when free terms are alternatives (`accela
    OR granicus`) and at most `count_cap` rows match, rows holding more of them come first
    (ranking more would mean scoring every match). `count_cap=None` counts exactly. `fields`
    lets a caller that runs many queries load the field registry once. `table` defaults to the
    store's search table. Raises QueryError for a query that cannot run (syntax, unknown field
    or column, wrong value type) or that the database refused (PostgreSQL's statement timeout).
    """
    started = time.perf_counter()
    plan = _plan(
        con,
        query,
        aliases=aliases,
        shorthands=shorthands,
        limit=limit,
        count_cap=count_cap,
        columns=columns,
        table=table,
        fields=fields,
    )
    db = plan.backend
    if plan.first_sql is not None:
        rows, total, capped, sql, params = _postgres_page(plan, limit, count_cap)
    elif plan.ranked_sql is not None:
        # Count first: rank only a set small enough to count, else fall back to key order.
        total, capped = _count(plan, count_cap)
        sql, params = (
            (plan.rows_sql, plan.rows_params) if capped else (plan.ranked_sql, plan.ranked_params)
        )
        rows = db.execute(sql, params).fetchall()
    elif plan.keys_sql is not None:
        rows, total, capped, sql, params = _duckdb_page(plan, limit, count_cap)
    else:
        sql, params = plan.rows_sql, plan.rows_params
        rows = db.execute(sql, params).fetchall()
        if len(rows) < limit:  # the page holds every match: no need to count
            total, capped = len(rows), False
        else:
            total, capped = _count(plan, count_cap)
    return SearchResult(
        columns=plan.columns,
        rows=rows,
        total=total,
        capped=capped,
        sql=sql,
        params=params,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _duckdb_page(
    plan: _Plan, limit: int, count_cap: int | None
) -> tuple[list[tuple], int, bool, str, list[Any]]:
    """(rows, total, capped, sql, params) on DuckDB, in two statements whatever the matches.

    The first scan counts up to count_cap + 1 matches, in storage order (it stops once that
    many are found), and keeps the `limit` smallest keys among them (in DuckDB: only the page's
    keys reach Python). When that is every match, the page is those keys' rows, read back by
    rowid. When more match, the page is the top `limit` of the matches whose key is at most
    the largest of those keys: exact whatever the storage order (`limit` matches are known to
    lie at or below that bound), and cheap in the order the build writes (contact_id), since
    DuckDB then skips every row group above the bound. Each statement scans no more than it
    must: a common term reads a few row groups, a rare one the table once. With
    count_cap=None the first scan stops after _DUCKDB_EXACT_PROBE + 1 matches likewise, and
    only when there are more does a plain count(*) follow (cheaper than keeping every key).
    """
    db = plan.backend
    assert plan.keys_sql is not None and plan.page_sql is not None
    probe = count_cap if count_cap is not None else _DUCKDB_EXACT_PROBE
    # the postings instead of the scan, where they answer the query (search.tokens): keys
    # only, the page then read by key (through the key's index)
    got = first_keys(db, plan.tokens, limit, probe) if plan.tokens is not None else None
    keyed = got is not None
    if got is not None:
        n, first = got[0], [{"k": k} for k in got[1]]
    else:
        n, first = db.execute(plan.keys_sql, [max(limit, 1), *plan.compiled.params]).fetchall()[0]
    page = (first or [])[:limit]
    total, more = min(n, probe), n > probe
    capped = more and count_cap is not None
    if more and count_cap is None:
        total, _ = _count(plan, None)
    if not more:
        params = [[p["k"] for p in page]]
        params += [[p["r"] for p in page]] if plan.by_rowid and not keyed else []
        sql = plan.keyed_sql if keyed else plan.page_sql
    elif len(page) == limit and limit > 0:
        sql, params = plan.bounded_sql, [*plan.rows_params[:-1], page[-1]["k"]]
    else:  # fewer counted than a page (count_cap < limit): the plain top-N
        sql, params = plan.rows_sql, plan.rows_params
    if not page and not more:
        return [], total, capped, sql, params
    return db.execute(sql, params).fetchall(), total, capped, sql, params


#: DuckDB, count_cap=None: how many matches the first scan collects before counting apart.
_DUCKDB_EXACT_PROBE = 10_000
#: The largest page read through the one-scan key plan on DuckDB: `min_by(..., n)` keeps n keys
#: per thread, and DuckDB refuses n of 1,000,000 or more. Larger pages (exports, tests asking
#: for every match) take the plain ordered query.
_KEYED_PAGE_MAX = 10_000


#: PostgreSQL: with count_cap=None, up to this many matches are paged by key (as under a cap).
_PG_KEYS_MAX = 10_000


def _postgres_page(
    plan: _Plan, limit: int, count_cap: int | None
) -> tuple[list[tuple], int, bool, str, list[Any]]:
    """(rows, total, capped, sql, params) on PostgreSQL, in two statements whatever the plan.

    The first counts the matches up to count_cap + 1 and, when there are no more than
    count_cap, returns the page's keys in order (rank, then key) too: one scan, which the
    covering B-trees and the lookups answer from indexes. Few matches: their rows are read by
    key. Many: the page is the first `limit` in key order, read by walking the key index with
    sorting switched off for that statement, since only the count says that plan is the right
    one (the planner, misjudging how many rows an ILIKE or a lookup matches, may otherwise
    collect every match and sort them: half a second at 4.5M contacts); see
    PostgresBackend.key_order_page for when the walk is too long.
    """
    db = plan.backend
    assert plan.first_sql is not None
    started = time.perf_counter()
    n, keys = first_answer(db, plan, first_tail(count_cap, limit))
    counted_in = time.perf_counter() - started
    capped = count_cap is not None and n > count_cap
    total = min(n, count_cap) if count_cap is not None else n
    if keys is not None:
        if not keys:
            return [], total, capped, plan.first_sql, plan.first_params
        assert plan.page_sql is not None
        rows = db.execute(plan.page_sql, [list(keys)]).fetchall()
        position = {k: i for i, k in enumerate(keys)}
        rows.sort(key=lambda row: position[row[-1]])
        return [row[:-1] for row in rows], total, capped, plan.page_sql, [list(keys)]
    if plan.ranked_sql is not None and not capped:  # count_cap=None and many matches
        sql, params = plan.ranked_sql, plan.ranked_params
        return db.execute(sql, params).fetchall(), total, capped, sql, params
    months = range_months(plan)
    beside = months is not None and not plan.compiled.date_range.alone
    if beside and len(months) > KEY_FIRST_MONTHS:  # a long range's matches may come first
        assert isinstance(db, PostgresBackend)
        floor = backends.KEY_WALK_FIRST
        rows = db.walk(plan.rows_sql, plan.rows_params, floor=floor)
        if rows is not None:
            return rows, total, capped, plan.rows_sql, plan.rows_params
    month_keys = month_page_keys(plan, months, limit, counted_in)
    if month_keys is not None:
        assert plan.page_sql is not None
        rows = db.execute(plan.page_sql, [month_keys]).fetchall()
        position = {k: i for i, k in enumerate(month_keys)}
        rows.sort(key=lambda row: position[row[-1]])
        return [row[:-1] for row in rows], total, capped, plan.page_sql, [month_keys]
    sql, params = plan.rows_sql, plan.rows_params
    rows = db.key_order_page(sql, params, counted_in=counted_in, walk=not beside)
    return rows, total, capped, sql, params


def first_tail(count_cap: int | None, limit: int) -> list[Any]:
    """The last three parameters of PostgreSQL's first statement: the count's cut (cap + 1),
    the most keys it returns, the page's size."""
    cap = count_cap if count_cap is not None else _PG_KEYS_MAX
    return [count_cap + 1 if count_cap is not None else None, cap, limit]


def _count(plan: _Plan, count_cap: int | None) -> tuple[int, bool]:
    """(number of matches up to count_cap, whether there are more)."""
    db = plan.backend
    if count_cap is None:
        sql = f"SELECT count(*) FROM {plan.table_sql} WHERE {plan.compiled.where}"
        return db.execute(sql, plan.compiled.params).fetchone()[0], False
    # DuckDB's count has its limit written in (_plan); PostgreSQL's takes it as a parameter
    cut = [] if db.name == "duckdb" else [count_cap + 1]
    n = db.execute(plan.count_sql, [*plan.compiled.params, *cut]).fetchone()[0]
    return min(n, count_cap), n > count_cap


def _plan(
    con: Any,
    query: str,
    *,
    aliases: Mapping[str, str] | None,
    shorthands: Mapping[str, str] | None,
    limit: int,
    count_cap: int | None,
    columns: Sequence[str] | None,
    table: str | None,
    fields: Mapping[str, Field] | None,
) -> _Plan:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise QueryError(f"limit must be a whole number ≥ 0, not {limit!r}")
    if count_cap is not None and (
        isinstance(count_cap, bool) or not isinstance(count_cap, int) or count_cap < 0
    ):
        raise QueryError(f"count_cap must be a whole number ≥ 0 or None, not {count_cap!r}")
    db, table = choose_table(as_backend(con), table)
    registry = fields if fields is not None else db.load_fields(aliases)
    dialect, page_dialect = db.dialect, db.page_dialect
    if isinstance(db, PostgresBackend):  # a vocabulary's values read once per search
        values = functools.cache(db.vocabulary_values)
        dialect, page_dialect = dialect.with_values(values), page_dialect.with_values(values)
    compiled = compile_search(query, registry, shorthands=shorthands, dialect=dialect)
    # The page in key (or rank) order: PostgreSQL writes its lookups for an index walk there.
    paged = compiled
    if page_dialect is not dialect:
        paged = compile_search(query, registry, shorthands=shorthands, dialect=page_dialect)
    available = db.table_columns(table)
    shown = _columns(columns, available, db.search_spec.default_columns)
    ident, mark = db.dialect.ident, db.dialect.placeholder
    key = db.order_key(ident(KEY_COLUMN if KEY_COLUMN in available else available[0]))
    tbl = db.qualified(table)
    select = f"SELECT {', '.join(ident(c) for c in shown)} FROM {tbl} WHERE {paged.where}"
    rows_sql = f"{select} ORDER BY {key} LIMIT {mark}"
    ranked_sql, ranked_params = None, []
    if paged.rank:
        ranked_sql = f"{select} ORDER BY {paged.rank} DESC, {key} LIMIT {mark}"
        ranked_params = [*paged.params, *paged.rank_params, limit]
    # DuckDB: limits written as literals (whole numbers checked above), not parameters: a
    # `LIMIT ?` in a subquery halves the scan's speed (the filter query at 1M contacts: 57 ms
    # with one, 31 ms without; docs/benchmarks.md)
    cut = f"{int(count_cap) + 1}" if db.name == "duckdb" and count_cap is not None else mark
    count_sql = f"SELECT count(*) FROM (SELECT 1 FROM {tbl} WHERE {compiled.where} LIMIT {cut}) s"
    keys_sql = page_sql = first_sql = tokens = None
    keyed_sql = ""
    first_params: list[Any] = []
    by_rowid, bounded_sql = False, ""
    month_sql = month_index = lead_sql = None
    month_params: list[Any] = []
    lead_sides_sql = ""
    if db.name == "postgres":
        # See _postgres_page. The page's keys come back already ordered (rank, then key) and
        # cut to `limit`; the rows query returns the key last, to put its rows in that order.
        rank = f", {compiled.rank} AS r_" if compiled.rank else ""
        order = f"r_ DESC, k_ {_PG_KEY_ORDER}" if compiled.rank else f"k_ {_PG_KEY_ORDER}"
        raw_key = ident(KEY_COLUMN if KEY_COLUMN in available else available[0])
        # The keys are gathered in a subquery the CASE runs only when they are wanted: an
        # aggregate beside count(*) would sort all cap + 1 keys of a capped query for nothing
        # (4 of its 8 ms for `created>2024-01-01` at 1M contacts).
        first_sql = (
            f"WITH m AS MATERIALIZED (SELECT {raw_key} AS k_{rank} FROM {tbl} "
            f"WHERE {compiled.where} LIMIT {mark}) SELECT count(*), CASE WHEN count(*) <= "
            f"{mark} THEN (SELECT coalesce((array_agg(k_ ORDER BY {order}))[1:{mark}], '{{}}') "
            "FROM m) END FROM m"
        )
        first_params = [*compiled.rank_params, *compiled.params]
        if compiled.lead is not None:
            order = f"k_ {_PG_KEY_ORDER}"
            lead_sides_sql, lead_sql = lead_statement(
                compiled.lead, tbl, raw_key, available, ident, order
            )
        # The key compared in the key index's collation, so that index finds the page's rows.
        page_sql = (
            f"SELECT {', '.join(ident(c) for c in shown)}, {raw_key} FROM {tbl} "
            f"WHERE {key} = ANY({mark})"
        )
        span = compiled.date_range
        index = pg_month_index(table.rpartition(".")[2], span.column) if span else None
        if span is not None and index is not None and not compiled.rank:
            # See search/months.py: per month the first keys, by the month index; beside other
            # terms, walked as the key index is (their lookups hashed once, not per month).
            month_index = f"{table.rpartition('.')[0] or PG_SCHEMA}.{index}"
            month = pg_month(ident(span.column), span.kind.value)
            walked = compiled if span.alone else paged
            month_sql = (
                f"SELECT k_ FROM unnest({mark}::timestamp[]) AS b_(m_), LATERAL (SELECT "
                f"{raw_key} AS k_ FROM {tbl} WHERE {month} = b_.m_ AND ({walked.where}) "
                f"ORDER BY {key} LIMIT {mark}) s_ ORDER BY k_ {_PG_KEY_ORDER} LIMIT {mark}"
            )
            month_params = walked.params
    elif db.name == "duckdb" and KEY_COLUMN in available and limit <= _KEYED_PAGE_MAX:
        # A base table's page is read back by rowid: DuckDB fetches those rows alone, where a
        # test on the key reads the key column in full (90 ms at 4.5M contacts). The key test
        # stays, so a page can't show other rows should the table be rebuilt in between.
        by_rowid = db.has_rowid(table)
        rowid = "rowid" if by_rowid else "NULL"
        probe = (count_cap if count_cap is not None else _DUCKDB_EXACT_PROBE) + 1
        keys_sql = (
            f"SELECT count(*), min_by({{'k': k_, 'r': r_}}, k_, {mark}) FROM (SELECT {key} AS "
            f"k_, {rowid} AS r_ FROM {tbl} WHERE {compiled.where} LIMIT {int(probe)}) s"
        )
        page_sql = (
            f"SELECT {', '.join(ident(c) for c in shown)} FROM {tbl} "
            f"WHERE list_contains({mark}::VARCHAR[], {key})"
            + (f" AND rowid IN (SELECT unnest({mark}::BIGINT[]))" if by_rowid else "")
            + f" ORDER BY {key}"
        )
        # by key through its ART index (search.tokens): 8 against 30 ms at 4.5M contacts
        keyed_sql = (
            f"SELECT {', '.join(ident(c) for c in shown)} FROM {tbl} "
            f"WHERE {key} IN (SELECT unnest({mark}::VARCHAR[])) ORDER BY {key}"
        )
        tokens = compiled.tokens
        if not by_rowid or (tokens and not tokens.tables["tokens"].startswith(f"{table}_")):
            tokens = None  # a view, or a table whose postings these are not
        bounded_sql = (
            f"SELECT {', '.join(ident(c) for c in shown)} FROM {tbl} WHERE ({paged.where}) "
            f"AND {key} <= {mark} ORDER BY {key} LIMIT {int(limit)}"
        )
    return _Plan(
        compiled,
        rows_sql,
        [*paged.params, limit],
        ranked_sql,
        ranked_params,
        count_sql,
        shown,
        db,
        tbl,
        keys_sql,
        page_sql,
        first_sql,
        first_params,
        by_rowid,
        bounded_sql,
        month_sql,
        month_index,
        month_params,
        tokens,
        keyed_sql,
        lead_sql,
        lead_sides_sql,
    )


def _columns(
    requested: Sequence[str] | None,
    available: list[str],
    defaults: Sequence[str] = DEFAULT_COLUMNS,
) -> list[str]:
    if requested is None:
        shown = [c for c in defaults if c in available]
        return shown or available
    by_lower = {c.lower(): c for c in available}
    out = []
    for name in requested:
        if name.lower() not in by_lower:
            raise unknown_name_error("column", name, available)
        out.append(by_lower[name.lower()])
    if not out:
        raise QueryError("no columns to show")
    return out
