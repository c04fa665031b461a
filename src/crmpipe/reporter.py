"""The progress hook of long work (a run, a publish): its own module, so that the CLI's rich
progress and the publish stack name it without importing the pipeline and its whole stack."""

from __future__ import annotations


class Reporter:
    """Receives progress; the CLI draws it with rich, tests and the library stay quiet."""

    def start(self, step: str, target: str) -> None:  # noqa: B027 - optional hook
        pass

    def end(self, step: str, target: str, rows: int, seconds: float, detail: str = "") -> None:  # noqa: B027
        pass
