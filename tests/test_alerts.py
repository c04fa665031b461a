"""Alerts reach a real local HTTP server (http.server in a thread), with retries; a webhook that
is down never fails the run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crmpipe.config.load import load_config
from crmpipe.pipeline import EXIT_CHECKS_FAILED, RunError, run
from crmpipe.warehouse.connection import connect

CONTACTS = (
    "contact_id,place_id,first_name,email,title\n"
    "c1,p1,Ann,ann@x.gov,Clerk\n"
    "c2,p1,Bob,bob@x.gov,Janitor\n"
)


class Receiver:
    """A webhook: records every JSON body; answers the queued statuses first, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _project(folder: Path, url: str, checks: str = "", retries: int = 3) -> Path:
    (folder / "contacts.csv").write_text(CONTACTS)
    (folder / "crmpipe.yml").write_text(
        "warehouse: wh.duckdb\n"
        "sources:\n  contacts:\n    path: contacts*.csv\n    table: contacts\n"
        "    columns: {contact_id: contact_id, first_name: first_name, emails: email, "
        "title: title}\n"
        f"alerts: {{webhook: '{url}', retries: {retries}, backoff: 0.01, timeout: 2}}\n" + checks
    )
    return folder / "crmpipe.yml"


FAILING = (
    "checks:\n  contacts:\n    columns:\n      title: [{accepted_values: {values: [Clerk]}}]\n"
)


def _alert_rows(cfg) -> list[tuple]:
    con = connect(cfg.warehouse_path, read_only=True)
    rows = con.execute(
        "SELECT run_id, url, event, status, attempts, message FROM meta.alerts ORDER BY sent_at"
    ).fetchall()
    con.close()
    return rows


def test_failed_error_check_alerts_after_a_retry(tmp_path, receiver):
    receiver.statuses = [500]  # the first attempt fails, the retry succeeds
    cfg = load_config(_project(tmp_path, receiver.url, FAILING))
    summary = run(cfg)
    assert summary.exit_code == EXIT_CHECKS_FAILED
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    body = receiver.bodies[-1]
    assert body["event"] == "checks_failed" and body["run_id"] == summary.run_id
    assert body["status"] == "checks_failed"
    assert "accepted_values_title" in body["text"] and "1 rows in quarantine" in body["text"]
    [item] = body["items"]
    assert item["kind"] == "check" and item["quarantined"] == 1 and item["table"] == "contacts"
    rows = _alert_rows(cfg)
    assert rows == [
        (
            summary.run_id,
            "http://127.0.0.1:" + receiver.url.split(":")[2].split("/")[0] + "/…",
            "checks_failed",
            "sent",
            2,
            "HTTP 200",
        )
    ]
    assert "T0KEN" not in rows[0][1]  # the secret part of a webhook URL is not logged


def test_passing_run_sends_nothing(tmp_path, receiver):
    cfg = load_config(_project(tmp_path, receiver.url))
    summary = run(cfg)
    assert summary.exit_code == 0 and receiver.bodies == [] and _alert_rows(cfg) == []


def test_failed_error_sla_alerts(tmp_path, receiver):
    sla = "slas:\n  - {metric: completeness, table: contacts, column: phone, target: 95}\n"
    cfg = load_config(_project(tmp_path, receiver.url, sla))
    run(cfg)
    [body] = receiver.bodies
    assert body["items"][0]["kind"] == "sla" and body["items"][0]["measured"] == 0.0


def test_run_failure_alerts(tmp_path, receiver):
    path = _project(tmp_path, receiver.url)
    path.write_text(path.read_text().replace("title: title", "title: job_title"))
    cfg = load_config(path)
    with pytest.raises(RunError):
        run(cfg)
    [body] = receiver.bodies
    assert body["event"] == "run_failed" and "job_title" in body["text"]
    assert _alert_rows(cfg)[0][2:4] == ("run_failed", "sent")


def test_schema_change_alerts(tmp_path, receiver):
    cfg = load_config(_project(tmp_path, receiver.url))
    run(cfg)
    assert receiver.bodies == []
    (tmp_path / "contacts2.csv").write_text(
        "contact_id,place_id,first_name,email,title,fax\nc3,p1,Cy,cy@x.gov,Clerk,555\n"
    )
    run(cfg)
    [body] = receiver.bodies
    assert body["event"] == "schema_changed"
    assert any(i["column"] == "fax" for i in body["items"]) and "fax" in body["text"]


def test_webhook_down_never_fails_the_run(tmp_path, receiver):
    url = receiver.url
    receiver.close()  # nothing listens any more
    cfg = load_config(_project(tmp_path, url, FAILING, retries=2))
    summary = run(cfg)
    assert summary.exit_code == EXIT_CHECKS_FAILED  # the checks' verdict, not an alert error
    [(_, _, event, status, attempts, message)] = _alert_rows(cfg)
    assert (event, status, attempts) == ("checks_failed", "failed", 3)
    assert "Error" in message


def test_refused_alert_is_not_retried(tmp_path, receiver):
    receiver.statuses = [404]
    cfg = load_config(_project(tmp_path, receiver.url, FAILING))
    run(cfg)
    assert len(receiver.bodies) == 1
    assert _alert_rows(cfg)[0][3:] == ("failed", 1, "HTTP 404")
