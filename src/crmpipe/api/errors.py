"""The API's errors: every one is JSON with a one-line message (`{"error": "..."}`), with
the status saying whose trouble it is — never a traceback, never FastAPI's 422.

`status_of` maps crmpipe's own errors to their HTTP status (the web UI's pages use it too);
`answer_errors` installs the handlers that turn every exception a request can raise into that
JSON: crmpipe errors, Starlette's HTTP errors (an unknown path is a 404 naming it), a bad
parameter (a 400 naming it, where FastAPI would answer a 422 with a list), anything else (a 500
with the exception's first line, which tests/test_serve_schema.py makes sure never happens).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from crmpipe.api.masking import PiiQueryError
from crmpipe.api.records import RecordNotFound
from crmpipe.errors import CrmpipeError, first_line
from crmpipe.report.collect import ReportError
from crmpipe.serve.store import StoreError
from crmpipe.warehouse.connection import WarehouseError


class ApiError(CrmpipeError):
    """A request the API can't answer, with its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def status_of(exc: CrmpipeError) -> int:
    """The HTTP status of a crmpipe error."""
    if isinstance(exc, ApiError | PiiQueryError):
        return exc.status
    if isinstance(exc, ReportError | RecordNotFound):
        return 404
    if isinstance(exc, StoreError | WarehouseError):
        return 503  # the store can't be opened: the server's trouble, not the request's
    return 400


def error_answer(status: int, message: str) -> JSONResponse:
    """`{"error": message}` on one line, with `status`."""
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def answer_errors(app: FastAPI) -> None:
    """Answer every exception a request of `app` raises as a one-line JSON error."""

    @app.exception_handler(CrmpipeError)
    async def _crmpipe_error(_: Request, exc: CrmpipeError) -> JSONResponse:
        return error_answer(status_of(exc), str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_answer(404, f"no such path: {request.url.path} (the API is under /api)")
        return error_answer(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return error_answer(400, "; ".join(problems))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_answer(500, f"internal error: {first_line(exc)}")
