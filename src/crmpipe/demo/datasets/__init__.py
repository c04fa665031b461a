"""Generators for the demo cases: source files, a crmpipe.yml and a ground truth.

Each case lives in its own module with a `generate(folder, ...) -> GeneratedCase` function and
is listed in `CASES`. Generators imitate the real sample files in `../shared/data` when that
folder is there (`shared_data_dir()`), and fall back to fully synthetic data when it is not (a
user's clone has no `../shared`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

#: Environment variable that points at the real sample folder (the one holding `pursuit/`).
SHARED_DATA_ENV = "CRMPIPE_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The folder of real sample files, or None when there is none.

    `$CRMPIPE_SHARED_DATA` if set; else the first existing of `<cwd>/../shared/data` and
    `<repo root>/../shared/data` (the repo root being the folder that holds `src/`).
    """
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[4]
    for candidate in (Path.cwd() / ".." / "shared" / "data", repo_root / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


@dataclass
class GeneratedCase:
    """What a generator wrote.

    `files` are the source files the project file reads (not the truth nor the project file);
    `counts` holds the data rows written per file name (header excluded) and the numbers of
    planted mess of each kind (e.g. `malformed_lines`, `invalid_emails`).
    """

    folder: Path
    config_path: Path
    truth_path: Path
    files: list[Path]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetCase:
    """One demo case in the registry; its generator module is imported on first use."""

    name: str
    description: str
    module: str

    def generate(self, folder: Path, **kwargs: Any) -> GeneratedCase:
        """Run the case's generator (`<module>.generate(folder, **kwargs)`)."""
        return import_module(self.module).generate(folder, **kwargs)


CASES: dict[str, DatasetCase] = {
    "pursuit": DatasetCase(
        "pursuit",
        "public-sector contacts search (places, techstacks, customer mappings)",
        "crmpipe.demo.datasets.pursuit",
    ),
}


def get_case(name: str) -> DatasetCase:
    """The registered case called `name` (KeyError naming the known cases otherwise)."""
    try:
        return CASES[name]
    except KeyError:
        raise KeyError(f"unknown demo case {name!r}; available: {', '.join(CASES)}") from None


__all__ = ["CASES", "DatasetCase", "GeneratedCase", "get_case", "shared_data_dir"]
