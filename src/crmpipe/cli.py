"""The `crmpipe` command line (Typer). Every command is a thin call into a library function of
the same name; errors a user can fix are printed as one line and exit with status 1."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console

import crmpipe
from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.errors import CrmpipeError
from crmpipe.publish import PublishError
from crmpipe.render import console as show
from crmpipe.serve import open_store
from crmpipe.warehouse.runs import list_runs

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


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
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
        except duckdb.Error as exc:
            err.print(f"[red]error:[/] {str(exc).splitlines()[0]}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
@_one_line_errors
def init(
    folder: Annotated[Path, typer.Argument(help="Folder holding the CSV files.")] = Path("."),
    output: Annotated[
        Path | None, typer.Option(help="Where to write (default DIR/crmpipe.yml).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing project file.")] = False,
) -> None:
    """Guess a starting crmpipe.yml from the CSV files in FOLDER."""
    from crmpipe.init.guess import init as guess

    result = guess(folder, output=output, force=force)
    out.print(show.init_table(result))
    for line in show.init_notes(result):
        out.print(line, highlight=False)
    out.print("Review the file, then run [bold]crmpipe run[/].")


@app.command()
@_one_line_errors
def run(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when nothing changed.")] = False,
    pg: PgOpt = None,
    checks: Annotated[
        bool, typer.Option(help="Run the data-quality checks and SLAs (docs/quality.md).")
    ] = True,
) -> None:
    """Ingest, clean, build, check and index the project's sources (then publish, given a DSN).

    Exits with status 3 when an `error` check or SLA fails (the build is kept and served; the
    failing rows are in quarantine), 1 on any other failure.

    With --pg DSN, publish.postgres in crmpipe.yml or CRMPIPE_PG_DSN set, a successful run is
    also published to PostgreSQL (unless that build already serves there)."""
    from crmpipe.pipeline import run as run_pipeline
    from crmpipe.publish import publish_build
    from crmpipe.serve import resolve_dsn

    cfg = load_config(config)
    with show.RichReporter(out) as reporter:
        summary = run_pipeline(cfg, reporter=reporter, force=force, checks=checks)
    if summary.up_to_date:
        out.print("[green]up to date:[/] no new files and no change to the project file.")
    out.print(show.summary_table(summary))
    out.print(show.steps_table(summary))
    out.print(show.quality_summary(summary), highlight=False)
    if resolve_dsn(cfg, pg) is None:
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)
        return
    with show.RichReporter(out) as reporter:
        published = publish_build(cfg, pg, reporter, only_if_changed=not force)
    if published is None:
        out.print("[green]PostgreSQL up to date:[/] the serving version is this build.")
    else:
        out.print(show.publish_summary(published), highlight=False)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command()
@_one_line_errors
def search(
    query: Annotated[str, typer.Argument(help="A query, e.g. 'title: finance' (see docs).")],
    config: ConfigOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1)] = None,
    explain: Annotated[bool, typer.Option(help="Print the SQL and the database's plan.")] = False,
    pg: Annotated[
        str | None,
        typer.Option("--pg", metavar="DSN", help="Search the version published to PostgreSQL."),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            "-t",
            help="contacts or facilities (default: contacts when built, else facilities).",
        ),
    ] = None,
) -> None:
    """Search contacts or facilities with the query language (the DuckDB warehouse, or --pg)."""
    from crmpipe.search import explain as explain_query
    from crmpipe.search import search as run_search

    cfg = load_config(config)
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands, "table": table}
    with open_store(cfg, pg, app="crmpipe search") as con:
        if explain:
            out.print(explain_query(con, query, **opts), highlight=False, markup=False)
            return
        result = run_search(
            con, query, limit=limit or cfg.search.limit, count_cap=cfg.search.count_cap, **opts
        )
    if format is Format.json:
        sys.stdout.write(show.result_json(result) + "\n")
    elif format is Format.csv:
        sys.stdout.write(show.result_csv(result))
    else:
        out.print(show.result_table(result))


@app.command()
@_one_line_errors
def runs(
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
) -> None:
    """List past runs, newest first."""
    cfg = load_config(config)
    with open_store(cfg, None) as con:
        out.print(show.runs_table(list_runs(con, limit)))


@app.command()
@_one_line_errors
def quarantine(
    table: Annotated[
        str | None, typer.Argument(help="A table (default: counts per table and check).")
    ] = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
) -> None:
    """List quarantined rows with the check that failed, the reason and the source line."""
    from crmpipe.quality.quarantine import quarantine as list_quarantine

    cfg = load_config(config)
    with open_store(cfg, None) as con:
        listing = list_quarantine(con, table, limit=limit)
    out.print(show.quarantine_table(listing))


@app.command()
@_one_line_errors
def report(
    run_id: Annotated[
        int | None, typer.Argument(metavar="RUN", help="Run id (default: the newest finished run).")
    ] = None,
    config: ConfigOpt = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|DIR|-",
            help="Where to write (default reports/run-<id>.html beside the warehouse; - for "
            "standard output).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write the content as JSON.")] = False,
    history: Annotated[
        int, typer.Option("--history", min=1, help="Runs in the history and quality chart.")
    ] = 10,
) -> None:
    """Write a run's data-quality report: one self-contained HTML page (or --json)."""
    from crmpipe.report.write import report as write_report

    cfg = load_config(config)
    path, _ = write_report(cfg, run_id, output, as_json=as_json, history=history)
    if path is not None:
        out.print(str(path), highlight=False, soft_wrap=True)


