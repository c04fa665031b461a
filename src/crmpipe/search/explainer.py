"""`explain`: the statements a search runs, their parameters and the database's plans.

What `crmpipe query --explain` and the shell's `.explain` print: the page's statement, the
ranked one when the query can rank, the store's first statement (PostgreSQL: the capped count and
the page's keys, and the two-phase form of search.candidates when the query has one; DuckDB:
the one scan that counts and keeps the first keys), each with the plan the database chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmpipe.search import backends
from crmpipe.search.candidates import ESTIMATE_MAX
from crmpipe.search.executor import _plan, first_tail
from crmpipe.search.fields import Field
from crmpipe.search.months import KEY_FIRST_MONTHS


def explain(
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
    analyze: bool = False,
) -> str:
    """The SQL `search` would run for `query`, its parameters and the database's plan (EXPLAIN;
    with `analyze`, EXPLAIN ANALYZE: the query runs and the plan shows its real timings)."""
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
    explained = plan.backend.explain(plan.rows_sql, plan.rows_params, analyze=analyze)
    lines = [f"query:  {query}", f"store:  {plan.backend.name}"]
    if plan.compiled.expanded != query:
        lines.append(f"expanded: {plan.compiled.expanded}")
    lines += ["", "rows:", plan.rows_sql, f"params: {plan.rows_params!r}", ""]
    if plan.ranked_sql is not None:
        lines += [
            "rows, ranked (used when at most count_cap rows match):",
            plan.ranked_sql,
            f"params: {plan.ranked_params!r}",
            "",
        ]
    if plan.first_sql is not None:
        first_params = [*plan.first_params, *first_tail(count_cap, limit)]
        lines += [
            "count, and the page's keys when at most count_cap match (their rows are then read"
            " by key; when more match, the rows query above runs, with sorting off):",
            plan.first_sql,
            f"params: {first_params!r}",
            "",
            "plan of the count:",
            *plan.backend.explain(plan.first_sql, first_params, analyze=analyze),
            "",
        ]
        lead = plan.compiled.lead
        if plan.lead_sql is not None and lead is not None:
            lead_params = [*lead.params, *lead.rest_params, *first_params[-3:]]
            lines += [
                "count, read through one term's candidates first (search.candidates) when the"
                " planner expects no more of them than of the rows the other terms select, and"
                f" no more than {ESTIMATE_MAX:,} (else the count above runs); the sides apart:",
                plan.lead_sides_sql,
                *plan.backend.explain(plan.lead_sides_sql, lead_params[:-3]),
                "",
                "the count:",
                plan.lead_sql,
                f"params: {lead_params!r}",
                "",
                "plan of that count:",
                *plan.backend.explain(plan.lead_sql, lead_params, analyze=analyze),
                "",
            ]
        if plan.month_sql is not None:
            lines += [
                "when more match: the page's keys, month by month through the index "
                f"{plan.month_index} if it exists (its months from the range and the column's"
                " least and greatest values; their rows are then read by key), instead of the"
                " rows query above:",
                plan.month_sql,
                *(
                    []
                    if plan.compiled.date_range.alone
                    else [
                        "(beside other terms: walked with sorting off and given up after the"
                        " key walk's time, then the matches are collected; over "
                        f"{KEY_FIRST_MONTHS} months the key walk is tried first for "
                        f"{backends.KEY_WALK_FIRST})"
                    ]
                ),
                "",
            ]
    elif plan.keys_sql is not None and plan.ranked_sql is None:
        lines += [
            "count: this one scan counts up to count_cap + 1 matches and keeps their smallest"
            " keys; when that is every match, the page is read back by rowid; when more match,"
            " the rows query runs with the key at most the largest of those keys (and, for an"
            " exact count, a count(*)):",
            plan.keys_sql,
            f"params: {[max(limit, 1), *plan.compiled.params]!r}",
            "",
        ]
    elif count_cap is not None:
        cut = [] if plan.backend.name == "duckdb" else [count_cap + 1]  # as _count binds it
        lines += [
            "count:",
            plan.count_sql,
            f"params: {[*plan.compiled.params, *cut]!r}",
            "",
        ]
    lines.append("plan:")
    lines += explained
    return "\n".join(lines)
