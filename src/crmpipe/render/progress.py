"""Run progress on the terminal with rich: the `Reporter` the CLI hands the pipeline and the
publish step.

Apart from `render.console` because it builds on `crmpipe.pipeline.Reporter`: the commands that
only read (search, runs, ...) draw tables without loading the pipeline.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from crmpipe.reporter import Reporter


class RichReporter(Reporter):
    """One progress line per step: spinner while it runs, then its row count and detail."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<28}"),
            TextColumn("{task.fields[rows]:>12}"),
            TextColumn("[dim]{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, step: str, target: str) -> None:
        self.tasks[(step, target)] = self.progress.add_task(
            f"{step} {target}", total=1, rows="", detail=""
        )

    def end(self, step: str, target: str, rows: int, seconds: float, detail: str = "") -> None:
        task = self.tasks[(step, target)]
        self.progress.update(task, completed=1, rows=f"{rows:,} rows", detail=detail)
