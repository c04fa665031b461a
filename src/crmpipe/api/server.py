"""`crmpipe serve`: the API (`crmpipe.api.app`) on uvicorn, on one host and port."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn

from crmpipe.api.app import create_app
from crmpipe.config.schema import Config


def serve(
    cfg: Config | None,
    dsn: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the store until interrupted; `announce` is told the URL before the server starts."""
    app = create_app(cfg, dsn)
    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        announce(f"http://{shown}:{port}/  (API under /api, its description at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
