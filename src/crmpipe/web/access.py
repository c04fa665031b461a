"""Access for the pages: which paths are open, the login form that sets the key cookie, and
the 401 and 429 pages the API's access middleware answers pages with.

With `serve.keys` configured, a page needs a key like an API request: the
`Authorization: Bearer KEY` or `X-API-Key: KEY` header, or — for browsers — the key cookie
that the login form (`/login`) sets: HttpOnly (no script reads it), SameSite=Strict (no other
site's page sends it), Secure over https. The cookie holds the key itself, checked on every
request like the header, so the server keeps no sessions; `/logout` clears it. A login posted
from another site's page (its Origin header names another server) is refused. Keys never go
in URLs (they would end up in histories and logs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmpipe.web.endpoints import Endpoints
from crmpipe.web.render import HEADERS, page

KEY_COOKIE = "crmpipe_key"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
#: Paths that need no key: the API's description, the pages' CSS and JS.
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def is_open(path: str) -> bool:
    """Whether `path` is served without a key (the login form is rate-limited, not open)."""
    return path in OPEN_PATHS or path.startswith("/static/")


def needs_key(path: str) -> bool:
    """Whether `path` needs a key when keys are configured (all but the open paths and the
    login and logout forms, which the rate limit still counts)."""
    return not is_open(path) and path not in (LOGIN_PATH, LOGOUT_PATH)


def _local(target: str | None) -> str:
    """`target` if it is a path on this server, else `/` (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def refusal_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The page for a request the middleware refuses: 401 (with the login form) or 429."""
    response = page(
        request,
        "refused.html",
        status=status,
        message=message,
        login=status == 401,
        next=_local(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def mount_login(app: FastAPI, api: Endpoints) -> None:
    """`GET /login` (the form), `POST /login` (check the key, set the cookie), `POST /logout`."""

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "login.html", next=_local(next), message=None)

    @app.post(LOGIN_PATH, include_in_schema=False)
    def login(
        request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
    ) -> Response:
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            # Another site's form posting a key (login CSRF): refused.
            message = "sign in from this server's own page"
            return page(request, "login.html", status=403, next="/", message=message)
        if api.key_is_known is None:
            return RedirectResponse(_local(next), status_code=303)
        if not api.key_is_known(key):
            return page(request, "login.html", status=401, next=_local(next), message="unknown key")
        response = RedirectResponse(_local(next), status_code=303, headers=HEADERS)
        response.set_cookie(
            KEY_COOKIE,
            key.strip(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post(LOGOUT_PATH, include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303, headers=HEADERS)
        response.delete_cookie(KEY_COOKIE, path="/")
        return response
