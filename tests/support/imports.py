"""Which heavy stacks a piece of code loads, measured in a fresh interpreter (the test process
has imported everything already): what keeps the CLI's start-up and its read-only commands
fast (tests/test_cli_imports.py, tests/test_end_to_end.py)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Stacks the CLI must not load before a command runs, each heavy on its own (about 2 s in all).
HEAVY = ("psycopg", "pyarrow", "splink", "duckdb", "crmpipe.publish", "crmpipe.pipeline")

#: Statements that run the CLI on the arguments after them.
RUN_CLI = "from crmpipe.cli import app; app()"

#: Runs the statements in argv[1] (with the rest of argv as the CLI's arguments), prints which
#: of the modules in argv[2] they loaded (a package's modules cannot load without the package
#: itself, so the names suffice), then exits with the code's status.
_PROBE = """
import json, sys
code, heavy, sys.argv[1:] = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
status = 0
try:
    exec(code)
except SystemExit as exc:
    status = exc.code
print()
print(json.dumps(sorted(set(heavy) & set(sys.modules))))
sys.exit(status)
"""


def heavy_modules_loaded(code: str, *args: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of `heavy` that running `code` (with `args` as the CLI's arguments) loads;
    the code must succeed (a command that failed early would load little)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, code, json.dumps(heavy), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])
