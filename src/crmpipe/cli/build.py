"""Commands that build the store: init, run, resolve, explain, demo, version."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import crmpipe
from crmpipe.cli.common import (
    ConfigOpt,
    PgOpt,
    app,
    one_line_errors,
    out,
)


@app.command()
@one_line_errors
def init(
    folder: Annotated[Path, typer.Argument(help="Folder holding the CSV files.")] = Path("."),
    output: Annotated[
        Path | None, typer.Option(help="Where to write (default DIR/crmpipe.yml).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing project file.")] = False,
) -> None:
    """Guess a starting crmpipe.yml from the CSV files in FOLDER."""
    from crmpipe.init.guess import init as guess
    from crmpipe.render import console as show

    result = guess(folder, output=output, force=force)
    out.print(show.init_table(result))
    for line in show.init_notes(result):
        out.print(line, highlight=False)
    out.print("Review the file, then run [bold]crmpipe run[/].")


@app.command()
@one_line_errors
def run(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when nothing changed.")] = False,
    pg: PgOpt = None,
    checks: Annotated[
        bool, typer.Option(help="Run the data-quality checks and SLAs (docs/quality.md).")
    ] = True,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild, and resolve every table in full.")
    ] = False,
) -> None:
    """Ingest, clean, build, check and index the project's sources (then publish, given a DSN).

    Resolution builds on the last one (only new or changed records are scored) unless --full.

    Exits with status 3 when an `error` check or SLA fails (the build is kept and served; the
    failing rows are in quarantine), 1 on any other failure.

    With --pg DSN, publish.postgres in crmpipe.yml or CRMPIPE_PG_DSN set, a successful run is
    also published to PostgreSQL (unless that build already serves there)."""
    from crmpipe.config.load import load_config
    from crmpipe.pipeline import run as run_pipeline
    from crmpipe.publish import publish_build
    from crmpipe.render import console as show
    from crmpipe.render.progress import RichReporter
    from crmpipe.serve import resolve_dsn

    cfg = load_config(config)
    with RichReporter(out) as reporter:
        summary = run_pipeline(cfg, reporter=reporter, force=force, checks=checks, full=full)
    if summary.up_to_date:
        out.print("[green]up to date:[/] no new files and no change to the project file.")
    out.print(show.summary_table(summary))
    out.print(show.steps_table(summary))
    out.print(show.quality_summary(summary), highlight=False)
    if resolve_dsn(cfg, pg) is None:
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)
        return
    with RichReporter(out) as reporter:
        published = publish_build(cfg, pg, reporter, only_if_changed=not (force or full), full=full)
    if published is None:
        out.print("[green]PostgreSQL up to date:[/] the serving version is this build.")
    else:
        out.print(show.publish_summary(published), highlight=False)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command()
@one_line_errors
def resolve(
    config: ConfigOpt = None,
    evaluate: Annotated[
        Path | None,
        typer.Option("--evaluate", metavar="TRUTH.csv", help="Score against a truth file."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Score every pair and retrain, not only what changed.")
    ] = False,
    keep_model: Annotated[
        bool,
        typer.Option(
            "--keep-model",
            help="With --full: score every pair with the stored trained model, no retraining.",
        ),
    ] = False,
) -> None:
    """Re-run entity resolution alone (duplicate contacts → golden records).

    The search tables follow in the same transaction. Builds on the last resolution (only
    new or changed records are scored) unless --full; --full --keep-model scores every pair
    again with the model the last resolutions used, instead of training a new one. With
    --evaluate TRUTH.csv, score the stored resolution against a truth file instead (nothing is
    re-run or written)."""
    from crmpipe.config.load import load_config
    from crmpipe.render import console as show
    from crmpipe.resolution.run import evaluate as evaluate_resolution
    from crmpipe.resolution.run import resolve as run_resolve

    cfg = load_config(config)
    if evaluate is not None:
        for ev in evaluate_resolution(cfg, evaluate):
            out.print(show.evaluation_table(ev))
        return
    if keep_model and not full:
        raise typer.BadParameter("--keep-model goes with --full", param_hint="--keep-model")
    out.print(show.resolve_results_table(run_resolve(cfg, full=full, keep_model=keep_model)))


class Explainable(StrEnum):
    contact = "contact"
    entity = "entity"
    customer = "customer"


#: The resolved table each kind of record is in.
EXPLAINED_TABLES = {"contact": "contacts", "entity": "entities", "customer": "customers"}


@app.command()
@one_line_errors
def explain(
    kind: Annotated[
        Explainable, typer.Argument(help="What to explain: contact, entity or customer.")
    ],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The golden record's id.")],
    config: ConfigOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write Splink's chart.")
    ] = None,
) -> None:
    """Show why records were merged into one golden record (Splink's waterfall), and where each
    value came from (source, file, row): the lead columns for a facility of a leads project."""
    from crmpipe.config.load import load_config
    from crmpipe.render import console as show
    from crmpipe.resolution.explain import explain as explain_record
    from crmpipe.resolution.explain import waterfall_html
    from crmpipe.serve import open_store

    cfg = load_config(config)
    table = cfg.tables()[EXPLAINED_TABLES[kind.value]]
    with open_store(cfg, None) as con:
        ex = explain_record(con, table, record_id, cfg.resolve_spec(table.name))
    for t in show.explanation_tables(ex):
        out.print(t)
    if html is not None:
        n = waterfall_html(ex, html)
        out.print(f"wrote {html} ({n} Splink-scored pair{'s' if n != 1 else ''})")


@app.command()
@one_line_errors
def demo(
    case: Annotated[
        str, typer.Argument(help="Which case: pursuit, pipedrive, childcare, movers or crm-merge.")
    ] = "pursuit",
    contacts: Annotated[int, typer.Option(help="How many contacts to generate.")] = 100_000,
    facilities: Annotated[
        int, typer.Option(help="childcare: facility rows to generate across the three lists.")
    ] = 3000,
    customers: Annotated[
        int, typer.Option(help="movers: customer records to generate across the branches.")
    ] = 20_000,
    branches: Annotated[int, typer.Option(help="movers: branches (1 to 30).")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to write the case.")] = None,
) -> None:
    """Generate a demo case, run the pipeline on it and answer its reference queries."""
    from crmpipe.demo.crm_merge import figures_table
    from crmpipe.demo.runner import demo as run_demo
    from crmpipe.render import console as show
    from crmpipe.render.progress import RichReporter

    with RichReporter(out) as reporter:
        result = run_demo(
            case,
            folder=folder,
            contacts=contacts,
            facilities=facilities,
            customers=customers,
            branches=branches,
            seed=seed,
            reporter=reporter,
        )
    out.print(show.summary_table(result.summary))
    out.print(show.quality_summary(result.summary), highlight=False)
    if result.movers is not None:  # the mover case: unification, duplicate jobs, SLAs
        from crmpipe.render import movers as show_movers

        out.print(show_movers.movers_table(result.movers))
        out.print(show_movers.sla_table(result.summary.slas))
        out.print(show_movers.rolling_table(result.movers))
    if result.crm is not None:  # the two-CRM case answers with before → after, scored
        out.print(figures_table(result.crm))
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
def version() -> None:
    """Print crmpipe's version."""
    import duckdb

    out.print(f"crmpipe {crmpipe.__version__} (DuckDB {duckdb.__version__})")
