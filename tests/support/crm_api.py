"""A CRM-like HTTP API on loopback for the sync tests and benchmark: a real threaded
http.server that misbehaves on purpose and records everything it received.

It honours idempotency keys like a careful API does (a key already applied answers the same
result again and creates nothing), so a client that reused keys correctly leaves exactly one
creation per record version, and a client that did not shows up as two keys for one record.
Misbehaviour: queued answers for the next requests (`429`, `500`, `drop`: close before
answering, `drop-after`: apply, then close without answering), random ones at given rates
(seeded), 400 for chosen record keys, everything 503 while `down`, a delay per request.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ApiState:
    key_field: str = "id"
    idempotency_field: str = "idempotency_key"
    reject: set[str] = field(default_factory=set)
    queued: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)  # {"429": .05, "500": .05, "drop": .01}
    retry_after: str = "0"
    down: bool = False
    delay: float = 0.0
    seed: int = 0
    # what happened
    requests: int = 0
    answered: Counter = field(default_factory=Counter)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> record
    ids: dict[str, int] = field(default_factory=dict)  # idempotency key -> id given
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    keep_bodies: bool = True

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.lock = threading.Lock()

    def keys_per_record(self) -> Counter:
        """How many distinct idempotency keys created each record (1 each: no duplicates)."""
        return Counter(str(r.get(self.key_field)) for r in self.created.values())

    def records(self) -> dict[str, dict[str, Any]]:
        """The last version created of each record, by its key."""
        out: dict[str, dict[str, Any]] = {}
        for rec in self.created.values():
            out[str(rec.get(self.key_field))] = rec
        return out

    def misbehaviour(self) -> str | None:
        if self.queued:
            return self.queued.pop(0)
        roll = self._rng.random()
        for what, rate in self.rates.items():
            if roll < rate:
                return what
            roll -= rate
        return None

    def apply(self, idem: str, record: dict[str, Any]) -> int:
        if idem not in self.created:
            self.created[idem] = record
            self.ids[idem] = len(self.ids) + 1
        return self.ids[idem]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    state: ApiState  # set per server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.state.answered[status] += 1

    def _drop(self) -> None:
        self.close_connection = True
        self.state.answered["dropped"] += 1

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        st = self.state
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if st.delay:
            time.sleep(st.delay)
        with st.lock:
            st.requests += 1
            doc = json.loads(body)
            if st.keep_bodies:
                st.bodies.append(doc)
                st.headers.append(dict(self.headers))
            if st.down:
                return self._answer(503, {"error": "down for maintenance"})
            what = st.misbehaviour()
            if what == "429":
                return self._answer(429, {"error": "slow down"}, {"Retry-After": st.retry_after})
            if what == "500":
                return self._answer(500, {"error": "internal"})
            if what == "drop":
                return self._drop()
            items = doc if isinstance(doc, list) else doc.get("records", [doc])
            single = not isinstance(doc, list) and "records" not in doc
            bad = [str(i.get(st.key_field)) for i in items if str(i.get(st.key_field)) in st.reject]
            if bad:
                return self._answer(400, {"error": f"invalid record {bad[0]}"})
            results = []
            for item in items:
                idem = self.headers["Idempotency-Key"] if single else item[st.idempotency_field]
                record = {k: v for k, v in item.items() if k != st.idempotency_field}
                results.append({"id": st.apply(idem, record)})
            if what == "drop-after":
                return self._drop()
            if single:
                return self._answer(201, {"success": True, "data": results[0]})
            return self._answer(200, results)

    do_PUT = do_POST
    do_PATCH = do_POST


class CrmApi:
    """`with CrmApi(ApiState(...)) as api:` serves on `api.url` until the block ends."""

    def __init__(self, state: ApiState | None = None) -> None:
        self.state = state or ApiState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CrmApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
