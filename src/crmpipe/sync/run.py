"""`crmpipe sync TARGET`: push a store table's new and changed rows to an HTTP API, batch by
batch, with a checkpoint after each acknowledged batch.

Batches: a target with `batch_size: 1` sends each record as the request body (a JSON object,
its idempotency key in the `Idempotency-Key` header); a larger batch is a JSON array (or an
object holding it under `batch_field`) whose items carry their own key in `idempotency_field`,
and the header carries a key of the batch. A batch answered with a 4xx that rejects records
(400, 409, 422, ...) is sent again record by record, so only the records the API refuses are
dead-lettered. Targets a target references (a deal's person) are synced first.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from crmpipe.config.schema import Config
from crmpipe.config.suggest import suggest
from crmpipe.config.sync import SyncTargetSpec
from crmpipe.sync import state
from crmpipe.sync.http import ApiDown, Sender
from crmpipe.sync.state import SyncError
from crmpipe.warehouse.connection import connect

#: The longest API answer kept in a dead letter.
MAX_RESPONSE = 10_000

Row = tuple[str, str, str]  # record key, payload JSON, idempotency key


@dataclass
class SyncSummary:
    """One target's sync: what was pending and what became of it."""

    target: str
    sync_id: int
    status: str
    pending: int = 0
    sent: int = 0
    unchanged: int = 0
    retried: int = 0
    rejected: int = 0
    waiting: int = 0
    requests: int = 0
    batches: int = 0
    seconds: float = 0.0
    waits: list[float] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        keys = ("pending", "sent", "unchanged", "retried", "rejected", "waiting")
        return {k: getattr(self, k) for k in keys}


def sync_order(targets: dict[str, SyncTargetSpec], name: str) -> list[str]:
    """`name` after the targets it references (recursively), each once."""
    order: list[str] = []

    def visit(n: str, path: tuple[str, ...]) -> None:
        if n in path:
            raise SyncError(f"sync.targets.{n}.references: a cycle ({' -> '.join(path + (n,))})")
        for ref in targets[n].references.values():
            visit(ref.target, path + (n,))
        if n not in order:
            order.append(n)

    visit(name, ())
    return order


def sync(
    cfg: Config,
    target: str,
    *,
    retry_rejected: bool = False,
    stop_after: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SyncSummary]:
    """Sync `target` (and first the targets it references); one summary per target.

    `stop_after` ends each target's sync after that many batches, as a kill would (tests)."""
    targets = cfg.sync.targets
    if target not in targets:
        hint = (
            suggest(target, list(targets)) or " (none declared under sync.targets in crmpipe.yml)"
        )
        raise SyncError(f"no sync target {target!r}{hint}")
    con = connect(cfg.warehouse_path)
    try:
        state.ensure_schema(con)
        return [
            _sync_one(con, n, targets[n], retry_rejected, stop_after, sleep)
            for n in sync_order(targets, target)
        ]
    finally:
        con.close()


def _sync_one(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: SyncTargetSpec,
    retry_rejected: bool,
    stop_after: int | None,
    sleep: Callable[[float], None],
) -> SyncSummary:
    started = time.perf_counter()
    counts = state.plan(con, name, spec, retry_rejected=retry_rejected)
    summary = SyncSummary(name, state.start_run(con, name), "running", **counts)
    sender = Sender(name, spec, sleep=sleep)
    message = ""
    try:
        first = 1
        while first <= summary.pending:
            rows = state.batch(con, first, spec.batch_size)
            acked, rejected = _deliver(sender, spec, rows)
            state.checkpoint(con, name, summary.sync_id, acked, rejected)
            summary.sent += len(acked)
            summary.rejected += len(rejected)
            summary.batches += 1
            first += len(rows)
            if stop_after is not None and summary.batches >= stop_after:
                break
        summary.status = "done" if first > summary.pending else "stopped"
    except (ApiDown, SyncError) as exc:
        summary.status = "failed"
        left = summary.pending - summary.sent - summary.rejected
        message = (
            f"sync {name}: {exc}; {summary.sent + summary.rejected} of {summary.pending} "
            f"pending records are checkpointed, {left} left: run `crmpipe sync {name}` again "
            "to resume"
            if isinstance(exc, ApiDown)
            else str(exc)
        )
        raise SyncError(message) from None
    finally:
        sender.close()
        summary.retried, summary.requests = sender.retried, sender.requests
        summary.waits = list(sender.waits)
        summary.seconds = time.perf_counter() - started
        state.finish_run(con, summary.sync_id, summary.status, summary.counts(), message)
    return summary


def _deliver(
    sender: Sender, spec: SyncTargetSpec, rows: list[Row]
) -> tuple[list[tuple[str, str | None]], list[tuple[str, int, str]]]:
    """Send one batch; (acknowledged (key, remote id)), (rejected (key, status, response))."""
    if spec.batch_size == 1:
        key, payload, idem = rows[0]
        reply = sender.send(payload.encode(), idem)
        if reply.ok:
            return [(key, _remote_id(_json(reply.body), spec.id_path))], []
        return [], [(key, reply.status, reply.body[:MAX_RESPONSE])]
    body, batch_key = _array_body(spec, rows)
    reply = sender.send(body, batch_key)
    if reply.ok:
        ids = _remote_ids(reply.body, spec, len(rows))
        return [(r[0], i) for r, i in zip(rows, ids, strict=True)], []
    if len(rows) == 1:
        return [], [(rows[0][0], reply.status, reply.body[:MAX_RESPONSE])]
    acked: list[tuple[str, str | None]] = []
    rejected: list[tuple[str, int, str]] = []
    for row in rows:  # the API refused the batch: find out which records it refuses
        a, r = _deliver(sender, spec, [row])
        acked += a
        rejected += r
    return acked, rejected


def _array_body(spec: SyncTargetSpec, rows: list[Row]) -> tuple[bytes, str]:
    """The JSON array of a batch (each item with its idempotency key) and the batch's key."""
    tag = json.dumps(spec.idempotency_field)
    items = [
        "{" + f"{tag}:{json.dumps(idem)}" + ("," + payload[1:] if payload != "{}" else "}")
        for _, payload, idem in rows
    ]
    array = "[" + ",".join(items) + "]"
    body = array if spec.batch_field is None else "{" + f"{json.dumps(spec.batch_field)}:{array}}}"
    batch_key = hashlib.sha256("|".join(r[2] for r in rows).encode()).hexdigest()[:32]
    return body.encode(), batch_key


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _remote_id(answer: Any, path: str | None) -> str | None:
    """The id at `path` (dotted: `data.id`) in one record's answer, as JSON text."""
    if path is None:
        return None
    for part in path.split("."):
        if isinstance(answer, dict):
            answer = answer.get(part)
        elif isinstance(answer, list) and part.isdigit() and int(part) < len(answer):
            answer = answer[int(part)]
        else:
            return None
    return None if answer is None else json.dumps(answer)


def _remote_ids(text: str, spec: SyncTargetSpec, n: int) -> list[str | None]:
    """Per-record ids from a batch's answer: a list of n items (or one under `batch_field`)."""
    if spec.id_path is None:
        return [None] * n
    answer = _json(text)
    if isinstance(answer, dict) and spec.batch_field is not None:
        answer = answer.get(spec.batch_field)
    if not isinstance(answer, list) or len(answer) != n:
        return [None] * n
    return [_remote_id(item, spec.id_path) for item in answer]
