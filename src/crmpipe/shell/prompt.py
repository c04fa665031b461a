"""The interactive prompt of `crmpipe shell` (prompt_toolkit, in the style of pgcli): the
backslash commands and formats it offers, Tab completion, persistent history and a pager.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from crmpipe.search import Backend
from crmpipe.serve.sql import READ_ONLY_SQL, first_keyword, is_sql

#: Where the prompt keeps its history (CRMPIPE_HISTORY overrides).
HISTORY_FILE = Path("~/.crmpipe_history")
#: How answers may be printed (`\format`).
FORMATS = ("table", "csv", "json")

#: Backslash commands: name → (arguments, what it does). `\help` prints these.
COMMANDS: dict[str, tuple[str, str]] = {
    "\\fields": ("", "the searchable fields, their kinds and aliases"),
    "\\explain": ("QUERY", "the SQL a query (or a SELECT) runs and the database's plan"),
    "\\limit": ("[N]", "show N rows per answer (now: {limit})"),
    "\\format": ("[table|csv|json]", "how answers are printed (now: {format})"),
    "\\table": ("[contacts|facilities]", "the table queries search (now: {table})"),
    "\\export": ("FILE QUERY", "write every row a query (or SELECT) returns to FILE (.csv, .json)"),
    "\\help": ("", "this list"),
    "\\q": ("", "quit (also Ctrl-D)"),
}


class LineSession(Protocol):
    """What the prompt drives: a shell session (crmpipe.shell.session.Shell)."""

    backend: Backend
    shorthands: dict[str, str]
    console: Console
    pager: Callable[[Any], None] | None

    def field_names(self) -> list[str]:
        """Names a query may use, for completion."""
        ...

    def run_line(self, line: str) -> bool:
        """Run one line and print its answer; False when the line asks to quit."""
        ...


_TOKEN_START = re.compile(r"[\s(,]")


def completions(
    text: str, fields: Sequence[str], shorthands: Iterable[str] = ()
) -> list[tuple[str, int]]:
    """What Tab may complete the text before the cursor to: (completion, start offset relative
    to the cursor, ≤ 0). Backslash commands at the start of a line, formats after `\\format`,
    otherwise field names (with their ':'), also inside SQL (without it)."""
    if text.startswith("\\") and " " not in text:
        return [(c, -len(text)) for c in COMMANDS if c.startswith(text.lower())]
    if text.lower().startswith("\\format "):
        word = text.split(" ", 1)[1].lstrip()
        return [(f, -len(word)) for f in FORMATS if f.startswith(word.lower())]
    # The token under the cursor: after the last space or parenthesis, minus a negation.
    start = max((m.end() for m in _TOKEN_START.finditer(text)), default=0)
    word = text[start:]
    if word.startswith("-"):
        word = word[1:]
    if not word or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word):
        return []
    sql = is_sql(text) or first_keyword(text) in READ_ONLY_SQL
    suffix = "" if sql else ":"
    names = list(fields) + ([] if sql else [s for s in shorthands if text[:start].strip() == ""])
    low = word.lower()
    return [(n + suffix, -len(word)) for n in sorted(set(names)) if n.lower().startswith(low)]


def completer(shell: LineSession) -> Any:
    """The prompt_toolkit completer of a session: `completions` on its fields and shorthands."""
    from prompt_toolkit.completion import Completer, Completion

    class ShellCompleter(Completer):
        """Field names, aliases, shorthands and backslash commands (prompt_toolkit)."""

        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
            for text, start in completions(
                document.text_before_cursor, shell.field_names(), shell.shorthands
            ):
                yield Completion(text, start_position=start)

    return ShellCompleter()


def _page(text: str) -> None:
    """Show rendered text (ANSI colours included) through the system pager: $PAGER, else
    `less -SRXF` as pgcli does (colours, long lines scroll sideways, quits when it fits)."""
    from rich.pager import SystemPager

    os.environ.setdefault("LESS", "-SRXF")
    SystemPager().show(text)


def run_prompt(
    session: LineSession,
    *,
    history: Path | None = None,
    prompt: str = "crmpipe> ",
    input: Any = None,
    output: Any = None,
    pager: bool = True,
) -> int:
    """The interactive loop (prompt_toolkit): completion, history, paging; until `\\q`/Ctrl-D.

    `input`/`output` are prompt_toolkit's (tests pass a pipe input and a DummyOutput).
    """
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    hist: Any = InMemoryHistory()
    if history is not None:
        with contextlib.suppress(OSError):
            history.parent.mkdir(parents=True, exist_ok=True)
            history.touch(exist_ok=True)
            hist = FileHistory(str(history))
    prompt_session: Any = PromptSession(
        history=hist,
        completer=completer(session),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        input=input,
        output=output,
    )
    if pager:
        session.pager = _page
    session.console.print(
        f"crmpipe shell on {session.backend.name} — \\help for help, \\q to quit", highlight=False
    )
    while True:
        try:
            line = prompt_session.prompt(prompt)
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, as in psql
        except EOFError:
            break
        if not session.run_line(line):
            break
    return 0


def history_path() -> Path:
    """The prompt's history file: CRMPIPE_HISTORY, else ~/.crmpipe_history."""
    return Path(os.environ.get("CRMPIPE_HISTORY") or HISTORY_FILE).expanduser()
