"""The search page and the record pages, and `mount_pages`, which adds every page to the app.

`/` is a GET form (`q`, `table`, `offset`): without JavaScript it is a plain form and plain
links; the results, facet counts and paging come from the API's own endpoint functions
(`Endpoints`), so caps, stable ordering and masking are the API's. A query the API refuses
(a parse error with its column, a masked key's PII term, a page past the window) is shown on
the page with the API's status, never as a 500.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from crmpipe.errors import CrmpipeError
from crmpipe.search import as_backend
from crmpipe.search.catalog import SEARCH_TABLES
from crmpipe.web.access import mount_login
from crmpipe.web.endpoints import Endpoints
from crmpipe.web.render import page
from crmpipe.web.runs import mount_runs

#: Fields whose counts the search page shows, when the table has them (first four kept).
FACET_FIELDS = ("state", "department", "tech_names", "crm", "license_type", "status", "county")
FACET_TOP = 10
#: Columns the results table leaves out (the search document is long and for matching only).
HIDDEN_COLUMNS = frozenset({"document"})
#: Columns whose values link to a record page.
RECORD_LINKS = {"contact_id": "/contacts/", "entity_id": "/entities/"}


def _tables(api: Endpoints) -> list[str]:
    """The labels of the search tables the store has, the default first."""
    try:
        with api.connection() as con:
            db = as_backend(con)
            return [t.label for t in SEARCH_TABLES if db.has_table(t)]
    except CrmpipeError:
        return []


def _search(request: Request, api: Endpoints, state: dict[str, Any]) -> None:
    """Fill `state` with fields, facets and (for a query) a page of results; an error the API
    would answer becomes `state["error"]` and `state["status"]`."""
    q, table, offset, size = state["q"], state["table"], state["offset"], state["size"]
    try:
        fields = api.fields(table=table)
        state["fields"] = [f for f in fields if f["kind"] != "document"]
        names = {f["name"] for f in fields}
        chosen = [f for f in FACET_FIELDS if f in names][:4]
        state["facet_fields"] = chosen
        if chosen:
            answer = api.facets(request, fields=",".join(chosen), q=q, top=FACET_TOP, table=table)
            state["facets"] = answer["fields"]
        if q.strip():
            response = api.search(
                request, q=q, limit=size, offset=offset, format="json", table=table
            )
            result = json.loads(response.body)
            rows = result["rows"]
            columns = [c for c in (rows[0] if rows else {}) if c not in HIDDEN_COLUMNS]
            state.update(result=result, rows=rows, columns=columns)
            total = result["total"]
            state["more"] = (offset + size < total or result["capped"]) and (
                offset + 2 * size <= api.max_window
            )
            state["export_limit"] = min(max(total, 1), api.max_window)
    except CrmpipeError as exc:
        state["error"] = " ".join(str(exc).split())
        state["status"] = api.status(exc)


def _record(request: Request, api: Endpoints, kind: str, record_id: str) -> HTMLResponse:
    try:
        if kind == "contact":
            detail = api.contact(request, record_id)
        else:
            # A facility's licenses, addresses and lead provenance come with it (masked).
            detail = api.entity(request, record_id)
    except CrmpipeError as exc:
        return page(request, "error.html", status=api.status(exc), title=kind, message=str(exc))
    if getattr(request.state, "masked", False):
        detail = _without_raw_values(detail)
    return page(request, f"{kind}.html", d=detail, record_id=record_id, links=RECORD_LINKS)


def _without_raw_values(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail without its source rows' raw values: a source row holds every column of its
    file, those feeding other tables too (a facility list's contact names), which the masks
    by the record's own table don't cover, so a masked key doesn't see them on a page."""
    sources = detail.get("sources")
    if not sources:
        return detail
    return {**detail, "sources": [{**s, "values": None} for s in sources], "raw_hidden": True}


def mount_pages(app: FastAPI, api: Endpoints) -> None:
    """Add the pages (search, records, runs, reports, funnel, login) and /static to `app`."""
    static = files("crmpipe.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    mount_login(app, api)

    @app.get("/", include_in_schema=False)
    def search_page(
        request: Request,
        q: str = "",
        table: str | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HTMLResponse:
        tables = _tables(api)
        chosen = table if table and table.strip() else None
        state: dict[str, Any] = {
            "q": q,
            "table": chosen,
            "tables": tables,
            "offset": offset,
            "size": api.page_size,
            "fields": [],
            "facets": {},
            "facet_fields": [],
            "result": None,
            "error": None,
            "status": 200,
        }
        _search(request, api, state)
        status = state.pop("status")
        return page(request, "search.html", status=status, links=RECORD_LINKS, **state)

    @app.get("/contacts/{contact_id}", include_in_schema=False)
    def contact_page(request: Request, contact_id: str) -> HTMLResponse:
        return _record(request, api, "contact", contact_id)

    @app.get("/entities/{entity_id}", include_in_schema=False)
    def entity_page(request: Request, entity_id: str) -> HTMLResponse:
        return _record(request, api, "entity", entity_id)

    @app.get("/facilities/{entity_id}", include_in_schema=False)
    def facility_page(request: Request, entity_id: str) -> HTMLResponse:
        """A facility is an entity (facility_search's rows are core.entities)."""
        return _record(request, api, "entity", entity_id)

    mount_runs(app, api)
