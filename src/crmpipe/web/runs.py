"""The run history, each run's data-quality report and the funnel chart, as pages.

`/runs/{id}` frames `/runs/{id}/report.html`, the page `crmpipe report` writes
(`crmpipe.report.html`), drawn from the content the API answers for `/api/runs/{id}/report`
(masked for a masked key); the report keeps its own Content-Security-Policy (no script, no
fetch). `/funnel` draws the funnel chart (`crmpipe.funnel.chart`) when the project has the
funnel marts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse

from crmpipe.errors import CrmpipeError
from crmpipe.funnel.chart import funnel_svg
from crmpipe.funnel.query import MART, FunnelError, funnel
from crmpipe.report.html import CSP as REPORT_CSP
from crmpipe.report.html import render_html
from crmpipe.warehouse.connection import table_exists
from crmpipe.web.endpoints import Endpoints
from crmpipe.web.render import HEADERS, page

RUNS_SHOWN = 50


def mount_runs(app: FastAPI, api: Endpoints) -> None:
    """`/runs`, `/runs/{id}`, `/runs/{id}/report.html` and `/funnel`."""

    def failed(request: Request, title: str, exc: CrmpipeError) -> HTMLResponse:
        return page(request, "error.html", status=api.status(exc), title=title, message=str(exc))

    @app.get("/runs", include_in_schema=False)
    def runs_page(request: Request) -> HTMLResponse:
        try:
            runs = api.runs(request, limit=RUNS_SHOWN)
        except CrmpipeError as exc:
            return failed(request, "runs", exc)
        return page(request, "runs.html", runs=runs)

    @app.get("/runs/{run_id}", include_in_schema=False)
    def run_page(request: Request, run_id: int) -> HTMLResponse:
        try:
            content = api.report(request, run_id, history=10)
        except CrmpipeError as exc:
            return failed(request, f"run {run_id}", exc)
        return page(request, "run.html", run_id=run_id, run=content.get("run", {}))

    @app.get("/runs/{run_id}/report.html", include_in_schema=False)
    def report_page(request: Request, run_id: int) -> HTMLResponse:
        try:
            content = api.report(request, run_id, history=10)
        except CrmpipeError as exc:
            return failed(request, f"run {run_id}", exc)
        headers = {**HEADERS, "Content-Security-Policy": REPORT_CSP + "; frame-ancestors 'self'"}
        return HTMLResponse(render_html(content), headers=headers)

    @app.get("/funnel", include_in_schema=False)
    def funnel_page(
        request: Request,
        month_from: Annotated[str | None, Query(alias="from")] = None,
        month_to: Annotated[str | None, Query(alias="to")] = None,
    ) -> HTMLResponse:
        form = {"month_from": month_from or "", "month_to": month_to or ""}
        if api.on_postgres:
            message = (
                "the funnel marts live in the DuckDB warehouse: serve the project without --pg"
            )
            return page(request, "funnel.html", status=404, message=message, svg=None, **form)
        try:
            with api.connection() as con:
                if not table_exists(con, "marts", MART):
                    message = (
                        "no sales funnel in this project: its marts are built from the "
                        "Pipedrive files (docs/funnel.md)"
                    )
                    return page(
                        request, "funnel.html", status=404, message=message, svg=None, **form
                    )
                result = funnel(con, month_from=month_from or None, month_to=month_to or None)
        except FunnelError as exc:
            message = str(exc).replace("--from", "from").replace("--to", "to")
            return page(request, "funnel.html", status=400, message=message, svg=None, **form)
        except CrmpipeError as exc:
            return failed(request, "funnel", exc)
        return page(request, "funnel.html", message=None, svg=funnel_svg(result), **form)
