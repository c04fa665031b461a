"""The door of every request (plain ASGI, in front of FastAPI): access, then kept answers.

Access: with `serve.keys` configured, every request for /api or a page names a key, as a header
or the web UI's key cookie (401 otherwise); `serve.rate_limit` answers 429 with Retry-After
past the limit, per key (per client address without keys); the caller's role goes into the
request's state (`masked`) for the endpoints. /docs, /openapi.json and /static stay open.

Kept answers: a `GET /api/search` or `/api/facets` that answered 200 is kept whole (status line
headers and body bytes) under the version it was read from — which the endpoint names in the
request's scope (`ANSWER_VERSION`) — with the exact query string and whether the key is masked.
The next identical request is answered from those bytes once `version()` says that version
still serves: no worker thread, no FastAPI routing or parameter validation, no session, no
JSON encoding (on PostgreSQL one version read shared by the requests waiting,
crmpipe.serve.version; on DuckDB none while the shared handle is open). Access is checked
first, so a refused request is refused whatever is kept.

Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs each
request through a task group and memory streams, milliseconds of the event loop's time per
request under load. And in front of FastAPI's own middleware, not inside it (`GatedApp`): a
kept answer then skips FastAPI's error, telemetry and body-limit layers too (about a tenth of
the server's CPU per kept answer); requests that go on get the whole stack as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmpipe import web
from crmpipe.api.access import Caller, Keys, RateLimiter, Role, request_key
from crmpipe.api.cache import AnswerCache

#: The scope key where an endpoint names the store version its answer was read from.
ANSWER_VERSION = "crmpipe.version"
#: The answers kept whole: their bytes depend only on the query string, the role and the version.
KEPT_PATHS = frozenset({"/api/search", "/api/facets"})


def repeated_parameter(query: bytes) -> str | None:
    """The first query parameter named twice, or None: every API parameter takes one value
    (lists are comma-separated, `fields=state,crm`), and silently using the last of several
    would answer a question other than the one asked."""
    if b"&" not in query:
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


def _repeated(name: str) -> JSONResponse:
    message = f"query parameter {name!r} is given more than once: send it once"
    return JSONResponse({"error": message}, status_code=400)


class Gate:
    """ASGI middleware: access checks, then kept answers of KEPT_PATHS (see the module doc).
    `version` is an awaitable of the version serving now, or None when it isn't known without
    reading the store (the request then goes to the endpoint)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Keys,
        limiter: RateLimiter | None,
        cache: AnswerCache,
        version: Callable[[], Awaitable[Any]],
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.cache = cache
        self.version = version
        # Requests answered the long way now, by (path, query, masked): the same request
        # arriving meanwhile waits for that answer instead of running the same search again
        # (after a swap every kept answer is of the old version, and all clients miss at once).
        self._running: dict[tuple[str, bytes, bool], asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or web.is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        refusal = self._admit(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        path = scope["path"]
        query = scope.get("query_string", b"")
        if not self.cache.enabled or scope["method"] != "GET" or path not in KEPT_PATHS:
            await self._checked(scope, receive, send, query)
            return
        masked = scope["state"]["masked"]
        version = await self.version()
        # A kept answer's query string was checked when it was answered the long way.
        if version is not None and await self._kept(send, version, path, query, masked):
            return
        repeated = repeated_parameter(query)
        if repeated is not None:
            await _repeated(repeated)(scope, receive, send)
            return
        running = self._running.get((path, query, masked))
        if running is not None and version is not None:
            # The same request is being answered: its answer, if kept for the version read
            # above (after this request arrived), is this request's answer too.
            await running.wait()
            if await self._kept(send, version, path, query, masked):
                return
        key = (path, query, masked)
        leads = key not in self._running
        if leads:
            self._running[key] = asyncio.Event()
        try:
            await self._answer_and_keep(scope, receive, send, path, query, masked)
        finally:
            if leads:
                self._running.pop(key).set()

    async def _kept(self, send: Send, version: Any, path: str, query: bytes, masked: bool) -> bool:
        """Answer from the bytes kept for `version`; False when none are."""
        kept = self.cache.get(("answer", version, path, query, masked))
        if kept is None:
            return False
        headers, body = kept
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _admit(self, scope: Scope) -> JSONResponse | None:
        """None when the request may go on (its role put in its state), else the refusal."""
        path = scope["path"]
        page = not path.startswith("/api")  # the web UI's pages answer refusals as pages
        state = scope.setdefault("state", {})
        client = scope.get("client")
        caller: Caller | None = Caller(client[0] if client else "unknown", Role.full, True)
        if self.keys and web.needs_key(path):
            request = Request(scope)
            sent = request_key(request.headers.get) or request.cookies.get(web.KEY_COOKIE)
            caller = self.keys.identify(sent)
            if caller is None:
                message = (
                    "unknown API key"
                    if sent
                    else "an API key is required: send "
                    "'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                )
                if page:
                    return web.refusal_page(request, 401, message)
                return JSONResponse(
                    {"error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
            state["signed_in"] = request.cookies.get(web.KEY_COOKIE) is not None
        assert caller is not None
        if self.limiter is not None:
            wait = self.limiter.check(("ip:" if caller.anonymous else "key:") + caller.name)
            if wait is not None:
                message = f"rate limit exceeded: retry in {wait} s"
                refusal = (
                    web.refusal_page(Request(scope), 429, message)
                    if page
                    else JSONResponse({"error": message}, status_code=429)
                )
                refusal.headers["Retry-After"] = str(wait)
                return refusal
        state["masked"] = caller.role is Role.masked
        return None

    async def _checked(self, scope: Scope, receive: Receive, send: Send, query: bytes) -> None:
        """The app's answer, unless an API request names a query parameter twice (a 400)."""
        repeated = None if not scope["path"].startswith("/api") else repeated_parameter(query)
        if repeated is not None:
            await _repeated(repeated)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _answer_and_keep(
        self, scope: Scope, receive: Receive, send: Send, path: str, query: bytes, masked: bool
    ) -> None:
        """Let the endpoint answer, and keep a whole 200 answer under the version it names."""
        start: Message | None = None
        parts: list[bytes] = []
        whole = True

        async def sending(message: Message) -> None:
            nonlocal start, whole
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                whole = whole and not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, sending)
        version = scope.get(ANSWER_VERSION)
        if start is None or start["status"] != 200 or version is None or not whole:
            return
        body = b"".join(parts)
        headers = list(start.get("headers", []))
        self.cache.put(("answer", version, path, query, masked), (headers, body), len(body))


class GatedApp(FastAPI):
    """FastAPI with a `Gate` in front of its whole middleware stack (`gate_with`): HTTP
    requests meet the gate first; what it lets through is FastAPI's as usual."""

    gate: Gate | None = None

    def gate_with(self, **options: Any) -> Gate:
        """Put a Gate (its keyword options) in front of this app; returns it."""

        async def stack(scope: Scope, receive: Receive, send: Send) -> None:
            await FastAPI.__call__(self, scope, receive, send)

        self.gate = Gate(stack, **options)
        return self.gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        if gate is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self.root_path:
            scope["root_path"] = self.root_path
        scope["app"] = self  # as Starlette sets it: refusal pages are rendered through it
        await gate(scope, receive, send)
