"""Facet counts: how many matches of a query hold each value of a field, per requested field.

The query is compiled exactly as search compiles it (`crmpipe.search.compile_search`, the
store's dialect), so user text only ever reaches the database as bound parameters; field names
are checked against the store's field registry and become identifiers only from it. List
fields (`tech_names`, `crm`, ...) count each distinct element of a row once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmpipe.config.suggest import suggest
from crmpipe.errors import CrmpipeError
from crmpipe.jsonvalues import json_value
from crmpipe.search import Backend, Field, Kind, compile_search

#: Kinds whose value is a list: counted per element.
LIST_KINDS = frozenset({Kind.TEXT_LIST, Kind.CODE_LIST})
#: The alias of the counted value in facet SQL (a name no search column has).
_VALUE = "facet_value_"


class FacetFieldError(CrmpipeError):
    """A facet field the store's search table doesn't have (message with did-you-mean)."""


def facet_fields(names: Sequence[str], registry: Mapping[str, Field]) -> list[Field]:
    """The registry's fields for `names` (case-insensitive, aliases allowed), in order, without
    repeats; FacetFieldError for an unknown name or the free-text document."""
    nameable = {n for n, f in registry.items() if f.kind is not Kind.DOCUMENT}
    out: list[Field] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        f = registry.get(name)
        if f is None or f.kind is Kind.DOCUMENT:
            raise FacetFieldError(f"unknown facet field {raw.strip()!r}{suggest(name, nameable)}")
        if f.column not in {g.column for g in out}:
            out.append(f)
    if not out:
        raise FacetFieldError("fields: name at least one field to count, e.g. fields=state,crm")
    return out


def facets(
    db: Backend,
    query: str,
    fields: Sequence[Field],
    *,
    top: int = 20,
    shorthands: Mapping[str, str] | None = None,
    registry: Mapping[str, Field],
) -> dict[str, list[dict[str, Any]]]:
    """{field name: [{"value", "count"}, ...]}: the `top` most frequent non-null values of each
    field among the rows `query` matches (an empty query: all rows), by count, then value."""
    if query.strip():
        compiled = compile_search(query, registry, shorthands=shorthands, dialect=db.dialect)
        where, params = compiled.where, list(compiled.params)
    else:
        where, params = "TRUE", []
    table = db.qualified(db.default_table)
    mark = db.dialect.placeholder
    out: dict[str, list[dict[str, Any]]] = {}
    for f in fields:
        col = db.dialect.ident(f.column)
        if f.kind in LIST_KINDS:
            source = db.dialect.list_elements(table, col, _VALUE, where)
        else:
            source = f"SELECT {col} AS {_VALUE} FROM {table} WHERE {where}"
        value = db.order_key(_VALUE) if f.kind in {Kind.TEXT, Kind.CODE, *LIST_KINDS} else _VALUE
        sql = (
            f"SELECT {_VALUE}, count(*) AS n FROM ({source}) s_ WHERE {_VALUE} IS NOT NULL "
            f"GROUP BY {_VALUE} ORDER BY n DESC, {value} LIMIT {mark}"
        )
        rows = db.execute(sql, [*params, top]).fetchall()
        out[f.name] = [{"value": json_value(v), "count": int(n)} for v, n in rows]
    return out
