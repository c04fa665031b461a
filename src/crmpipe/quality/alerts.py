"""Alerts: a JSON message to `alerts.webhook` when a run fails, an `error` check or SLA fails,
or a source's schema changes; every attempt is logged in `meta.alerts`.

The message is Slack-compatible (`text`, one readable paragraph) with structured fields beside
it (`event`, `run_id`, `project`, `status`, `items`) for other receivers. Sending retries
connection errors, 429 and 5xx answers with exponential backoff, and never fails the run: a
webhook that stays down only leaves a `failed` row in `meta.alerts`.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import duckdb

from crmpipe.config.schema import AlertsSpec, Config
from crmpipe.quality.engine import CheckOutcome
from crmpipe.quality.slas import SlaOutcome

#: Lines of detail listed in a message's text (all of them are in `items`).
SHOWN = 10


@dataclass
class Alert:
    """One message: the event, its readable text and structured items."""

    event: str  # run_failed | checks_failed | schema_changed
    text: str
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Delivery:
    """What happened when an alert was sent."""

    alert: Alert
    status: str  # sent | failed
    attempts: int
    message: str


def _project(cfg: Config) -> str:
    return str(cfg.path) if cfg.path else "crmpipe.yml"


def run_failed(cfg: Config, run_id: int | None, error: str) -> Alert:
    return Alert(
        "run_failed",
        f":x: crmpipe run {run_id} of {_project(cfg)} failed: {error}",
        [{"error": error}],
    )


def checks_failed(
    cfg: Config,
    run_id: int,
    checks: list[CheckOutcome],
    slas: list[SlaOutcome],
    quarantined: int,
) -> Alert | None:
    """The failed `error` checks and SLAs of run `run_id`, which left `quarantined` rows in
    quarantine (None when none failed)."""
    items: list[dict[str, Any]] = [
        {
            "kind": "check",
            "table": o.check.table,
            "column": o.check.column,
            "name": o.check.name,
            "failed_rows": o.failed,
            "quarantined": o.quarantined,
            "message": o.message,
        }
        for o in checks
        if o.status == "fail"
    ]
    items += [
        {
            "kind": "sla",
            "table": o.sla.table,
            "column": o.sla.column,
            "name": o.sla.name,
            "measured": o.measured,
            "target": o.sla.target,
            "message": o.message,
        }
        for o in slas
        if o.status == "fail"
    ]
    if not items:
        return None
    lines = [f"• {i['kind']} {i['table']}.{i['name']}: {i['message']}" for i in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"• ... and {len(items) - SHOWN} more")
    head = (
        f":warning: crmpipe run {run_id} of {_project(cfg)}: {len(items)} error "
        f"check(s)/SLA(s) failed; {quarantined:,} rows in quarantine"
    )
    return Alert("checks_failed", "\n".join([head, *lines]), items)


def schema_changed(con: duckdb.DuckDBPyConnection, cfg: Config, run_id: int) -> Alert | None:
    """The schema changes (columns added or missing) ingest recorded in this run."""
    rows = con.execute(
        "SELECT source, file, change, column_name FROM meta.schema_changes WHERE run_id = ? "
        "ORDER BY source, file, change, column_name",
        [run_id],
    ).fetchall()
    if not rows:
        return None
    items = [{"source": s, "file": f, "change": c, "column": col} for s, f, c, col in rows]
    lines = [f"• {s}: {c} column {col!r} in {f}" for s, f, c, col in rows[:SHOWN]]
    if len(rows) > SHOWN:
        lines.append(f"• ... and {len(rows) - SHOWN} more")
    head = f":information_source: crmpipe run {run_id} of {_project(cfg)}: source schema changed"
    return Alert("schema_changed", "\n".join([head, *lines]), items)


def payload(alert: Alert, cfg: Config, run_id: int | None, status: str) -> dict[str, Any]:
    """The JSON body: Slack's `text` plus structured fields."""
    return {
        "text": alert.text,
        "event": alert.event,
        "run_id": run_id,
        "project": _project(cfg),
        "status": status,
        "items": alert.items,
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def post(url: str, body: dict[str, Any], spec: AlertsSpec) -> tuple[str, int, str]:
    """POST `body` as JSON; retry connection errors, 429 and 5xx with backoff.

    Returns (status, attempts, message); never raises.
    """
    data = json.dumps(body, default=str).encode()
    message = ""
    for attempt in range(1, spec.retries + 2):
        request = urllib.request.Request(
            url,
            data=data,
            headers={"Content-Type": "application/json", "User-Agent": "crmpipe"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=spec.timeout) as resp:  # noqa: S310
                return "sent", attempt, f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            message = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                return "failed", attempt, message  # the receiver refused it: retrying won't help
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            message = f"{type(exc).__name__}: {reason}"
        if attempt <= spec.retries:
            time.sleep(spec.backoff * 2 ** (attempt - 1))
    return "failed", spec.retries + 1, message


def _shown_url(url: str) -> str:
    """Scheme and host only: webhook paths and queries often carry a secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "(invalid URL)"


def notify(
    con: duckdb.DuckDBPyConnection | None,
    cfg: Config,
    run_id: int | None,
    alerts: list[Alert],
    status: str,
) -> list[Delivery]:
    """Send each alert to the webhook (if one is configured) and log it in meta.alerts."""
    url = cfg.alerts.webhook
    if not url or not alerts:
        return []
    out: list[Delivery] = []
    for alert in alerts:
        try:
            sent, attempts, message = post(url, payload(alert, cfg, run_id, status), cfg.alerts)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
            sent, attempts, message = "failed", 0, f"{type(exc).__name__}: {exc}"
        out.append(Delivery(alert, sent, attempts, message))
        if con is None:
            continue
        with contextlib.suppress(duckdb.Error):  # logging is best effort too
            con.execute(
                "INSERT INTO meta.alerts VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?, ?)",
                [run_id, _shown_url(url), alert.event, sent, attempts, message],
            )
    return out
