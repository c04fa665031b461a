"""`crmpipe shell`: an interactive prompt over the search table, in the style of pgcli.

A line is a query in the query language (`title: finance`), a read-only SQL statement (SELECT or
WITH, with a statement timeout), or a backslash command (`\\fields`, `\\explain`, `\\limit`,
`\\format`, `\\table` (contacts or facilities), `\\export`, `\\help`, `\\q`). On a terminal it
is a prompt_toolkit prompt with completion of field names and commands, persistent history and
a pager for long results
(crmpipe.shell.prompt); with input piped in it reads one line at a time and prints each answer,
so it can be scripted. It runs on the DuckDB warehouse (opened read-only) or on the published
PostgreSQL schema; SQL text is checked and run by crmpipe.serve.sql. This module is the session: its
settings, what a line means, and how its answer is printed.
"""

from __future__ import annotations

import contextlib
import difflib
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from crmpipe.config.schema import Config
from crmpipe.errors import first_line
from crmpipe.render import console as show
from crmpipe.search import Backend, Kind, QueryError, SearchResult, as_backend, explain, search
from crmpipe.search.fields import Field
from crmpipe.serve import open_store
from crmpipe.serve.sql import (
    SqlError,
    check_duckdb_statement,
    is_sql,
    psycopg_safe,
    read_only_statement,
    run_read_only,
    timed,
)
from crmpipe.shell.prompt import COMMANDS, FORMATS, history_path, run_prompt

#: How long one SQL statement or search may run before it is stopped.
DEFAULT_TIMEOUT_S = 30.0
#: Most rows `\export` writes (an export of millions of rows belongs in `crmpipe publish` + SQL).
EXPORT_MAX_ROWS = 1_000_000


@dataclass
class Answer:
    """What a line produced: rows to print (`result`, with an optional caption), something
    rich draws (`renderable`), or a plain message."""

    result: SearchResult | None = None
    message: str | None = None
    caption: str | None = None
    renderable: Any = None


