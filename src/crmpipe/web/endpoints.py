"""What the API hands the pages: its own endpoint functions and how to open the store.

The pages call the API's endpoint functions (search, facets, fields, records, runs, reports)
rather than the search, masking and record functions behind them, so a page can't answer
differently from `/api/...`: the same caps, the same masked-key checks, the same masks. This
package sits below `crmpipe.api` in the layers (the API mounts the pages), so it receives
these functions instead of importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from crmpipe.errors import CrmpipeError


@dataclass(frozen=True)
class Endpoints:
    """The API's endpoint functions, called with the page's request and plain values.

    search(request, q, limit, offset, format, table) -> Response (JSON body)
    fields(table) -> [{"name", "kind", "aliases"}]
    facets(request, fields, q, top, table) -> {"q", "fields": {name: [{"value", "count"}]}}
    contact(request, id) / entity(request, id) -> the record's detail
    runs(request, limit) -> [run]; report(request, run_id, history) -> the report's content
    """

    search: Callable[..., Any]
    fields: Callable[..., list[dict[str, Any]]]
    facets: Callable[..., dict[str, Any]]
    contact: Callable[..., dict[str, Any]]
    entity: Callable[..., dict[str, Any]]
    runs: Callable[..., list[dict[str, Any]]]
    report: Callable[..., dict[str, Any]]
    #: A read-only connection to the store (the funnel chart reads the marts with it).
    connection: Callable[[], AbstractContextManager[Any]]
    #: Rows of a canonical table (`licenses`, ...) as the caller may see them (the API's masks
    #: for a masked key): mask_rows(request, rows, table).
    mask_rows: Callable[[Any, list[dict[str, Any]], str], list[dict[str, Any]]]
    #: The HTTP status the API gives an error (400 bad query, 403, 404, 503...).
    status: Callable[[CrmpipeError], int]
    #: The store is the PostgreSQL publication (no runs, reports or funnel there).
    on_postgres: bool
    #: The deepest page a search may ask for (offset + limit).
    max_window: int
    #: The project's page size (search.limit).
    page_size: int
    #: Whether `key` is a configured key (the login form checks it); None: no keys configured.
    key_is_known: Callable[[str], bool] | None = None
