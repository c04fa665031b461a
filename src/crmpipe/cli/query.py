"""Commands that read the store: search, runs, quarantine, report, funnel, shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from crmpipe.cli.common import (
    ConfigOpt,
    Format,
    app,
    config_or_none,
    err,
    one_line_errors,
    out,
)


@app.command()
@one_line_errors
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
    from crmpipe.config.schema import SearchSpec
    from crmpipe.render import console as show
    from crmpipe.search import explain as explain_query
    from crmpipe.search import search as run_search
    from crmpipe.serve import open_store

    cfg = config_or_none(config, dsn_given=pg is not None)
    spec = cfg.search if cfg is not None else SearchSpec()  # --pg without a project file
    opts = {"aliases": spec.aliases, "shorthands": spec.shorthands, "table": table}
    with open_store(cfg, pg, app="crmpipe search") as con:
        if explain:
            out.print(explain_query(con, query, **opts), highlight=False, markup=False)
            return
        result = run_search(con, query, limit=limit or spec.limit, count_cap=spec.count_cap, **opts)
    if format is Format.json:
        sys.stdout.write(show.result_json(result) + "\n")
    elif format is Format.csv:
        sys.stdout.write(show.result_csv(result))
    else:
        out.print(show.result_table(result))


@app.command()
@one_line_errors
def runs(
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
) -> None:
    """List past runs, newest first."""
    from crmpipe.config.load import load_config
    from crmpipe.render import console as show
    from crmpipe.serve import open_store
    from crmpipe.warehouse.runs import list_runs

    cfg = load_config(config)
    with open_store(cfg, None) as con:
        out.print(show.runs_table(list_runs(con, limit)))


@app.command()
@one_line_errors
def quarantine(
    table: Annotated[
        str | None, typer.Argument(help="A table (default: counts per table and check).")
    ] = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
) -> None:
    """List quarantined rows with the check that failed, the reason and the source line."""
    from crmpipe.config.load import load_config
    from crmpipe.quality.quarantine import quarantine as list_quarantine
    from crmpipe.render import console as show
    from crmpipe.serve import open_store

    cfg = load_config(config)
    with open_store(cfg, None) as con:
        listing = list_quarantine(con, table, limit=limit)
    out.print(show.quarantine_table(listing))


@app.command()
@one_line_errors
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
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="SPAN|DATE",
            help="Report every run of a period instead: 24h, 7d, 2w or an ISO date.",
        ),
    ] = None,
) -> None:
    """Write a run's data-quality report, or a period's (--since 7d): one self-contained HTML
    page (or --json)."""
    from crmpipe.config.load import load_config
    from crmpipe.report.write import report as write_report

    cfg = load_config(config)
    path, _ = write_report(cfg, run_id, output, as_json=as_json, history=history, since=since)
    if path is not None:
        out.print(str(path), highlight=False, soft_wrap=True)


@app.command()
@one_line_errors
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
    from crmpipe.render import console as show

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
@one_line_errors
def shell(
    config: ConfigOpt = None,
    pg: Annotated[
        str | None,
        typer.Option("--pg", metavar="DSN", help="Query the version published to PostgreSQL."),
    ] = None,
) -> None:
    """Interactive prompt: queries, read-only SQL and \\commands (\\help); reads piped input too."""
    from crmpipe.shell.session import shell as run_shell

    status = run_shell(config_or_none(config, dsn_given=pg is not None), dsn=pg)
    if status:
        raise typer.Exit(status)
