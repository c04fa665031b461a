"""PostgreSQL: a query's contact-level substring term read first, the rest tested on its rows.

`email:bob tech:accela pop>10000` (the `filter:` shorthand) has one term on the contact's own
text, served by a trigram index, and terms on the contact's entity, answered through
`entities` and `search_values` (search.dialects.Lookup). PostgreSQL plans the one statement by
how many rows it expects `_emails_joined LIKE '%bob%'` to match, and that estimate rests on
whether one of the 100 values of the column's histogram happens to hold `bob`: 427 rows when
none does, 43,309 when one does (the truth at 4.5M contacts: 13,763). With the large estimate
it starts from the entities and reads their 146,000 contacts, testing each one's e-mails,
150-260 ms; with the small one it reads the 13,763 candidates from the trigram index, ~15 ms
(docs/benchmarks.md). Its cost model prices the e-mail test on each entity's contact as cheap
as any comparison; it is not.

So the executor decides which side goes first (`Lead`), from the planner's row estimates of
each side alone: the term's candidates (a subquery behind `OFFSET 0`, which the planner must
compute before anything else), when it expects no more of them than of the contacts the other
terms select and no more than ESTIMATE_MAX (a needle it knows is common, `gmail`, would build
a trigram bitmap of 100,000s of rows); else the one statement as before. The estimate of the
term is as unreliable as ever, but the choice is made on rows, not on the planner's costs: a
low estimate leads with the term (as the planner itself would), a high one compares it with the
other side's, which the entity statistics estimate well. Both forms return the same count and
keys: the rows are those of the query's whole condition either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmpipe.search.ast import And, Compare, FieldMatch, Node, Value, walk
from crmpipe.search.dialects import trigram_findable
from crmpipe.search.fields import JOIN_SEPARATOR, Kind

#: The most rows the planner may expect the term to match for it to be read first.
ESTIMATE_MAX = 100_000


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
    return needle if trigram_findable(needle) and "\x00" not in needle else None


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
    """(each side alone, the first statement read through the term) for `lead`.

    The first is `term UNION ALL other terms`: its plan's estimated rows of each side decide
    (`first_answer`). The second returns what the executor's first statement does
    — the capped count of the matches and, when there are no more than the cap, the page's
    keys. `columns` are the table's: the candidates carry the key and those the other terms
    test."""
    # a column the other terms test on the search table itself (not a lookup's `l_."column"`)
    tested = [
        ident(c) for c in columns if re.search(rf"(?<![.\w]){re.escape(ident(c))}", lead.rest)
    ]
    carried = ", ".join([f"{key} AS k_", *tested])
    sides = (
        f"SELECT 1 FROM {table} WHERE {lead.where} UNION ALL "
        f"SELECT 1 FROM {table} WHERE {lead.rest}"
    )
    statement = (
        f"WITH m AS MATERIALIZED (SELECT k_ FROM (SELECT {carried} FROM {table} "
        f"WHERE {lead.where} OFFSET 0) c_ WHERE {lead.rest} LIMIT %s) SELECT count(*), "
        "CASE WHEN count(*) <= %s THEN (SELECT coalesce((array_agg("
        f"k_ ORDER BY {order}))[1:%s], '{{}}') FROM m) END FROM m"
    )
    return sides, statement


def first_answer(db: Any, plan: Any, tail: list[Any]) -> tuple[int, list[str] | None]:
    """(matches up to the cap, the page's keys or None): the executor's first statement,
    through the lead's candidates when the estimates say so (see the module's docstring),
    else `plan.first_sql`. `tail` is the statement's last three parameters (cut, cap, limit)."""
    lead = plan.compiled.lead
    if plan.lead_sql is not None and lead is not None:
        params = [*lead.params, *lead.rest_params]
        explained = db.execute(f"EXPLAIN (FORMAT JSON) {plan.lead_sides_sql}", params).fetchone()
        term, rest = _estimates(explained[0])
        if term <= min(rest, ESTIMATE_MAX):
            return tuple(db.execute(plan.lead_sql, [*params, *tail]).fetchone())
    return tuple(db.execute(plan.first_sql, [*plan.first_params, *tail]).fetchone())


def _estimates(explained: Any) -> tuple[float, float]:
    """The estimated rows of each side of an EXPLAIN (FORMAT JSON) of `A UNION ALL B` (psycopg
    parses the JSON); when the planner proved a side empty and left it out, (inf, 0): the one
    statement, which needs no help then."""
    sides = explained[0]["Plan"].get("Plans", [])
    if len(sides) != 2:
        return float("inf"), 0.0
    return float(sides[0]["Plan Rows"]), float(sides[1]["Plan Rows"])
