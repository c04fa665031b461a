"""Rendering pages: the Jinja2 environment over the package's templates (autoescaped), the
pages' security headers, and the small helpers templates use (URLs, query terms, paging).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

#: Pages load their CSS and JS from the server only; the funnel chart is inline SVG; a run's
#: report is framed from the same server. Inline style attributes are allowed (the SVG charts
#: set their font with one); inline scripts and style elements are not.
CSP = (
    "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; script-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make forms send "Origin: null"
    "Cache-Control": "no-store",
}

env = Environment(
    loader=PackageLoader("crmpipe.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def url(path: str, **params: Any) -> str:
    """`path` with the non-empty `params` as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urllib.parse.urlencode(kept) if kept else "")


def quote_path(value: Any) -> str:
    """An id as one URL path segment."""
    return urllib.parse.quote(str(value), safe="")


def term(field: str, value: Any) -> str:
    """The query-language term testing `field` for `value`: `field:"value"` (quotes and
    backslashes escaped, docs/query-language.md)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{text}"'


def add_term(query: str, extra: str) -> str:
    """`query` narrowed by `extra` (the terms of a query are ANDed)."""
    query = query.strip()
    if not query:
        return extra
    if " or " in f" {query.lower()} ":  # keep `a OR b` together: (a OR b) extra
        return f"({query}) {extra}"
    return f"{query} {extra}"


env.globals.update(url=url, quote_path=quote_path, term=term, add_term=add_term)


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The template rendered with `context`, the caller's role and the security headers."""
    context.setdefault("masked", bool(getattr(request.state, "masked", False)))
    context.setdefault("signed_in", bool(getattr(request.state, "signed_in", False)))
    body = env.get_template(template).render(request_path=request.url.path, **context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)
