"""A search's whole answer on a built warehouse, for tests that compare two ways of answering
(a prefilter, a hashed list, the entity table switched off): every matching contact id, in
order, and the exact total."""

from __future__ import annotations

from typing import Any

from crmpipe.config.schema import Config
from crmpipe.search import search


def answer(con: Any, cfg: Config, query: str, fields: dict[str, Any]) -> tuple[list, int]:
    """(contact ids, total) of `query` with `fields`, all rows, the count exact."""
    r = search(
        con,
        query,
        shorthands=cfg.search.shorthands,
        fields=fields,
        columns=["contact_id"],
        limit=10_000,
        count_cap=None,
    )
    return [row[0] for row in r.rows], r.total
