"""docs/architecture.md: the layout it describes is the package's, and modules stay small."""

from __future__ import annotations

import re
from pathlib import Path

import crmpipe

PACKAGE = Path(crmpipe.__file__).parent
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
#: Generated word lists: long by nature, not by mixing jobs.
SIZE_EXEMPT = {"demo/datasets/vocab.py"}
MAX_LINES = 500


def _layout_names() -> set[str]:
    """The top-level names in the doc's layout block (`errors.py`, `config/`, ...)."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("src/crmpipe/\n", 1)[1].split("```", 1)[0]
    return {m.group(1) for m in re.finditer(r"^  (\w+(?:\.py|/))", block, re.M)}


def _package_names() -> set[str]:
    names = set()
    for p in PACKAGE.iterdir():
        if p.name.startswith(("_", ".")):
            continue
        if p.is_dir() and (p / "__init__.py").exists():
            names.add(p.name + "/")
        elif p.suffix == ".py":
            names.add(p.name)
    return names


def test_the_documented_layout_is_the_package() -> None:
    assert _layout_names() == _package_names()


def test_every_module_says_its_job() -> None:
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if not p.read_text(encoding="utf-8").lstrip().startswith(('"""', 'r"""'))
    ]
    assert missing == []


def test_no_module_is_over_500_lines() -> None:
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in SIZE_EXEMPT}
    assert over == {}
