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
        requests_before = state.requests
        (resumed,) = sync(cfg, "crm")
        assert resumed.pending == total - checkpointed and resumed.sent == resumed.pending
        assert state.requests - requests_before == -(-resumed.pending // 10)
    assert len(state.records()) == total
    assert set(state.keys_per_record().values()) == {1}
