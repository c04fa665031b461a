"""`crmpipe sync TARGET`: push new and changed store rows to a declared HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from crmpipe.cli.common import ConfigOpt, app, one_line_errors, out


@app.command()
@one_line_errors
def sync(
    target: Annotated[str, typer.Argument(help="A target declared under sync.targets.")],
    config: ConfigOpt = None,
    retry_rejected: Annotated[
        bool,
        typer.Option(
            "--retry-rejected", help="Send dead-lettered records again even if unchanged."
        ),
    ] = False,
) -> None:
    """Push the target's new and changed rows to its API (retries, checkpoints, dead letters)."""
    from crmpipe.config.load import load_config
    from crmpipe.render import console as show
    from crmpipe.sync import sync as run_sync

    summaries = run_sync(load_config(config), target, retry_rejected=retry_rejected)
    out.print(show.sync_table(summaries))
