"""Sending one request to a target's API (httpx): the rate limit, and retries with backoff on
429, 5xx and connection errors, honouring `Retry-After`.

An answer is one of: acknowledged (2xx), rejected (a 4xx that is about the records: 400, 409,
422, ...), or the end of the sync: 401/403/404/405 (the target is misconfigured, so every
record would fail alike) and an API still failing once the retry budget is spent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from crmpipe.config.sync import SyncTargetSpec
from crmpipe.sync.state import SyncError

#: Answers that say the target itself is wrong: stop rather than dead-letter every record.
FATAL = {401: "unauthorized", 403: "forbidden", 404: "not found", 405: "method not allowed"}


class ApiDown(Exception):
    """The API kept failing (429, 5xx, connection errors) after every retry."""


@dataclass
class Reply:
    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header given in seconds (an HTTP date is not honoured)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class Sender:
    """One target's HTTP client. `retried` counts retry attempts and `waits` the seconds waited
    before each, for the summary and the tests."""

    name: str
    spec: SyncTargetSpec
    sleep: Callable[[float], None] = time.sleep
    retried: int = 0
    requests: int = 0
    waits: list[float] = field(default_factory=list)
    _next_at: float = 0.0
    _client: httpx.Client | None = None

    def __post_init__(self) -> None:
        headers = {"Content-Type": "application/json", **self.spec.headers}
        auth = self.spec.auth
        if auth is not None:
            token = os.environ.get(auth.env)
            if not token:
                raise SyncError(
                    f"sync.targets.{self.name}.auth.env: environment variable {auth.env} "
                    "is not set (it holds the API's credential)"
                )
            headers[auth.header] = auth.prefix + token
        self._client = httpx.Client(timeout=self.spec.timeout, headers=headers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _pace(self) -> None:
        rate = self.spec.rate_limit
        if rate is None:
            return
        now = time.monotonic()
        if self._next_at > now:
            self.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + rate.per_seconds / rate.requests

    def send(self, body: bytes, idempotency_key: str) -> Reply:
        """POST (or the target's method) one body; retry what is worth retrying."""
        assert self._client is not None
        delays = self.spec.retry.delays
        headers = {self.spec.idempotency_header: idempotency_key}
        last = ""
        for attempt in range(len(delays) + 1):
            if attempt:
                self.retried += 1
            self._pace()
            self.requests += 1
            wait = delays[attempt] if attempt < len(delays) else None
            try:
                resp = self._client.request(
                    self.spec.method, self.spec.url, content=body, headers=headers
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            else:
                if resp.status_code in FATAL:
                    raise SyncError(
                        f"sync.targets.{self.name}: {self.spec.method} {self.spec.url} answered "
                        f"{resp.status_code} {FATAL[resp.status_code]}: check base_url, "
                        "endpoint, method and auth"
                    )
                if not _retryable(resp.status_code):
                    return Reply(resp.status_code, resp.text)
                last = f"HTTP {resp.status_code}"
                after = _retry_after(resp.headers.get("Retry-After"))
                if after is not None and wait is not None:
                    wait = min(after, self.spec.retry.max_retry_after)
            if wait is None:
                break
            self.waits.append(wait)
            if wait:
                self.sleep(wait)
        raise ApiDown(
            f"{self.spec.method} {self.spec.url} still failing after "
            f"{len(delays) + 1} attempts (last: {last.splitlines()[0] if last else '?'})"
        )
