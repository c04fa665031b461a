"""A real uvicorn server for API tests: crmpipe's app in a thread, on a free loopback port.

Requests go over real HTTP (urllib), so routing, middleware, status codes and headers are
what a client sees.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import uvicorn

from crmpipe.api import create_app
from crmpipe.config.schema import Config
from crmpipe.publish.pgserver import free_port


class Server:
    """`create_app(cfg, dsn)` served by uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, cfg: Config | None, dsn: str | None = None) -> None:
        self.port = free_port()
        self.app = create_app(cfg, dsn)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of GET `path` with query `params`."""
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of `method` `path` with query `params` (no redirects)."""
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            con.request(method, url, headers=headers or {})
            resp = con.getresponse()
            return resp.status, dict(resp.headers), resp.read().decode()
        finally:
            con.close()

    def json(self, path: str, **params: Any) -> tuple[int, Any]:
        """(status, decoded body) of GET `path`; the answer must be JSON."""
        status, headers, body = self.get(path, **params)
        ctype = headers["content-type"]
        assert ctype.startswith("application/json"), (ctype, body)
        return status, json.loads(body)
