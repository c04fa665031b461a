"""The one error the query language raises: `QueryError`, a message a user can act on.

Every failure of parsing or compiling a query (syntax, unknown field, a value of the wrong type)
becomes a `QueryError` whose `str()` is a single line, so the CLI, the shell, the HTTP API and
the web UI can all show it as is, and point at `position` in the query when there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from crmpipe.errors import CrmpipeError


class QueryError(CrmpipeError, ValueError):
    """A query that cannot be run, explained in one line.

    `position` is the 0-based offset in `query` the problem is at (None when the whole query is
    at fault); `suggestions` are close matches for a misspelt name (may be empty).
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        query: str | None = None,
        suggestions: Iterable[str] = (),
    ) -> None:
        # One line, whatever the caller passed in (a value may contain a newline).
        self.message = " ".join(message.split())
        self.position = position
        self.query = query
        self.suggestions = tuple(suggestions)
        super().__init__(self.message)

    def caret(self) -> str:
        """The query with a `^` under the offending character (two lines), or "" if unknown."""
        if self.query is None or self.position is None:
            return ""
        line = self.query.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * min(self.position, len(line))}^"


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Names in `choices` that look like a misspelling of `name`, closest first.

    Only names about as close as the best one are kept, so `titel` suggests `title` and not
    also `state`.
    """
    scored = []
    for choice in sorted(set(choices)):
        m = difflib.SequenceMatcher(None, name.lower(), choice.lower())
        if m.real_quick_ratio() >= 0.6 and m.quick_ratio() >= 0.6:
            scored.append((m.ratio(), choice))
    best = max((score for score, _ in scored), default=0.0)
    keep = [(score, c) for score, c in scored if score >= max(0.6, best - 0.1)]
    return [c for _, c in sorted(keep, key=lambda sc: -sc[0])][:n]


def unknown_name_error(
    what: str, name: str, choices: Iterable[str], *, position: int | None = None
) -> QueryError:
    """`unknown field 'titel' — did you mean: title?`, or the full list when nothing is close."""
    known = sorted(set(choices))
    close = close_matches(name, known)
    if close:
        hint = f"did you mean: {', '.join(close)}?"
    else:
        hint = f"known {what}s: {', '.join(known)}" if known else f"there are no {what}s"
    return QueryError(f"unknown {what} '{name}' — {hint}", position=position, suggestions=close)
