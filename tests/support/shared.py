"""The real sample files in ../shared/data: tests that need them skip, with a clear message,
when the folder is absent (a user's clone has no ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmpipe.demo.datasets import shared_data_dir


def shared_folder(name: str) -> Path:
    """`<shared data>/<name>`, or skip the test saying where it was looked for."""
    base = shared_data_dir()
    folder = base / name if base is not None else None
    if folder is None or not folder.is_dir():
        where = folder or "../shared/data (or $CRMPIPE_SHARED_DATA)"
        pytest.skip(f"real sample folder {where} is absent (it lives in ../shared/data)")
    return folder
