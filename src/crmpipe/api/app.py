"""The FastAPI app over one store, read-only: search (JSON or CSV), the searchable fields, the
run registry and a run's report as JSON, described by OpenAPI at /docs; the web UI's pages
(crmpipe.web) are mounted beside it and call these same endpoint functions.

Each request reads through its thread's cursor on one read-only handle of the DuckDB
warehouse (`crmpipe.serve.duck`: let go after a second without requests, so `crmpipe run` gets
the file between bursts), or takes a pooled PostgreSQL
session (`crmpipe.serve.pool`: read-only, the search statement timeout, its statements pinned
to one published version while a publish swaps). Every error is JSON with a one-line message
(`{"error": "..."}`): a bad query is a 400 with the parser's message and column, never a
traceback.

Access and kept answers are crmpipe.api.gate, plain ASGI in front of the app: with
`serve.keys` configured, every request for /api or a page names a key (401 otherwise), a
`masked` key's answers go through crmpipe.api.masking (whose `check_query` refuses, 403, a
masked key's search or facet query testing PII), `serve.rate_limit` answers 429; a repeated
search or facet request whose version still serves is answered from the bytes kept for it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from enum import StrEnum
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

import crmpipe
from crmpipe import web
from crmpipe.api.access import Keys, RateLimiter
from crmpipe.api.cache import AnswerCache
from crmpipe.api.errors import ApiError, answer_errors, status_of
from crmpipe.api.facets import facet_fields, facets
from crmpipe.api.gate import ANSWER_VERSION, GatedApp
from crmpipe.api.masking import Masker
from crmpipe.api.records import contact_detail, customer_detail, entity_detail
from crmpipe.api.schema import (
    ContactRecord,
    CustomerRecord,
    EntityRecord,
    Facets,
    Funnel,
    Report,
    Run,
    SearchField,
    SearchPage,
    SqlAnswer,
    answers,
    honest_openapi,
)
from crmpipe.config.schema import Config, SearchSpec
from crmpipe.funnel.query import MART, FunnelError, funnel_json
from crmpipe.funnel.query import funnel as monthly_funnel
from crmpipe.jsonvalues import json_value
from crmpipe.render import console as show
from crmpipe.report.content import report_content
from crmpipe.search import Backend, Kind, SearchResult, as_backend
from crmpipe.search import search as run_search
from crmpipe.serve import resolve_dsn
from crmpipe.serve.duck import WarehouseReader
from crmpipe.serve.pool import ReadPool
from crmpipe.serve.sql import run_read_only
from crmpipe.serve.store import StoreError
from crmpipe.serve.version import VersionGuard, VersionUnknown
from crmpipe.warehouse.connection import table_exists
from crmpipe.warehouse.runs import list_runs

#: The deepest page a search may ask for (`offset + limit`): paging fetches the rows before the
#: page too, so it is bounded like the shell's pages.
MAX_WINDOW = 10_000


#: Answers kept per served version when crmpipe.yml doesn't say (`serve.cache`).
DEFAULT_CACHE_ENTRIES = 1000

#: /api/sql: rows answered by default, and DuckDB's statement timeout (PostgreSQL sessions
#: have their own, crmpipe.serve.SEARCH_STATEMENT_TIMEOUT).
SQL_ROWS = 1000
SQL_TIMEOUT_S = 30.0


def result_bytes(result: SearchResult) -> bytes:
    """The JSON of `crmpipe search --format json` (total, capped, rows), compact: without its
    indentation the C encoder writes it, ten times faster than the indented Python one."""
    columns = result.columns
    rows = [{c: json_value(v) for c, v in zip(columns, row, strict=True)} for row in result.rows]
    answer = {"total": result.total, "capped": result.capped, "rows": rows}
    return json.dumps(answer, separators=(",", ":")).encode()


class Format(StrEnum):
    json = "json"
    csv = "csv"


#: The `table=` parameter of the search endpoints.
TableParam = Annotated[
    str | None,
    Query(
        description="The search table: contacts or facilities (default: contacts when the "
        "store has it, else facilities)."
    ),
]


def create_app(
    cfg: Config | None, dsn: str | None = None, *, cache_entries: int | None = None
) -> FastAPI:
    """The API over the PostgreSQL schema published at `dsn` (a `--pg` option) when given, else
    the project's DuckDB warehouse (`cfg`), as `crmpipe search` decides; with neither, the
    CRMPIPE_PG_DSN environment variable. `cfg` also gives the search aliases, shorthands, page
    size and count cap. `cache_entries` bounds the answers kept per served version
    (crmpipe.api.cache; default `serve.cache`, 0 turns the cache off)."""
    pg = resolve_dsn(None, dsn) if dsn else None
    if pg is None and cfg is None:
        pg = resolve_dsn(None, None)
    if pg is None and cfg is None:
        raise StoreError("no store to serve: pass --config crmpipe.yml, or --pg DSN")
    spec = cfg.search if cfg is not None else SearchSpec()
    aliases, shorthands = dict(spec.aliases), dict(spec.shorthands)
    default_limit, count_cap = spec.limit, spec.count_cap
    keys = Keys(cfg.serve.keys if cfg is not None else [])
    limit_spec = cfg.serve.rate_limit if cfg is not None else None
    limiter = RateLimiter(limit_spec) if limit_spec is not None else None
    masker = Masker(cfg)
    if cache_entries is None:
        cache_entries = cfg.serve.cache if cfg is not None else DEFAULT_CACHE_ENTRIES
    cache = AnswerCache(cache_entries)
    warehouse = WarehouseReader(cfg.warehouse_path) if cfg is not None and not pg else None
    # A Backend per served version, pinned: what it read about the tables (which exist, their
    # columns and fields) is read once per version, not once per request.
    pinned: OrderedDict[Any, Backend] = OrderedDict()
    pinned_lock = threading.Lock()

    def backend_for(version: Any, con: Any) -> Backend:
        if version is None:  # nothing published: nothing to keep
            return as_backend(con)
        with pinned_lock:
            proto = pinned.get(version)
            if proto is None:
                proto = pinned[version] = as_backend(con).pinned()
                while len(pinned) > 4:
                    pinned.popitem(last=False)
        return proto.bound(con)

    fresh = VersionGuard(pg, app="crmpipe serve") if pg and cache.enabled else None

    async def version_now() -> Any:
        """The version serving now, when it is known without a session (crmpipe.api.gate)."""
        if fresh is not None:
            try:
                oid = await fresh.read()
            except VersionUnknown:
                return None
            return None if oid is None else ("pg", oid)
        if warehouse is not None:
            opened = warehouse.version_if_open()
            return None if opened is None else ("duckdb", opened)
        return None

    pools: list[ReadPool] = []
    pools_lock = threading.Lock()

    def read_pool() -> ReadPool:
        with pools_lock:  # opened at the first request (a wrong DSN fails that request)
            if not pools:
                pools.append(ReadPool(pg, app="crmpipe serve"))
            return pools[0]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if fresh is not None:
            await fresh.close()
        for pool in pools:  # the PostgreSQL sessions end with the server
            pool.close()
        if warehouse is not None:
            warehouse.close()

    app = GatedApp(
        lifespan=lifespan,
        title="crmpipe",
        version=crmpipe.__version__,
        description="Read-only search, fields, runs and reports over a crmpipe store "
        "(docs/serve.md).",
    )

    @contextmanager
    def store() -> Iterator[tuple[Backend, Any]]:
        """(a Backend on a connection for one request, the store version it reads)."""
        if pg:  # a pooled session, its statements pinned to one published version
            with read_pool().reading_version() as (con, version):
                yield backend_for(version, con), None if version is None else ("pg", version)
            return
        if warehouse is None:
            raise StoreError("no project file: pass --config crmpipe.yml, or --pg DSN")
        with warehouse.reading() as (con, version):
            yield backend_for(version, con), ("duckdb", version)

    @contextmanager
    def connection() -> Iterator[Any]:
        with store() as (db, _):
            yield db.con

    def duckdb_only(what: str) -> None:
        if pg:
            raise ApiError(
                f"{what} live in the DuckDB warehouse, not in PostgreSQL: serve the project "
                "without --pg to see them",
                404,
            )

    app.gate_with(keys=keys, limiter=limiter, cache=cache, version=version_now)
    app.state.answers = cache  # what is kept (its hits and misses), for tests and diagnostics

    def masked(request: Request) -> bool:
        return bool(getattr(request.state, "masked", False))

    answer_errors(app)

    @app.get(
        "/api/search",
        summary="Search contacts or facilities with the query language",
        response_model=None,
        responses=answers(SearchPage, 403, 404, csv=True),
    )
    def search(
        request: Request,
        q: Annotated[str, Query(description="A query, e.g. 'title: finance state:CA,TX'.")],
        limit: Annotated[int | None, Query(ge=1, le=MAX_WINDOW)] = None,
        offset: Annotated[int, Query(ge=0, description="Rows to skip (stable order).")] = 0,
        format: Annotated[Format, Query()] = Format.json,
        table: TableParam = None,
    ) -> Response:
        """One page of matches (as `crmpipe search --format json|csv` prints it) and the
        number of matches, counted up to the project's count cap."""
        size = limit or default_limit
        if offset + size > MAX_WINDOW:
            raise ApiError(f"offset + limit is at most {MAX_WINDOW:,}: narrow the query", 400)
        hidden = masked(request)
        media = "text/csv; charset=utf-8" if format is Format.csv else "application/json"
        with store() as (db, version):
            db = db.with_table(table)
            registry = db.load_fields(aliases)
            mask = masker.for_table(db.search_spec)
            if hidden:
                mask.check_query(q, registry, shorthands)
            key = ("search", version, db.search_spec.name, q, offset, size, format, hidden)
            request.scope[ANSWER_VERSION] = version
            body = cache.get(key) if version is not None else None
            if body is not None:
                return Response(body, media_type=media)
            result = run_search(
                db,
                q,
                aliases=aliases,
                shorthands=shorthands,
                limit=offset + size,
                count_cap=count_cap,
                fields=registry,
            )
        result.rows = result.rows[offset:]
        if hidden:
            result.rows = mask.search_rows(list(result.columns), result.rows)
        body = show.result_csv(result).encode() if format is Format.csv else result_bytes(result)
        if version is not None:
            cache.put(key, body)
        return Response(body, media_type=media)

    @app.get(
        "/api/fields",
        summary="The searchable fields and their aliases",
        response_model=None,
        responses=answers(list[SearchField], 404),
    )
    def fields(table: TableParam = None) -> list[dict[str, Any]]:
        """Each field a query can name (`field: value`), its kind and the aliases naming it."""
        with store() as (db, _):
            registry = db.with_table(table).load_fields(aliases)
        named: dict[str, list[str]] = {}
        for name, f in registry.items():
            if f.is_alias:
                named.setdefault(f.column, []).append(name)
        return [
            {
                "name": f.name,
                "kind": "document" if f.kind is Kind.DOCUMENT else str(f.kind),
                "aliases": sorted(named.get(f.column, [])),
            }
            for f in sorted(registry.values(), key=lambda f: (f.position, f.name))
            if not f.is_alias
        ]

    @app.get(
        "/api/facets",
        summary="Counts per value of fields under a query",
        response_model=None,
        responses=answers(Facets, 403, 404),
    )
    def facet_counts(
        request: Request,
        fields: Annotated[str, Query(description="Comma-separated fields, e.g. 'state,crm'.")],
        q: Annotated[str, Query(description="A query; empty counts every contact.")] = "",
        top: Annotated[int, Query(ge=1, le=1000, description="Values kept per field.")] = 20,
        table: TableParam = None,
    ) -> dict[str, Any]:
        """For each field, its `top` most frequent values among the matches of `q` (list fields
        counted per element), by count then value."""
        hidden = masked(request)
        with store() as (db, version):
            db = db.with_table(table)
            registry = db.load_fields(aliases)
            chosen = facet_fields(fields.split(","), registry)
            mask = masker.for_table(db.search_spec)
            if hidden:
                mask.check_query(q, registry, shorthands)
            key = ("facets", version, db.search_spec.name, q, tuple(f.name for f in chosen), top)
            request.scope[ANSWER_VERSION] = version
            counts = cache.get(key) if version is not None else None
            if counts is None:
                counts = facets(db, q, chosen, top=top, shorthands=shorthands, registry=registry)
                if version is not None:
                    size = sum(len(str(v["value"])) + 16 for vs in counts.values() for v in vs)
                    cache.put(key, counts, size)
        if hidden:
            counts = mask.facet_counts(counts, {f.name: f.column for f in chosen})
        return {"q": q, "fields": counts}

    @app.get(
        "/api/contacts/{contact_id}",
        summary="A contact with its entity and lineage",
        response_model=None,
        responses=answers(ContactRecord, 404),
    )
    def contact(request: Request, contact_id: str) -> dict[str, Any]:
        """The contact, its entity, the entity's techstack and CRM ids, and the source rows it
        was merged from with their match probabilities (`sources`, `links`; DuckDB only)."""
        with connection() as con:
            detail = contact_detail(as_backend(con), contact_id)
        return masker.contact(detail) if masked(request) else detail

    @app.get(
        "/api/entities/{entity_id}",
        summary="An entity with its contacts",
        response_model=None,
        responses=answers(EntityRecord, 404),
    )
    def entity(request: Request, entity_id: str) -> dict[str, Any]:
        """The entity, its contacts (the first 200 by id), techstack and CRM ids."""
        with connection() as con:
            detail = entity_detail(as_backend(con), entity_id)
        return masker.entity(detail) if masked(request) else detail

    @app.get(
        "/api/customers/{customer_id}",
        summary="A golden customer with its jobs and lineage (the mover case)",
        response_model=None,
        responses=answers(CustomerRecord, 404),
    )
    def customer(request: Request, customer_id: str) -> dict[str, Any]:
        """The golden customer, its branch, its jobs, its lifetime figures and the branch
        records it unifies with their match probabilities (`sources`, `links`; DuckDB only)."""
        with connection() as con:
            detail = customer_detail(as_backend(con), customer_id)
        return masker.customer(detail) if masked(request) else detail

    @app.get(
        "/api/funnel",
        summary="The monthly sales funnel (DuckDB warehouse)",
        response_model=None,
        responses=answers(Funnel, 404),
    )
    def funnel(
        request: Request,
        month_from: Annotated[
            str | None, Query(alias="from", description="First month, YYYY-MM.")
        ] = None,
        month_to: Annotated[
            str | None, Query(alias="to", description="Last month, YYYY-MM.")
        ] = None,
    ) -> dict[str, Any]:
        """What `crmpipe funnel --format json` prints: steps, months, a row per month and step
        with conversion and drop-off rates, and totals."""
        duckdb_only("the funnel marts")
        with connection() as con:
            if not table_exists(con, "marts", MART):
                raise ApiError(
                    "no sales funnel in this project: its marts are built from the Pipedrive "
                    "files (docs/funnel.md)",
                    404,
                )
            try:
                result = monthly_funnel(con, month_from=month_from, month_to=month_to)
            except FunnelError as exc:  # its messages name the CLI's options
                message = str(exc).replace("--from", "from").replace("--to", "to")
                raise ApiError(message, 400) from None
        answer = json.loads(funnel_json(result))
        return masker.scrub(answer) if masked(request) else answer

    @app.get(
        "/api/runs",
        summary="Past runs, newest first (DuckDB warehouse)",
        response_model=None,
        responses=answers(list[Run], 404),
    )
    def runs(
        request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> list[dict[str, Any]]:
        """The run registry, as `crmpipe runs` lists it."""
        duckdb_only("runs")
        with connection() as con:
            records = list_runs(con, limit)
        answer = [
            {
                **{k: json_value(v) for k, v in dataclasses.asdict(r).items()},
                "seconds": r.seconds,
            }
            for r in records
        ]
        return masker.scrub(answer) if masked(request) else answer

    @app.get(
        "/api/runs/{run_id}/report",
        summary="A run's data-quality report as JSON",
        response_model=None,
        responses=answers(Report, 404),
    )
    def report(
        request: Request, run_id: int, history: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> dict[str, Any]:
        """The content `crmpipe report RUN --json` writes."""
        duckdb_only("runs and their reports")
        sources = {name: spec.table for name, spec in cfg.sources.items()} if cfg else None
        with connection() as con:
            content = report_content(con, run_id, history, sources=sources)
        return masker.report(content) if masked(request) else content

    @app.get(
        "/api/sql",
        summary="Read-only SQL on the store (full keys only)",
        response_model=None,
        responses=answers(SqlAnswer, 403, csv=True),
    )
    def sql(
        request: Request,
        q: Annotated[str, Query(description="One SELECT or WITH ... SELECT statement.")],
        limit: Annotated[int, Query(ge=1, le=MAX_WINDOW)] = SQL_ROWS,
        format: Annotated[Format, Query()] = Format.json,
    ) -> Response:
        """The shell's rules: one SELECT, the statement timeout, at most `limit` rows
        (`capped` says there were more). Tables answer to their bare names (contact_search,
        entities, leads). Refused for masked keys: SQL can read any column."""
        if masked(request):
            raise ApiError(
                "masked keys can't run SQL (it can read any column); ask for a full key", 403
            )
        with connection() as con:
            result = run_read_only(as_backend(con), q, limit=limit, timeout_s=SQL_TIMEOUT_S)
        if format is Format.csv:
            return Response(show.result_csv(result), media_type="text/csv; charset=utf-8")
        return Response(result_bytes(result), media_type="application/json")

    web.mount_pages(
        app,
        web.Endpoints(
            search=search,
            fields=fields,
            facets=facet_counts,
            contact=contact,
            entity=entity,
            runs=runs,
            report=report,
            connection=connection,
            mask_rows=lambda request, rows, table: (
                masker.rows(rows, table) if masked(request) else rows
            ),
            status=status_of,
            on_postgres=bool(pg),
            max_window=MAX_WINDOW,
            page_size=default_limit,
            key_is_known=(lambda key: keys.identify(key) is not None) if keys else None,
        ),
    )
    honest_openapi(app, keyed=bool(keys))
    return app
