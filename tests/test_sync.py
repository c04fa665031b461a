"""`crmpipe sync`: the pursuit case's golden contacts pushed to a real HTTP server on loopback
that answers 429, 500, 400 and drops connections; nothing duplicated, nothing lost, a re-run
sends only what changed, rejected records are dead-lettered."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.schema import Config
from crmpipe.sync import SyncError, sync
from support.crm_api import ApiState, CrmApi
from support.sync_project import build_pursuit, contacts_target, project_copy

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return build_pursuit(tmp_path_factory.mktemp("sync"))


def _keys(cfg: Config) -> set[str]:
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT CAST(contact_id AS VARCHAR) FROM core.contacts").fetchall()
    return {r[0] for r in rows}


def _sql(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(cfg.warehouse_path)) as con:
        return con.execute(sql, params or []).fetchall()


def test_misbehaving_api_gets_every_record_once_and_a_rerun_sends_nothing(
    built: Config, tmp_path: Path
) -> None:
    state = ApiState(key_field="id", queued=["429", "500", "drop", "drop-after"])
    with CrmApi(state) as api:
        cfg = project_copy(built, tmp_path, {"crm": contacts_target(api.url)})
        (first,) = sync(cfg, "crm")
        keys = _keys(cfg)
        assert first.status == "done" and first.sent == first.pending == len(keys) > 100
        assert first.retried == 4 and first.rejected == 0
        # zero losses, zero duplicates: each record created under exactly one key
        assert set(state.records()) == keys
        assert set(state.keys_per_record().values()) == {1}
        assert state.answered["dropped"] == 2  # one before applying, one after
        requests = state.requests
        (again,) = sync(cfg, "crm")
        assert (again.pending, again.sent, again.unchanged) == (0, 0, len(keys))
        assert state.requests == requests


def test_a_rerun_after_a_change_sends_only_the_changed_rows(built: Config, tmp_path: Path) -> None:
    state = ApiState(key_field="id")
    with CrmApi(state) as api:
        cfg = project_copy(built, tmp_path, {"crm": contacts_target(api.url)})
        sync(cfg, "crm")
        changed = sorted(_keys(cfg))[:3]
        _sql(
            cfg,
            "UPDATE core.contacts SET title = 'Chief Sync Officer' "
            "WHERE CAST(contact_id AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
            [changed],
        )
        (second,) = sync(cfg, "crm")
        assert (second.pending, second.sent) == (3, 3)
        latest = state.records()
        assert all(latest[k]["title"] == "Chief Sync Officer" for k in changed)
        per_record = state.keys_per_record()  # a new version is a new idempotency key
        assert {k for k, n in per_record.items() if n == 2} == set(changed)
        # the batch's items carry their keys; the header a key of the batch
        assert all("idempotency_key" in item for item in state.bodies[-1])
        assert len(state.headers[-1]["Idempotency-Key"]) == 32


def test_a_400_rejects_that_record_only_and_dead_letters_it(built: Config, tmp_path: Path) -> None:
    with CrmApi(ApiState(key_field="id")) as api:
        cfg = project_copy(built, tmp_path, {"crm": contacts_target(api.url)})
        bad = sorted(_keys(cfg))[7]
        api.state.reject = {bad}
        (summary,) = sync(cfg, "crm")
        assert summary.rejected == 1 and summary.sent == summary.pending - 1
        assert bad not in api.state.records()
        assert len(api.state.records()) == summary.sent
        dead = _sql(cfg, "SELECT record_key, http_status, response, payload FROM sync.dead_letters")
        assert [(k, s) for k, s, _, _ in dead] == [(bad, 400)]
        assert f"invalid record {bad}" in dead[0][2] and f'"id":"{bad}"' in dead[0][3]
        # unchanged, it is not sent again; asked to, it is (and now accepted)
        (again,) = sync(cfg, "crm")
        assert again.pending == 0
        api.state.reject = set()
        (retry,) = sync(cfg, "crm", retry_rejected=True)
        assert (retry.sent, retry.rejected) == (1, 0) and bad in api.state.records()
        assert set(api.state.keys_per_record().values()) == {1}


def test_retry_after_replaces_the_backoff_delay(built: Config, tmp_path: Path) -> None:
    state = ApiState(key_field="id", queued=["500", "429"], retry_after="3")
    waited: list[float] = []
    with CrmApi(state) as api:
        target = contacts_target(api.url, retry={"delays": [0.5, 0.25]})
        cfg = project_copy(built, tmp_path, {"crm": target})
        (summary,) = sync(cfg, "crm", sleep=waited.append)
    assert summary.waits == waited == [0.5, 3.0]
    assert summary.sent == summary.pending


def test_an_api_down_past_the_retry_budget_is_one_line_and_keeps_the_checkpoint(
    built: Config, tmp_path: Path
) -> None:
    state = ApiState(key_field="id")
    with CrmApi(state) as api:
        cfg = project_copy(
            built, tmp_path, {"crm": contacts_target(api.url, retry={"delays": [0, 0]})}
        )
        (partial,) = sync(cfg, "crm", stop_after=2)  # as if killed after two batches
        assert (partial.status, partial.sent) == ("stopped", 50)
        state.down = True
        result = runner.invoke(app, ["sync", "crm", "-c", str(cfg.path)])
        assert result.exit_code == 1
        line = result.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert "still failing after 3 attempts (last: HTTP 503)" in line
        assert "run `crmpipe sync crm` again" in line
        assert _sql(cfg, "SELECT count(*) FROM sync.state WHERE target = 'crm'") == [(50,)]
        assert _sql(cfg, "SELECT status FROM sync.runs ORDER BY sync_id") == [
            ("stopped",),
            ("failed",),
        ]
        state.down = False
        result = runner.invoke(app, ["sync", "crm", "-c", str(cfg.path)])
        assert result.exit_code == 0, result.output
        assert "done" in result.stdout and "unchanged" in result.stdout
    assert set(state.records()) == _keys(cfg)
    assert set(state.keys_per_record().values()) == {1}


def test_connection_refused_is_one_line(built: Config, tmp_path: Path) -> None:
    with CrmApi() as api:
        url = api.url  # closed when the block ends: nothing listens there
    cfg = project_copy(built, tmp_path, {"crm": contacts_target(url, retry={"delays": [0]})})
    with pytest.raises(SyncError, match=r"ConnectError.*0 of \d+ pending records"):
        sync(cfg, "crm")


def test_references_send_the_referenced_target_first_with_its_ids(
    built: Config, tmp_path: Path
) -> None:
    """Pipedrive's shape on the pursuit case: organisations first (one per request, the id at
    data.id), then persons whose org_id is the id the API gave their organisation."""
    state = ApiState(key_field="id")
    with CrmApi(state) as api:
        orgs = {
            "base_url": api.url,
            "endpoint": "organizations",
            "table": "entities",
            "key": "entity_id",
            "fields": {"id": "'org-' || entity_id", "name": "display_name"},
            "batch_size": 1,
            "id_path": "data.id",
            "retry": {"delays": [0]},
        }
        persons = contacts_target(
            api.url, references={"org_id": {"target": "orgs", "key": "entity_id"}}
        )
        cfg = project_copy(built, tmp_path, {"orgs": orgs, "persons": persons})
        first, second = sync(cfg, "persons")
        assert (first.target, second.target) == ("orgs", "persons")
        assert first.sent == first.requests  # one record per request
        org_ids = {
            rec["id"].removeprefix("org-"): state.ids[idem]
            for idem, rec in state.created.items()
            if rec["id"].startswith("org-")
        }
        entity_of = dict(
            _sql(cfg, "SELECT CAST(contact_id AS VARCHAR), entity_id::VARCHAR FROM core.contacts")
        )
        people = {k: r for k, r in state.records().items() if not k.startswith("org-")}
        assert set(people) == _keys(cfg)
        for key, rec in people.items():
            expected = org_ids.get(entity_of[key]) if entity_of[key] is not None else None
            assert rec["org_id"] == expected, key


def test_a_bad_target_is_a_one_line_error(built: Config, tmp_path: Path) -> None:
    cfg = project_copy(
        built,
        tmp_path,
        {
            "crm": contacts_target("http://127.0.0.1:9", fields={"x": "no_such_column"}),
            "auth": contacts_target("http://127.0.0.1:9", auth={"env": "CRMPIPE_NO_SUCH_TOKEN"}),
        },
    )
    with pytest.raises(SyncError, match="did you mean 'crm'"):
        sync(cfg, "crn")
    with pytest.raises(SyncError, match=r"sync.targets.crm: .*no_such_column"):
        sync(cfg, "crm")
    with pytest.raises(SyncError, match="environment variable CRMPIPE_NO_SUCH_TOKEN is not set"):
        sync(cfg, "auth")


def test_the_auth_header_is_read_from_the_environment(
    built: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMPIPE_TEST_TOKEN", "s3cret")
    with CrmApi(ApiState(key_field="id")) as api:
        target = contacts_target(api.url, auth={"env": "CRMPIPE_TEST_TOKEN", "prefix": "Bearer "})
        cfg = project_copy(built, tmp_path, {"crm": target})
        sync(cfg, "crm")
        assert {h["Authorization"] for h in api.state.headers} == {"Bearer s3cret"}


def test_the_rate_limit_spaces_requests(built: Config, tmp_path: Path) -> None:
    slept: list[float] = []
    with CrmApi(ApiState(key_field="id")) as api:
        target = contacts_target(api.url, batch_size=100, rate_limit={"requests": 2})
        cfg = project_copy(built, tmp_path, {"crm": target})
        (summary,) = sync(cfg, "crm", sleep=slept.append)
    # 2 requests per second: request i is due i * 0.5 s after the first (the injected sleep
    # does not sleep, so each wait runs up to its request's due time)
    assert summary.requests == 3 and len(slept) == 2
    assert 0 < slept[0] <= 0.5 < slept[1] <= 1.0