class Shell:
    """One shell session on one store: runs lines and prints their answers to `console`.

    `run_line` never raises for a bad line: it prints `error: ...` and counts it in `errors`
    (the piped mode's exit status). Settings (`limit`, `format`) change with backslash commands.
    """

    def __init__(
        self,
        con: Any,
        *,
        aliases: Mapping[str, str] | None = None,
        shorthands: Mapping[str, str] | None = None,
        limit: int = 50,
        count_cap: int | None = 10_000,
        fmt: str = "table",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        console: Console | None = None,
        err_console: Console | None = None,
        table: str | None = None,
    ) -> None:
        self.backend: Backend = as_backend(con)
        with contextlib.suppress(QueryError):  # the store's default search table
            self.backend = self.backend.with_table(table)
        self.aliases = dict(aliases or {})
        self.shorthands = dict(shorthands or {})
        self.limit = limit
        self.count_cap = count_cap
        self.format = fmt
        self.timeout_s = timeout_s
        self.console = console or Console()
        self.err = err_console or self.console
        self.errors = 0
        self.pager: Callable[[Any], None] | None = None  # set by the interactive loop
        self._fields: dict[str, Field] | None = None

    # -- fields ---------------------------------------------------------------------------
    @property
    def fields(self) -> dict[str, Field]:
        """The field registry (read once per session)."""
        if self._fields is None:
            self._fields = self.backend.load_fields(self.aliases)
        return self._fields

    def field_names(self) -> list[str]:
        """Names a query may use (fields and aliases), for completion; [] without a table."""
        try:
            return sorted(n for n, f in self.fields.items() if f.kind is not Kind.DOCUMENT)
        except QueryError:
            return []

    # -- running lines ----------------------------------------------------------------------
    def run_line(self, line: str) -> bool:
        """Run one line and print its answer; False when the line asks to quit."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        if text in ("\\q", "quit", "exit", "\\quit"):
            return False
        try:
            answer = self.answer(text)
        except (QueryError, SqlError) as exc:
            self._error(str(exc))
            return True
        except Exception as exc:  # the database's own errors: one line, never a traceback
            self._error(first_line(exc))
            return True
        self._print(answer)
        return True

    def answer(self, text: str) -> Answer:
        """What a line means (a command, SQL or a query), run: raises QueryError/SqlError."""
        if text.startswith("\\"):
            return self.command(text)
        if is_sql(text):
            return self.sql(text)
        return self.query(text)

    def query(self, text: str, *, limit: int | None = None) -> Answer:
        result = self._timed(
            lambda: search(
                self.backend,
                text,
                aliases=self.aliases,
                shorthands=self.shorthands,
                limit=self.limit if limit is None else limit,
                count_cap=self.count_cap,
                fields=self.fields,
            )
        )
        return Answer(result)

    def sql(self, text: str, *, limit: int | None = None) -> Answer:
        n = self.limit if limit is None else limit
        result = run_read_only(self.backend, text, limit=n, timeout_s=self.timeout_s)
        rows = len(result.rows)
        noun = "row" if rows == 1 else "rows"
        shown = (
            f"first {rows:,} {noun} (\\limit to see more)" if result.capped else f"{rows:,} {noun}"
        )
        return Answer(result, caption=f"{shown} · {result.elapsed_ms:.0f} ms")

    def _timed(self, fn: Callable[[], Any]) -> Any:
        """Run `fn`, stopping DuckDB after the session's timeout."""
        return timed(self.backend, fn, self.timeout_s)

    # -- backslash commands -------------------------------------------------------------------
    def command(self, text: str) -> Answer:
        name, _, rest = text.partition(" ")
        name, rest = name.lower(), rest.strip()
        if name in ("\\help", "\\?", "\\h"):
            return Answer(message=self.help_text())
        if name == "\\fields":
            return Answer(renderable=self.fields_table())
        if name == "\\limit":
            if rest:
                if not rest.isdigit() or int(rest) < 1:
                    raise SqlError(f"\\limit takes a whole number of rows ≥ 1, not {rest!r}")
                self.limit = int(rest)
            return Answer(message=f"limit: {self.limit} rows")
        if name == "\\format":
            if rest:
                if rest.lower() not in FORMATS:
                    raise SqlError(f"\\format is one of {', '.join(FORMATS)}, not {rest!r}")
                self.format = rest.lower()
            return Answer(message=f"format: {self.format}")
        if name == "\\table":
            if rest:
                self.backend = self.backend.with_table(rest)
                self._fields = None
            return Answer(message=f"table: {self.backend.search_spec.label}")
        if name == "\\explain":
            if not rest:
                raise SqlError("\\explain needs a query, e.g. \\explain title: finance")
            return Answer(message=self.explain(rest))
        if name == "\\export":
            return Answer(message=self.export(rest))
        close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SqlError(f"unknown command {name} — {hint}\\help lists the commands")

    def help_text(self) -> str:
        lines = [
            "Type a query (title: finance · filter: bob Accela >10000 · crm: a), a read-only",
            "SQL statement (SELECT ... / WITH ...), or a command:",
            "",
        ]
        for name, (args, what) in COMMANDS.items():
            usage = f"{name} {args}".strip()
            now = {"limit": self.limit, "format": self.format}
            now["table"] = self.backend.search_spec.label
            lines.append(f"  {usage:<28} {what.format(**now)}")
        lines += ["", "Tab completes field names and commands; docs/query-language.md has it all."]
        return "\n".join(lines)

    def fields_table(self) -> Table:
        t = Table(title="searchable fields")
        for col in ("field", "kind", "aliases"):
            t.add_column(col)
        aliases: dict[str, list[str]] = {}
        for name, f in self.fields.items():
            if f.is_alias:
                aliases.setdefault(f.column, []).append(name)
        for f in sorted(self.fields.values(), key=lambda f: (f.position, f.name)):
            if f.is_alias:
                continue
            kind = "free text (search with plain words)" if f.kind is Kind.DOCUMENT else f.kind
            t.add_row(f.name, str(kind), ", ".join(sorted(aliases.get(f.column, []))))
        return t

    def explain(self, text: str) -> str:
        if is_sql(text):
            statement = read_only_statement(text)
            if self.backend.name == "duckdb":
                check_duckdb_statement(self.backend, statement)
            plan = self._timed(
                lambda: self.backend.explain(psycopg_safe(statement, self.backend), [])
            )
            return "\n".join(["sql:", statement, "", "plan:", *plan])
        return self._timed(
            lambda: explain(
                self.backend,
                text,
                aliases=self.aliases,
                shorthands=self.shorthands,
                limit=self.limit,
                count_cap=self.count_cap,
                fields=self.fields,
            )
        )

    def export(self, rest: str) -> str:
        try:
            parts = shlex.split(rest, posix=False) if rest else []
            parts[:1] = [p.strip("'\"") for p in parts[:1]]
        except ValueError as exc:
            raise SqlError(f"\\export FILE QUERY: {exc}") from None
        if len(parts) < 2:
            raise SqlError("\\export needs a file and a query, e.g. \\export out.csv crm: a")
        path = Path(parts[0]).expanduser()
        # The query is the text after the file name as written (quoted or not), untouched.
        if rest[0] in "'\"":
            query = rest[rest.index(rest[0], 1) + 1 :].strip()
        else:
            query = rest.split(None, 1)[1].strip()
        suffix = path.suffix.lower().lstrip(".")
        fmt = suffix if suffix in ("csv", "json") else ("csv" if self.format == "table" else "")
        fmt = fmt or self.format
        answer = (
            self.sql(query, limit=EXPORT_MAX_ROWS)
            if is_sql(query)
            else self.query(query, limit=EXPORT_MAX_ROWS)
        )
        assert answer.result is not None
        text = show.result_json(answer.result) + "\n" if fmt == "json" else None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text if text is not None else show.result_csv(answer.result))
        except OSError as exc:
            raise SqlError(f"cannot write {path}: {exc.strerror or exc}") from None
        n = len(answer.result.rows)
        more = answer.result.capped or answer.result.total > n
        cut = f" (the first {EXPORT_MAX_ROWS:,}; there are more)" if more else ""
        return f"wrote {n:,} rows to {path} as {fmt}{cut}"

    # -- printing -----------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.errors += 1
        self.err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)

    def _print(self, answer: Answer) -> None:
        if answer.renderable is not None:
            self._show(answer.renderable)
            return
        if answer.result is None:
            self.console.print(answer.message or "", highlight=False, markup=False, soft_wrap=True)
            return
        if self.format == "json":
            self._write(show.result_json(answer.result) + "\n")
        elif self.format == "csv":
            self._write(show.result_csv(answer.result))
        else:
            self._show(show.result_table(answer.result, caption=answer.caption))

    def _write(self, text: str) -> None:
        if self.pager is not None and text.count("\n") > self.console.height - 2:
            self.pager(text)
        else:
            self.console.file.write(text)
            self.console.file.flush()

    def _show(self, renderable: Any) -> None:
        if self.pager is not None:
            with self.console.capture() as cap:
                self.console.print(renderable)
            rendered = cap.get()
            if rendered.count("\n") > self.console.height - 2:
                self.pager(rendered)
                return
            self.console.file.write(rendered)
            self.console.file.flush()
            return
        self.console.print(renderable)


