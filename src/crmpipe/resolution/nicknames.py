"""Nicknames from a maintained list: the `nicknames` package (carltonnorthern/nicknames).

A first name's *forms* are the name itself and the formal names the package gives for it
(`bill` → bill, will, william, willis, robert; `william` → william, bill, billy, willie, wilma).
Two first names are nicknames of one another when their forms share a name (Bill ~ William,
Bob ~ Robert, Kathy ~ Katherine, Angie ~ Angela). The package's list is ambiguous on purpose
(`bill` is also listed under robert), so this is a comparison level of its own, weaker than an
exact name, not a rewrite of the name.

The lookup is computed once in Python over the package's names (about 1,400 with a formal
name; the package's CSV, not a per-row call) and joined to the records in SQL: the records' first
names are looked up by one join with the package's names
(features.feature_source; `forms_sql` is the same lookup as a scalar expression).
"""

from __future__ import annotations

from functools import cache

from crmpipe.sqltext import sql_str


@cache
def name_forms() -> dict[str, list[str]]:
    """Lower-case name → its sorted forms, for every name the package knows a formal name of."""
    from nicknames import NickNamer

    nn = NickNamer()
    out: dict[str, list[str]] = {}
    for name in sorted(nn.canonical_lookup):
        forms = nn.canonicals_of(name)
        if forms:
            out[name] = sorted({name, *forms})
    return out


@cache
def lookup_values(alias: str = "__nick") -> str:
    """The package's names and their forms as a VALUES table `alias(name, forms)`."""
    rows = (
        f"({sql_str(n)}, [{', '.join(sql_str(f) for f in forms)}])"
        for n, forms in name_forms().items()
    )
    return f"(VALUES {', '.join(rows)}) AS {alias}(name, forms)"


def forms_sql(name: str) -> str:
    """SQL: the list of forms of the first name `name` (an expression, lower case); `[name]`
    for a name the package doesn't know, NULL for NULL."""
    return (
        f"CASE WHEN {name} IS NOT NULL THEN coalesce((SELECT __nick.forms FROM "
        f"{lookup_values()} WHERE __nick.name = {name}), [{name}]) END"
    )
