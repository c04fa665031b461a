"""The CLI starts fast: importing it, or asking it for help, loads no data stack.

`crmpipe --help`, a command's `--help` and tab completion should answer at once; importing
DuckDB, the publish stack (psycopg, pyarrow) or the pipeline cost ~2 s before anything
happened. Each command imports what it uses when it runs (docs/architecture.md). Each check
runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import pytest

from support.imports import HEAVY, RUN_CLI, heavy_modules_loaded


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


def test_hashing_an_api_key_loads_no_server() -> None:
    """`crmpipe serve --hash-key` prints a key's hash: it needs neither FastAPI nor a store's
    client. (The project file's schema, which holds the hash's format, loads DuckDB.)"""
    code = "import io, sys; sys.stdin = io.StringIO('a-key\\n'); " + RUN_CLI
    heavy = (*(h for h in HEAVY if h != "duckdb"), "fastapi", "uvicorn")
    assert heavy_modules_loaded(code, "serve", "--hash-key", heavy=heavy) == []


def test_progress_loads_no_pipeline() -> None:
    """The rich progress of `publish` and `run` names the pipeline's reporter hook only: a
    publish loads its own stack, not the pipeline's."""
    assert heavy_modules_loaded("import crmpipe.render.progress") == []
