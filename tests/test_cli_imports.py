"""The CLI starts fast: importing it, or asking it for help, loads no data stack.

`crmpipe --help`, a command's `--help` and tab completion should answer at once; importing
DuckDB, the publish stack (psycopg, pyarrow) or the pipeline cost ~2 s before anything
happened. Each command imports what it uses when it runs (docs/architecture.md). Each check
runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import pytest

from support.imports import RUN_CLI, heavy_modules_loaded


def test_importing_the_cli_loads_no_data_stack() -> None:
    assert heavy_modules_loaded("import crmpipe.cli") == []


@pytest.mark.parametrize(
    "args", [["--help"], ["search", "--help"], ["run", "--help"], ["publish", "--help"]]
)
def test_help_loads_no_data_stack(args: list[str]) -> None:
    assert heavy_modules_loaded(RUN_CLI, *args) == []


def test_the_tables_load_no_data_stack() -> None:
    """render.console draws results it imports for their types only: a command that only reads
    (search, runs, quarantine, ...) prints its tables without the pipeline or the publish stack."""
    assert heavy_modules_loaded("import crmpipe.render.console") == []
