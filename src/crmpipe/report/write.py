"""`crmpipe report [RUN]` / `crmpipe report --since 7d`: one run's (or a period's) data-quality
report written as a self-contained HTML page or JSON — where it goes (default
reports/run-<id>.html beside the warehouse, a folder, a file or standard output) and the
`report()` entry point the CLI calls.

The page has inline CSS and inline SVG charts, no script and no external resource: it opens
offline, and a Content-Security-Policy forbids it to fetch anything (see `report.html`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from crmpipe.config.schema import Config
from crmpipe.report.collect import ReportError
from crmpipe.report.content import render_json, report_content
from crmpipe.report.html import render_html
from crmpipe.report.period import period_content
from crmpipe.report.period_html import render_period_html
from crmpipe.warehouse.connection import connect


def default_path(warehouse: Path, run_id: int, as_json: bool) -> Path:
    """reports/run-<id>.html (or .json) beside the warehouse file."""
    return warehouse.parent / "reports" / f"run-{run_id}.{'json' if as_json else 'html'}"


def period_path(warehouse: Path, content: dict[str, Any], as_json: bool) -> Path:
    """reports/period-<first run>-<last run>.html (or .json) beside the warehouse file."""
    runs = content["runs"]
    name = f"period-{runs['first']}-{runs['last']}.{'json' if as_json else 'html'}"
    return warehouse.parent / "reports" / name


def write_report(
    content: dict[str, Any], output: Path | str | None, *, warehouse: Path, as_json: bool = False
) -> Path | None:
    """Write the rendered report; None when `output` is '-' (written to standard output).

    `output` may be a file, an existing directory (or one named with a trailing slash) to put
    run-<id>.html in, or None for the default path beside the warehouse. A period's content
    (`report.period`) is written as period-<first run>-<last run>.html.
    """
    period = "period" in content
    if as_json:
        text = render_json(content)
    else:
        text = render_period_html(content) if period else render_html(content)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    if period:
        default = period_path(warehouse, content, as_json)
    else:
        default = default_path(warehouse, content["run"]["run_id"], as_json)
    name = default.name
    if output is None:
        path = default
    elif Path(output).is_dir() or str(output).endswith(("/", "\\")):
        path = Path(output) / name
    else:
        path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    return path


def report(
    config: Any,
    run: int | None = None,
    output: Path | str | None = None,
    *,
    as_json: bool = False,
    history: int = 10,
    since: str | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """Collect and write one run's report, or with `since` (`7d`, `24h`, `2w`, an ISO date)
    the report of the runs of that period; return (path or None for '-', content).

    `config` is a loaded `Config` (its warehouse, and its sources' tables) or a warehouse path.
    """
    if since is not None and run is not None:
        raise ReportError("give a RUN or --since, not both: --since reports every run since then")
    if isinstance(config, Config):
        warehouse = config.warehouse_path
        sources = {name: spec.table for name, spec in config.sources.items()}
    else:
        warehouse, sources = Path(config), None
    con = connect(warehouse, read_only=True)
    try:
        if since is not None:
            content = period_content(con, since)
        else:
            content = report_content(con, run, history, sources=sources)
    finally:
        con.close()
    return write_report(content, output, warehouse=warehouse, as_json=as_json), content
