"""`crmpipe serve`: the API and its web UI (`crmpipe.api.app`) on uvicorn, on one host and port."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import uvicorn

from crmpipe.api.app import create_app
from crmpipe.config.schema import Config


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def serve(
    cfg: Config | None,
    dsn: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    cache_entries: int | None = None,
    announce: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Serve the store until interrupted; `announce` is told the URL before the server starts,
    `warn` that the API is open to the network (no `serve.keys`, a host that isn't loopback)."""
    app = create_app(cfg, dsn, cache_entries=cache_entries)
    open_api = cfg is None or not cfg.serve.keys
    if warn is not None and open_api and not is_loopback(host):
        warn(
            f"no API keys (serve.keys in crmpipe.yml): anyone who reaches {host}:{port} can read "
            "the data (docs/serve.md)"
        )
    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        announce(f"http://{shown}:{port}/  (web UI at /, API under /api, its description at /docs)")
    # No access log: at log level "warning" it printed nothing, but still cost a call per request.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
