"""The HTTP API over a store (`crmpipe serve`): `create_app` builds the FastAPI app over the
DuckDB warehouse or a published PostgreSQL schema, `serve` runs it on uvicorn.

Both are imported on first use, so that a light submodule (`crmpipe.api.access`, which
`crmpipe serve --hash-key` needs) doesn't load FastAPI, uvicorn and the stores with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmpipe.api.app import create_app
    from crmpipe.api.server import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from crmpipe.api.app import create_app

        return create_app
    if name == "serve":
        from crmpipe.api.server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