@app.command()
@_one_line_errors
def demo(
    case: Annotated[
        str, typer.Argument(help="Which case: pursuit, pipedrive or childcare.")
    ] = "pursuit",
    contacts: Annotated[int, typer.Option(help="How many contacts to generate.")] = 100_000,
    facilities: Annotated[
        int, typer.Option(help="childcare: facility rows to generate across the three lists.")
    ] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to write the case.")] = None,
) -> None:
    """Generate a demo case, run the pipeline on it and answer its reference queries."""
    from crmpipe.demo.runner import demo as run_demo

    with show.RichReporter(out) as reporter:
        result = run_demo(
            case,
            folder=folder,
            contacts=contacts,
            facilities=facilities,
            seed=seed,
            reporter=reporter,
        )
    out.print(show.summary_table(result.summary))
    out.print(show.quality_summary(result.summary), highlight=False)
    if result.leads is not None:  # the childcare case answers with its leads
        out.print(show.leads_table(result.leads))
    if result.funnel is not None:  # the sales-funnel case answers with its funnel
        out.print(show.funnel_table(result.funnel))
        out.print(show.dropoff_table(result.funnel))
        out.print(show.checks_table(result.checks))
        out.print("Charts: " + "  ".join(str(p) for p in result.charts), highlight=False)
    for query, answer in result.answers:
        flag = "-t facilities " if result.leads is not None else ""
        out.print(show.result_table(answer, title=f"crmpipe search {flag}{query!r}"))
    for line in result.hints:  # one line each, never wrapped: they run as printed
        out.print(line, highlight=False, soft_wrap=True)


@app.command()
@_one_line_errors
def funnel(
    config: ConfigOpt = None,
    month_from: Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM.")] = None,
    month_to: Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM.")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    chart: Annotated[
        Path | None, typer.Option(help="Also write a chart: .svg, .html or .png.")
    ] = None,
) -> None:
    """The monthly sales funnel and the drop-off between steps (see docs/funnel.md)."""
    from crmpipe.funnel.query import funnel_csv, funnel_json
    from crmpipe.funnel.run import funnel as run_funnel

    done = run_funnel(config, month_from=month_from, month_to=month_to, chart=chart)
    result = done.result
    if format is Format.json:
        sys.stdout.write(funnel_json(result) + "\n")
    elif format is Format.csv:
        sys.stdout.write(funnel_csv(result))
    elif not result.months:
        out.print("no funnel entries in that range of months")
    else:
        out.print(show.funnel_table(result))
        out.print(show.dropoff_table(result))
    if done.chart is not None:
        err.print(f"wrote {done.chart}", highlight=False)


@app.command()
@_one_line_errors
def publish(config: ConfigOpt = None, pg: PgOpt = None) -> None:
    """Publish the current build to PostgreSQL (without re-running the pipeline)."""
    from crmpipe.publish import publish_build

    cfg = load_config(config)
    with show.RichReporter(out) as reporter:
        result = publish_build(cfg, pg, reporter)
    assert result is not None  # only `only_if_changed` skips
    out.print(show.publish_summary(result), highlight=False)


@app.command()
@_one_line_errors
def rollback(config: ConfigOpt = None, pg: PgOpt = None) -> None:
    """Serve the previously published PostgreSQL version again."""
    from crmpipe.publish import rollback as roll_back

    dsn = _dsn(config, pg)
    out.print(f"[green]rolled back:[/] {roll_back(dsn)} serves again as schema crmpipe")


