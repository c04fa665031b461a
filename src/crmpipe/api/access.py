"""Who may call the API and how often: API keys with roles, and a per-key rate limit.

Keys live in crmpipe.yml (`serve.keys`) only as `sha256:` + the SHA-256 hex digest of the key.
API keys are long random strings (`crmpipe serve --hash-key` hashes one; generate it with e.g.
`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), so a fast unsalted hash can't
be brute-forced, and checking a request costs microseconds, not a slow KDF's 50+ ms. A request
names its key as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the digest is compared with
each configured hash in constant time. Keys are never logged, echoed or kept in memory beyond
the request.

The rate limit is a sliding window per key name (per client address when no keys are
configured), in memory: at most `requests` in any `per_seconds`; past it, a 429 with
Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from crmpipe.config.schema import KEY_HASH_PREFIX, ApiKeySpec, RateLimitSpec


class Role(StrEnum):
    """What a key may see: everything, or everything with PII masked."""

    full = "full"
    masked = "masked"


def hash_key(key: str) -> str:
    """The value to store in `serve.keys[].hash` for `key` (surrounding whitespace ignored)."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.strip().encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who made a request: the key's name and role, or an anonymous client address."""

    name: str
    role: Role
    anonymous: bool = False


class Keys:
    """The configured keys; `identify` maps a request's key to its Caller (None: no match)."""

    def __init__(self, keys: Sequence[ApiKeySpec]) -> None:
        self._keys = [(k.name, k.hash.encode(), Role(k.role)) for k in keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def identify(self, key: str | None) -> Caller | None:
        """The caller whose hash matches `key`; every configured hash is compared."""
        if not key:
            return None
        digest = hash_key(key).encode()
        found: Caller | None = None
        for name, stored, role in self._keys:
            if hmac.compare_digest(digest, stored):
                found = Caller(name, role)
        return found


def request_key(headers: Callable[[str], str | None]) -> str | None:
    """The key a request sends: `Authorization: Bearer KEY`, else `X-API-Key: KEY`."""
    auth = headers("authorization") or ""
    scheme, _, value = auth.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers("x-api-key") or "").strip() or None


@dataclass
class RateLimiter:
    """A sliding-window limit per caller name, thread-safe, in memory."""

    spec: RateLimitSpec
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, who: str) -> int | None:
        """Count a request of `who`; None if allowed, else the seconds to wait (Retry-After)."""
        now = self.clock()
        window = self.spec.per_seconds
        with self._lock:
            times = self._seen.setdefault(who, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= self.spec.requests:
                return max(1, math.ceil(times[0] + window - now))
            times.append(now)
            if len(self._seen) > 10_000:  # forget idle callers (anonymous addresses)
                idle = [n for n, t in self._seen.items() if not t or t[-1] <= now - window]
                for name in idle:
                    del self._seen[name]
        return None
