"""A pursuit-case warehouse to sync from: built once per test module, copied per test so each
test's sync state and edits are its own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.config.sync import SyncSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run


def build_pursuit(folder: Path, contacts: int = 300) -> Config:
    case = pursuit.generate(folder, contacts=contacts, seed=3)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg


def contacts_target(url: str, **overrides: Any) -> dict[str, Any]:
    """The golden contacts as a target: a few fields, the key among them."""
    target: dict[str, Any] = {
        "base_url": url,
        "endpoint": "/contacts",
        "table": "contacts",
        "key": "contact_id",
        "fields": {
            "id": "contact_id",
            "name": "full_name",
            "email": "emails[1]",
            "title": "title",
        },
        "batch_size": 25,
        "retry": {"delays": [0, 0, 0, 0]},
    }
    target.update(overrides)
    return target


def project_copy(built: Config, folder: Path, targets: dict[str, dict[str, Any]]) -> Config:
    """`built`'s warehouse copied into `folder`, with `targets` as its sync section; the
    project file is written too (for commands run in a subprocess)."""
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(built.warehouse_path, warehouse)
    assert built.path is not None
    doc = yaml.safe_load(built.path.read_text(encoding="utf-8"))
    doc["warehouse"] = str(warehouse)
    doc["sync"] = {"targets": targets}
    path = built.path.parent / f"crmpipe-{folder.name}.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.sync == SyncSpec.model_validate({"targets": targets})
    return cfg