@app.command()
@_one_line_errors
def shell(
    config: ConfigOpt = None,
    pg: Annotated[
        str | None,
        typer.Option("--pg", metavar="DSN", help="Query the version published to PostgreSQL."),
    ] = None,
) -> None:
    """Interactive prompt: queries, read-only SQL and \\commands (\\help); reads piped input too."""
    from crmpipe.shell.session import shell as run_shell

    status = run_shell(_config_or_none(config, dsn_given=pg is not None), dsn=pg)
    if status:
        raise typer.Exit(status)


@app.command()
@_one_line_errors
def serve(
    config: ConfigOpt = None,
    pg: Annotated[
        str | None,
        typer.Option("--pg", metavar="DSN", help="Serve the version published to PostgreSQL."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    hash_key: Annotated[
        bool,
        typer.Option(
            "--hash-key",
            help="Read an API key from stdin and print the serve.keys hash to paste; no server.",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (search, fields, runs, reports; OpenAPI at /docs), read-only."""
    from crmpipe.api import serve as run_server

    if hash_key:
        from crmpipe.api.access import hash_key as key_hash

        key = sys.stdin.readline().strip()
        if not key:
            raise typer.BadParameter("--hash-key reads the key from stdin: none was given")
        print(f"hash: {key_hash(key)}")  # the hash only: the key is never echoed
        return

    run_server(
        _config_or_none(config, dsn_given=pg is not None),
        pg,
        host=host,
        port=port,
        announce=lambda url: out.print(f"serving on {url}", highlight=False, soft_wrap=True),
        warn=lambda line: err.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True),
    )


def _config_or_none(config: Path | None, *, dsn_given: bool) -> Config | None:
    """The project file; when a PostgreSQL DSN is given another way, none is needed (without
    one there are no search aliases or shorthands)."""
    from crmpipe.config.load import ConfigError

    try:
        return load_config(config)
    except ConfigError:
        if not dsn_given:
            raise
        return None


def _dsn(config: Path | None, pg: str | None) -> str:
    """--pg, else the project file's publish.postgres, else CRMPIPE_PG_DSN (one-line error)."""
    from crmpipe.serve import DSN_ENV, resolve_dsn

    cfg = _config_or_none(config, dsn_given=pg is not None or bool(os.environ.get(DSN_ENV)))
    dsn = resolve_dsn(cfg, pg)
    if dsn is None:
        raise PublishError(
            f"no PostgreSQL DSN: pass --pg DSN, set publish.postgres in crmpipe.yml or {DSN_ENV}"
        )
    return dsn


@app.command()
@_one_line_errors
def resolve(
    config: ConfigOpt = None,
    evaluate: Annotated[
        Path | None,
        typer.Option("--evaluate", metavar="TRUTH.csv", help="Score against a truth file."),
    ] = None,
) -> None:
    """Re-run entity resolution alone (duplicate contacts → golden records).

    With --evaluate TRUTH.csv, score the stored resolution against a truth file instead (nothing
    is re-run or written)."""
    from crmpipe.resolution.run import evaluate as evaluate_resolution
    from crmpipe.resolution.run import resolve as run_resolve

    cfg = load_config(config)
    if evaluate is not None:
        for ev in evaluate_resolution(cfg, evaluate):
            out.print(show.evaluation_table(ev))
        return
    out.print(show.resolve_results_table(run_resolve(cfg)))


class Explainable(StrEnum):
    contact = "contact"
    entity = "entity"


@app.command()
@_one_line_errors
def explain(
    kind: Annotated[Explainable, typer.Argument(help="What to explain: contact or entity.")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The golden record's id.")],
    config: ConfigOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write Splink's chart.")
    ] = None,
) -> None:
    """Show why records were merged into one golden record (Splink's waterfall)."""
    from crmpipe.resolution.explain import explain as explain_record
    from crmpipe.resolution.explain import waterfall_html

    cfg = load_config(config)
    table = cfg.tables()[f"{kind.value}s" if kind is Explainable.contact else "entities"]
    with open_store(cfg, None) as con:
        ex = explain_record(con, table, record_id, cfg.resolve_spec(table.name))
    for t in show.explanation_tables(ex):
        out.print(t)
    if html is not None:
        n = waterfall_html(ex, html)
        out.print(f"wrote {html} ({n} Splink-scored pair{'s' if n != 1 else ''})")


@app.command()
def version() -> None:
    """Print crmpipe's version."""
    out.print(f"crmpipe {crmpipe.__version__} (DuckDB {duckdb.__version__})")
