"""The one base of every error a user can fix, and how such errors are shown.

A `CrmpipeError` carries a one-line message saying what went wrong and what to do; the CLI
prints it as ``error: <message>`` and exits with the error's `exit_code`, never a traceback.
Each stage defines its own subclass (`IngestError`, `PublishError`, …) so callers can still
catch one stage's failures, while the CLI and the pipeline catch them all through this base.
"""

from __future__ import annotations

__all__ = ["CrmpipeError", "first_line"]


class CrmpipeError(Exception):
    """An error the user can fix: a one-line message, shown without a traceback."""

    #: Process exit status when the CLI reports this error.
    exit_code: int = 1


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none).

    Database drivers put hints and context on later lines; one line is what a user reads.
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.strip()
