"""The HTTP API over a store (`crmpipe serve`): `create_app` builds the FastAPI app over the
DuckDB warehouse or a published PostgreSQL schema, `serve` runs it on uvicorn."""

from crmpipe.api.app import create_app
from crmpipe.api.server import serve

__all__ = ["create_app", "serve"]
