"""A source's `processor:` hook: a user function that reshapes its raw rows before mapping.

For what no declared mapping can say (a value to split on a source-specific marker, rows to
drop by a rule of that agency), `processor: package.module:function` names a function taking
a DuckDB relation of the source's raw rows and returning one (docs/childcare.md). It stays
vectorized: the function composes relational operations, which DuckDB runs in the staging
statement; the declared mapping then applies to what it returns.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from crmpipe.errors import CrmpipeError
from crmpipe.model import LINEAGE_COLUMNS
from crmpipe.sqltext import quote_ident


class ProcessorError(CrmpipeError):
    """A source's processor can't be loaded or returned something unusable; one line."""


def load_processor(source: str, dotted: str, base_dir: Path | None = None) -> Callable:
    """The function `package.module:function` names (the project folder is importable)."""
    module_name, _, func_name = dotted.partition(":")
    where = f"sources.{source}.processor"
    added = base_dir is not None and str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's
        raise ProcessorError(
            f"{where}: cannot import {module_name!r}: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ProcessorError(f"{where}: module {module_name!r} has no function {func_name!r}")
    return func


def apply_processor(
    con: duckdb.DuckDBPyConnection,
    source: str,
    dotted: str,
    sql: str,
    base_dir: Path | None = None,
) -> str:
    """SQL of the rows the processor returns for the raw rows `sql` (a temp view over them)."""
    func = load_processor(source, dotted, base_dir)
    where = f"sources.{source}.processor {dotted}"
    try:
        out = func(con.sql(sql))
    except Exception as exc:  # noqa: BLE001 - the user's function failed: say where, one line
        raise ProcessorError(
            f"{where} failed: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if not isinstance(out, duckdb.DuckDBPyRelation):
        raise ProcessorError(
            f"{where} returned {type(out).__name__}; it must return a DuckDB relation"
        )
    missing = [n for n, _ in LINEAGE_COLUMNS if n not in out.columns]
    if missing:
        raise ProcessorError(
            f"{where} dropped the lineage columns {', '.join(missing)}; keep them "
            "(select `*` or name them) so every row can be traced to its file and line"
        )
    view = f"__processed_{source}"
    out.create_view(view, replace=True)
    return f"SELECT * FROM {quote_ident(view)}"
