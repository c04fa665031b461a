"""What every `crmpipe` command shares: the Typer app, the consoles, the common options and the
one-line error handling.

Importing the CLI imports only Typer, rich and this package: each command imports the stack it
uses (DuckDB, the pipeline, the publish stack, ...) when it runs, so `crmpipe --help`, tab
completion and a command's `--help` answer at once (docs/architecture.md, "Start-up";
tests/test_cli_imports.py guards it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from crmpipe.errors import CrmpipeError

if TYPE_CHECKING:
    from crmpipe.config.schema import Config

app = typer.Typer(
    help="Messy CRM and contact exports in; one clean, searchable database out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (files, scripts, tests) is not wrapped at 80 columns like a terminal would be.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Project file (default ./crmpipe.yml).")
]

PgOpt = Annotated[
    str | None,
    typer.Option(
        "--pg",
        metavar="DSN",
        help="PostgreSQL DSN, e.g. postgresql://USER@HOST:5432/DB (else publish.postgres in "
        "crmpipe.yml, else CRMPIPE_PG_DSN).",
    ),
]


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix into 'error: ...' and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CrmpipeError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except FileExistsError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:
            if not _is_duckdb_error(exc):
                raise
            err.print(f"[red]error:[/] {str(exc).splitlines()[0]}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _is_duckdb_error(exc: Exception) -> bool:
    """Whether `exc` is a `duckdb.Error`, without importing DuckDB: only a command that imported
    it can raise one, so when it is not in `sys.modules` the answer is no (and commands that never
    touch the warehouse do not pay for loading it)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.Error)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def config_or_none(config: Path | None, *, dsn_given: bool) -> Config | None:
    """The project file; when a PostgreSQL DSN is given another way, none is needed (without
    one there are no search aliases or shorthands)."""
    from crmpipe.config.load import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError:
        if not dsn_given:
            raise
        return None


def dsn_for(config: Path | None, pg: str | None) -> str:
    """--pg, else the project file's publish.postgres, else CRMPIPE_PG_DSN (one-line error)."""
    from crmpipe.publish import PublishError
    from crmpipe.serve import DSN_ENV, resolve_dsn

    cfg = config_or_none(config, dsn_given=pg is not None or bool(os.environ.get(DSN_ENV)))
    dsn = resolve_dsn(cfg, pg)
    if dsn is None:
        raise PublishError(
            f"no PostgreSQL DSN: pass --pg DSN, set publish.postgres in crmpipe.yml or {DSN_ENV}"
        )
    return dsn
