"""The CLI starts fast: importing it, or asking it for help, loads no data stack.

`crmpipe --help`, a command's `--help` and tab completion should answer at once; importing
DuckDB, the publish stack (psycopg, pyarrow) or the pipeline cost ~2 s before anything
happened. Each command imports what it uses when it runs (docs/architecture.md). Each check
runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Modules the CLI must not load before a command runs: each is a heavy stack of its own.
HEAVY = ("psycopg", "pyarrow", "splink", "duckdb", "crmpipe.publish", "crmpipe.pipeline")

#: Runs the statements in argv[1] (with the rest of argv as the CLI's arguments), then prints
#: which of HEAVY they loaded (a package's modules cannot load without the package itself, so
#: the names suffice).
PROBE = f"""
import json, sys
code, sys.argv[1:] = sys.argv[1], sys.argv[2:]
try:
    exec(code)
except SystemExit:
    pass
print()
print(json.dumps(sorted(set({HEAVY!r}) & set(sys.modules))))
"""

RUN_CLI = "from crmpipe.cli import app; app()"


def _heavy_modules_loaded(code: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, code, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_cli_loads_no_data_stack() -> None:
    assert _heavy_modules_loaded("import crmpipe.cli") == []


@pytest.mark.parametrize(
    "args", [["--help"], ["search", "--help"], ["run", "--help"], ["publish", "--help"]]
)
def test_help_loads_no_data_stack(args: list[str]) -> None:
    assert _heavy_modules_loaded(RUN_CLI, *args) == []


def test_the_tables_load_no_data_stack() -> None:
    """render.console draws results it imports for their types only: a command that only reads
    (search, runs, quarantine, ...) prints its tables without the pipeline or the publish stack."""
    assert _heavy_modules_loaded("import crmpipe.render.console") == []
