"""Smoke test of benchmarks/leads.py: the whole script at a tiny size (generation, one run in a
child process, facility F1 and the exact-phone baseline), so it keeps working between the
benchmark's real runs at 1M facility rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def leads_bench(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))  # `from childrun import child_run`
    spec = importlib.util.spec_from_file_location("bench_leads", BENCH / "leads.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("childrun", None)


def test_leads_benchmark_runs_at_a_tiny_size(leads_bench, tmp_path: Path, capsys) -> None:
    args = ["--facilities", "1200", "--leads", "120", "--repeat", "1", "--dir", str(tmp_path)]
    assert leads_bench.main(args) == 0
    out = capsys.readouterr().out
    assert "pairwise F1" in out and "baseline (exact phone)" in out
    assert "peak RSS" in out and "load" in out
    assert "reconciliation balanced" in out and "NO" not in out.split("reconciliation")[-1]
    # --keep reuses the generated files
    assert leads_bench.main([*args, "--keep"]) == 0
    assert "kept" in capsys.readouterr().out
