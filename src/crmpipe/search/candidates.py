"""PostgreSQL: a query's contact-level substring term read first, the rest tested on its rows.

`email:bob tech:accela pop>10000` (the `filter:` shorthand) has one term on the contact's own
text, served by a trigram index, and terms on the contact's entity, answered through
`entities` and `search_values` (search.dialects.Lookup). PostgreSQL plans the one statement by
how many rows it expects `_emails_joined LIKE '%bob%'` to match, and that estimate rests on
whether one of the 100 values of the column's histogram happens to hold `bob`: 427 rows when
none does, 43,309 when one does (the truth at 4.5M contacts: 13,763). With the large estimate
it starts from the entities and reads their 146,000 contacts, 150-260 ms; with the small one it
reads the 13,763 candidates from the trigram index, ~10 ms (docs/benchmarks.md).

So the executor asks first (`Lead`): the term's candidates are collected in a materialized CTE,
at most CANDIDATES_MAX of them, and the other terms tested on those rows alone — the fast plan
whatever the statistics say. Two guards keep it from costing more than it saves: the term is
tried this way only when the planner does not already expect it to match more than
ESTIMATE_MAX rows (a needle it knows is common, `gmail`, would build a trigram bitmap of 100,000s
of rows for nothing), and when the candidates outnumber CANDIDATES_MAX the query runs as the
one statement it was. Both give the same rows: the first statement's count and page keys are
those of the query's whole condition either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmpipe.search.ast import And, Compare, FieldMatch, Node, Value, walk
from crmpipe.search.fields import JOIN_SEPARATOR, Kind

#: The most rows the planner may expect the term to match for it to be read first.
ESTIMATE_MAX = 100_000
#: The most candidates read first; when more match, the query runs as one statement.
CANDIDATES_MAX = 50_000
#: The trigram index finds a needle by its words' trigrams: one with no run of three letters or
#: digits (`ab`, `.g`, `@`) would read the whole index.
_TRIGRAM = re.compile(r"[^\W_]{3}")


@dataclass(frozen=True)
class Lead:
    """A query's required substring term on an indexed contact column (`where`, `params`) and
    the query's other required terms (`rest`, `rest_params`), tested on the term's rows."""

    where: str
    params: list[Any]
    rest: str
    rest_params: list[Any]


def lead_terms(tree: Node, compiler: Any) -> Lead | None:
    """The Lead of `tree` when it is an AND of a substring term on a trigram-indexed contact
    column and at least one term through an entity lookup, else None. `compiler` is a fresh
    search.compiler._Compiler for the PostgreSQL dialect (its `compile`, `fields`, `d`)."""
    if not isinstance(tree, And):
        return None
    needles = [(len(n), i) for i, c in enumerate(tree.children) if (n := _needle(c, compiler))]
    if not needles:
        return None
    _, first = max(needles)  # the longest needle: the fewest candidates, as a rule
    rest = tree.children[:first] + tree.children[first + 1 :]
    if not any(_looked_up(node, compiler) for child in rest for node in walk(child)):
        return None  # terms on the contact's own columns: one statement plans them well
    lead = compiler.compile(tree.children[first])
    others = compiler.compile(And(rest))
    return Lead(lead.sql, list(lead.params), others.sql, list(others.params))


def _needle(node: Node, compiler: Any) -> str | None:
    """The needle of `node` if it is one substring value on a trigram-indexed contact column."""
    if not isinstance(node, FieldMatch) or len(node.values) != 1:
        return None
    value = node.values[0]
    f = compiler.fields.get(node.field.lower())
    if not isinstance(value, Value) or f is None or f.kind not in (Kind.TEXT, Kind.TEXT_LIST):
        return None
    d = compiler.d
    column = d.ident(f.column)
    tested = column if f.kind is Kind.TEXT else f.match_column and d.ident(f.match_column)
    needle = value.text.lower()
    if column in d.lookups or tested not in d.trigram or JOIN_SEPARATOR in needle:
        return None
    return needle if _TRIGRAM.search(needle) and "\x00" not in needle else None


def _looked_up(node: Node, compiler: Any) -> bool:
    """Whether `node` is a term on a field searched through an entity lookup (by its key)."""
    if not isinstance(node, FieldMatch | Compare):
        return False
    f = compiler.fields.get(node.field.lower())
    lookup = compiler.d.lookups.get(compiler.d.ident(f.column)) if f is not None else None
    return lookup is not None and lookup.key is not None


def lead_statement(
    lead: Lead, table: str, key: str, columns: list[str], ident: Any, order: str
) -> tuple[str, str]:
    """(the planner's question, the two-phase first statement) for `lead` on `table`.

    The first is an EXPLAIN of the term alone (its estimated rows, in JSON). The second
    returns what the executor's first statement does — the capped count of the matches and,
    when there are no more than the cap, the page's keys — and the number of candidates read,
    so that the executor knows whether they were all of them. `columns` are the table's: the
    candidates carry the key and those the other terms test."""
    # a column the other terms test on the search table itself (not a lookup's `l_."column"`)
    tested = [
        ident(c) for c in columns if re.search(rf"(?<![.\w]){re.escape(ident(c))}", lead.rest)
    ]
    carried = ", ".join([f"{key} AS k_", *tested])
    estimate = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} WHERE {lead.where}"
    statement = (
        f"WITH c AS MATERIALIZED (SELECT {carried} FROM {table} WHERE {lead.where} "
        f"LIMIT {CANDIDATES_MAX + 1}), m AS MATERIALIZED (SELECT k_ FROM c WHERE {lead.rest} "
        "LIMIT %s) SELECT count(*), CASE WHEN count(*) <= %s THEN (SELECT coalesce((array_agg("
        f"k_ ORDER BY {order}))[1:%s], '{{}}') FROM m) END, (SELECT count(*) FROM c) FROM m"
    )
    return estimate, statement


def first_answer(db: Any, plan: Any, tail: list[Any]) -> tuple[int, list[str] | None]:
    """(matches up to the cap, the page's keys or None): the executor's first statement,
    through the lead's candidates where the guards allow (see the module's docstring), else
    `plan.first_sql`. `tail` is the statement's last three parameters (cut, cap, limit)."""
    lead = plan.compiled.lead
    if plan.lead_sql is not None and lead is not None:
        expected = db.execute(plan.lead_estimate_sql, lead.params).fetchone()[0]
        if _rows(expected) <= ESTIMATE_MAX:
            n, keys, read = db.execute(
                plan.lead_sql, [*lead.params, *lead.rest_params, *tail]
            ).fetchone()
            if read <= CANDIDATES_MAX:
                return n, keys
    return tuple(db.execute(plan.first_sql, [*plan.first_params, *tail]).fetchone())


def _rows(explained: Any) -> float:
    """The estimated rows of an EXPLAIN (FORMAT JSON) answer (psycopg parses the JSON)."""
    return float(explained[0]["Plan"]["Plan Rows"])
