"""What the API's OpenAPI description (`/openapi.json`, `/docs`) says each endpoint answers:
the models of its 200 answers and the error answers it can give (400, 401, 403, 404, 429, 503,
all `{"error": "..."}`).

The models describe the JSON the endpoints already write (the CLI's `--format json` shapes);
they are documentation, not a serialization step — the endpoints return plain dicts or a
ready `Response`, so answering costs no model validation. tests/test_serve_schema.py holds the
running server to them (schemathesis): an answer the description doesn't declare fails.
FastAPI's own 422 "Validation Error" is dropped from the description: this API answers a bad
parameter with a 400 like any other bad request (`crmpipe.api.app`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field


class ErrorAnswer(BaseModel):
    """Every error: one line saying what went wrong and what to do."""

    error: str


class SearchPage(BaseModel):
    """A page of matches, as `crmpipe search --format json` prints it."""

    total: int = Field(description="Matches, counted up to the project's search.count_cap.")
    capped: bool = Field(description="More matched than `total` says.")
    rows: list[dict[str, Any]] = Field(description="The page's rows, one object per row.")


class SearchField(BaseModel):
    """A searchable field."""

    name: str
    kind: str
    aliases: list[str]


class FacetValue(BaseModel):
    value: Any
    count: int


class Facets(BaseModel):
    """The most frequent values of each field among the matches of `q`."""

    q: str
    fields: dict[str, list[FacetValue]]


class Record(BaseModel):
    """Lineage of a record: its source rows and their links (null on PostgreSQL, with
    `lineage` saying why)."""

    model_config = ConfigDict(extra="allow")
    techstack: list[dict[str, Any]]
    crm_ids: list[dict[str, Any]]
    sources: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None = None
    lineage: str | None = None


class ContactRecord(Record):
    """A contact, its entity (null when it has none) and the entity's related rows."""

    contact: dict[str, Any]
    entity: dict[str, Any] | None


class CustomerRecord(BaseModel):
    """A golden customer (the mover case), its branch, its jobs (the first 500 by move date),
    its lifetime figures (null without the job marts) and the branch records it unifies with
    their match probabilities (`sources`, `links`; null on PostgreSQL, `lineage` says why)."""

    model_config = ConfigDict(extra="allow")
    customer: dict[str, Any]
    branch: dict[str, Any] | None
    jobs: list[dict[str, Any]]
    jobs_truncated: bool
    lifetime: dict[str, Any] | None
    sources: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None = None
    lineage: str | None = None


class EntityRecord(Record):
    """An entity (a facility is one), its first contacts and related rows; the facility
    tables (`licenses`, `addresses`, `schedules`) and lead `provenance` are null where the
    store has none."""

    entity: dict[str, Any]
    contacts: list[dict[str, Any]]
    contacts_truncated: bool
    licenses: list[dict[str, Any]] | None = None
    addresses: list[dict[str, Any]] | None = None
    schedules: list[dict[str, Any]] | None = None
    provenance: list[dict[str, Any]] | None = None


class Funnel(BaseModel):
    """What `crmpipe funnel --format json` prints."""

    steps: list[dict[str, Any]]
    months: list[str]
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]]


class Run(BaseModel):
    """One run of the registry, as `crmpipe runs` lists it."""

    model_config = ConfigDict(extra="allow")
    run_id: int
    started_at: str
    finished_at: str | None
    status: str
    seconds: float | None


class Report(BaseModel):
    """A run's data-quality report, as `crmpipe report RUN --json` writes it."""

    model_config = ConfigDict(extra="allow")
    run: dict[str, Any]


class SqlAnswer(SearchPage):
    """At most `limit` rows of the statement (`capped`: there were more)."""


_ERRORS = {
    400: "A request that can't run: the query parser's message with its column, a bad "
    "parameter, the statement timeout.",
    401: "Keys are configured and the request sent none, or an unknown one.",
    403: "A masked key asked for personal fields, free text or SQL.",
    404: "An unknown record or run; what a PostgreSQL store or this project doesn't have.",
    429: "Past the rate limit; the Retry-After header says when to try again (seconds).",
    503: "The store can't be opened (no warehouse yet, PostgreSQL unreachable).",
}


def answers(model: type[BaseModel] | Any, *errors: int, csv: bool = False) -> dict[int | str, Any]:
    """`responses=` for a route: its 200 `model` (and text/csv when `csv`), the errors every
    API route can give (400, 401, 429, 503) and the route's own (`errors`)."""
    ok: dict[str, Any] = {"model": model, "description": "The answer."}
    if csv:
        ok["content"] = {"text/csv": {"schema": {"type": "string"}}}
    out: dict[int | str, Any] = {200: ok}
    for status in sorted({400, 401, 429, 503, *errors}):
        out[status] = {"model": ErrorAnswer, "description": _ERRORS[status]}
        if status == 429:
            out[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
    return out


#: How a request names its key, when keys are configured (docs/serve.md).
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def honest_openapi(app: FastAPI, *, keyed: bool) -> None:
    """Give `app` an OpenAPI description without FastAPI's 422 answers (a bad parameter is a
    400 here, which every route declares) and, when `keyed`, with the two ways of sending a
    key as its security schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            if keyed:
                schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
                schema["security"] = [{name: []} for name in SECURITY_SCHEMES]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
