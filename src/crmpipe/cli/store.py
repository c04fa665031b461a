"""Commands over a published PostgreSQL store or a served one: publish, rollback, serve."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crmpipe.cli.common import (
    ConfigOpt,
    PgOpt,
    app,
    config_or_none,
    dsn_for,
    err,
    one_line_errors,
    out,
)


@app.command()
@one_line_errors
def publish(
    config: ConfigOpt = None,
    pg: PgOpt = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Build and swap in a new version even when only a few rows changed."
        ),
    ] = False,
) -> None:
    """Publish the current build to PostgreSQL (without re-running the pipeline).

    When at most publish.incremental_share of the rows changed since the version serving was
    published from this warehouse, only the changed rows are sent, into that version, in one
    transaction; otherwise (or with --full) a new version is built and swapped in."""
    from crmpipe.config.load import load_config
    from crmpipe.publish import publish_build
    from crmpipe.render import console as show
    from crmpipe.render.progress import RichReporter

    cfg = load_config(config)
    with RichReporter(out) as reporter:
        result = publish_build(cfg, pg, reporter, full=full)
    assert result is not None  # only `only_if_changed` skips
    out.print(show.publish_summary(result), highlight=False)


@app.command()
@one_line_errors
def rollback(
    config: ConfigOpt = None,
    pg: PgOpt = None,
    to: Annotated[
        str | None, typer.Option(metavar="LABEL", help="Serve this kept version (leads_20241101).")
    ] = None,
) -> None:
    """Serve the previously published PostgreSQL version again (or the kept one --to names)."""
    from crmpipe.publish import rollback as roll_back
    from crmpipe.publish.versions import rollback_summary

    dsn = dsn_for(config, pg)
    out.print(f"[green]rolled back:[/] {rollback_summary(dsn, roll_back(dsn, to))}")


@app.command()
@one_line_errors
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
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Keep no search and facet answers (serve.cache) between requests."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (search, fields, runs, reports; OpenAPI at /docs), read-only."""
    if hash_key:
        from crmpipe.api.access import hash_key as key_hash

        key = sys.stdin.readline().strip()
        if not key:
            raise typer.BadParameter("--hash-key reads the key from stdin: none was given")
        print(f"hash: {key_hash(key)}")  # the hash only: the key is never echoed
        return
    from crmpipe.api import serve as run_server

    run_server(
        config_or_none(config, dsn_given=pg is not None),
        pg,
        host=host,
        port=port,
        cache_entries=0 if no_cache else None,
        announce=lambda url: out.print(f"serving on {url}", highlight=False, soft_wrap=True),
        warn=lambda line: err.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True),
    )
