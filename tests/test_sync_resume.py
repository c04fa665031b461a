"""A `crmpipe sync` killed mid-run (SIGKILL of its process) resumes where it stopped: the
records acknowledged before the kill are not sent again, none is lost, none duplicated."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from crmpipe.config.schema import Config
from crmpipe.sync import sync
from support.crm_api import ApiState, CrmApi
from support.sync_project import build_pursuit, contacts_target, project_copy


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return build_pursuit(tmp_path_factory.mktemp("resume"))


def test_a_killed_sync_resumes_without_losses_or_duplicates(built: Config, tmp_path: Path) -> None:
    state = ApiState(key_field="id", delay=0.05)
    with CrmApi(state) as api:
        target = contacts_target(api.url, batch_size=10)
        cfg = project_copy(built, tmp_path, {"crm": target})
        proc = subprocess.Popen(
            [sys.executable, "-c", "from crmpipe.cli import app; app()", "sync", "crm"]
            + ["-c", str(cfg.path)],
        )
        deadline = time.monotonic() + 60
        while state.requests < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        assert proc.returncode != 0, "the sync finished before it was killed"
        with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
            (checkpointed,) = con.execute("SELECT count(*) FROM sync.state").fetchone()
            (total,) = con.execute("SELECT count(*) FROM core.contacts").fetchone()
        assert 0 < checkpointed < total
        state.delay = 0
        (resumed,) = sync(cfg, "crm")
        assert resumed.pending == total - checkpointed and resumed.sent == resumed.pending
        assert resumed.requests == -(-resumed.pending // 10)  # (the server may still be
        # answering the killed process's last request: its own count is not compared)
    assert len(state.records()) == total
    assert set(state.keys_per_record().values()) == {1}


def test_the_documented_pipedrive_targets_send_persons_then_hot_deals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/sync.md's Pipedrive example on the funnel case: each deal's person_id is the id
    the API gave its owner's person."""
    import re

    import yaml

    from crmpipe.config.load import load_config
    from crmpipe.demo.datasets import pipedrive
    from crmpipe.pipeline import run

    case = pipedrive.generate(tmp_path / "case", deals=300, shared=False)
    docs = (Path(__file__).parents[1] / "docs" / "sync.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "pipedrive" in b)
    targets = yaml.safe_load(block)["sync"]["targets"]
    monkeypatch.setenv("PIPEDRIVE_TOKEN", "token")
    state = ApiState(key_field="name")
    with CrmApi(state) as api:
        for t in targets.values():
            t["base_url"], t["rate_limit"] = api.url, None
        targets["pipedrive_deals"]["where"] = "status = 'open'"  # the case's dates are past
        doc = yaml.safe_load(case.config_path.read_text(encoding="utf-8"))
        doc["sync"] = {"targets": targets}
        case.config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        cfg = load_config(case.config_path)
        run(cfg)
        persons, deals = sync(cfg, "pipedrive_deals")
        assert persons.sent > 0 and deals.sent > 0 and deals.waiting == 0
        assert {h["x-api-token"] for h in state.headers} == {"token"}
        with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
            ids = dict(
                con.execute(
                    "SELECT record_key, remote_id FROM sync.state WHERE target = "
                    "'pipedrive_persons'"
                ).fetchall()
            )
            owner = dict(
                con.execute("SELECT 'Deal ' || deal_id, owner_id FROM core.deals").fetchall()
            )
        sent_deals = [b for b in state.bodies if "title" in b]
        assert len(sent_deals) == deals.sent
        for body in sent_deals:
            expected = ids.get(str(owner[body["title"]]))
            assert body["person_id"] == (int(expected) if expected else None)
