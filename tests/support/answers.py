"""A search's whole answer on a built warehouse, for tests that compare two ways of answering
(a prefilter, a hashed list, the entity table switched off): every matching contact id, in
order, and the exact total."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from crmpipe.build.core import build_searches
from crmpipe.config.schema import Config
from crmpipe.search import search
from crmpipe.warehouse.connection import connect


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


def update_in_place(cfg: Config, change: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """`change` the core tables of `cfg`'s warehouse, then run the index step in place (it must
    update the search table, not rebuild it)."""
    con = connect(cfg.warehouse_path)
    try:
        change(con)
        done = build_searches(con, cfg, full=False)
        assert done["contact_search"].changed  # updated in place, not rebuilt
    finally:
        con.close()


def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse at `path`, closed after (a fixture's body)."""
    con = connect(path, read_only=True)
    yield con
    con.close()