def run_script(session: Shell, lines: Iterable[str]) -> int:
    """Run lines (piped input) until `\\q` or the end; 0, or 1 when any line failed."""
    for line in lines:
        if not session.run_line(line.rstrip("\n")):
            break
    return 1 if session.errors else 0


def shell(
    cfg: Config | None = None,
    *,
    dsn: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    interactive: bool | None = None,
    history: Path | None = None,
) -> int:
    """Run the shell on the project's warehouse, or on PostgreSQL at `dsn`; return the exit
    status (piped input: 1 when any line failed).

    Interactive when stdin and stdout are terminals (or `interactive=True`); otherwise lines
    are read from `stdin` and answers written to `stdout`, errors to `stderr`.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if interactive is None:
        interactive = stdin.isatty() and stdout.isatty()
    tty = interactive and stdout.isatty()
    # Piped output: no colours, and not wrapped at 80 columns as a terminal would be.
    plain: Any = None if tty else False
    console = Console(file=stdout, width=None if tty else 160, force_terminal=plain)
    err = Console(file=stderr, width=None if tty else 1000, force_terminal=plain)
    search_cfg = cfg.search if cfg is not None else None
    with open_store(cfg, dsn) as con:
        session = Shell(
            con,
            aliases=search_cfg.aliases if search_cfg else None,
            shorthands=search_cfg.shorthands if search_cfg else None,
            limit=search_cfg.limit if search_cfg else 50,
            count_cap=search_cfg.count_cap if search_cfg else 10_000,
            console=console,
            err_console=err if not interactive else console,
        )
        if not interactive:
            return run_script(session, stdin)
        store = "pg" if dsn else "duckdb"
        return run_prompt(session, history=history or history_path(), prompt=f"{store}> ")
