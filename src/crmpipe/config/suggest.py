"""Did-you-mean suggestions for a misspelt key or name, shared by every one-line error message.

It sits at the bottom of the config package so the project-file checks, quarantine listings and
the loader all use the same wording without importing each other.
"""

from __future__ import annotations

import difflib


def suggest(word: str, choices: list[str] | set[str]) -> str:
    """' — did you mean X?' for the closest choice, or the list of choices when none is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if close:
        return " — did you mean " + " or ".join(repr(c) for c in close) + "?"
    return " — expected one of: " + ", ".join(choices) if choices else ""
