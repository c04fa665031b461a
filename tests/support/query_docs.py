"""The examples of docs/query-language.md, read from its fenced blocks.

`query` blocks hold one query per line; a `query-error` block holds a query that must fail, with
the expected message in the `text` block that follows it. tests/test_search_docs.py runs them in
DuckDB and PostgreSQL; tests/test_search_differential.py checks both stores agree on them.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "query-language.md"
BLOCK = re.compile(r"^```([\w-]+)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    """(kind, body) of every fenced block of the document, in order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def examples(block: str = "query") -> list[str]:
    """Every query of the `query` blocks (`facility-query`: the facility search's)."""
    return [
        line.strip()
        for kind, body in blocks()
        if kind == block
        for line in body.splitlines()
        if line.strip()
    ]


def error_examples(block: str = "query-error") -> list[tuple[str, str]]:
    """(query, message) of every `query-error` block (or `facility-query-error`) and the `text`
    block after it."""
    found = blocks()
    out = []
    for (kind, body), following in zip(found, found[1:] + [("", "")], strict=True):
        if kind == block:
            assert following[0] == "text", f"query-error block {body!r} needs a text block after"
            out.append((body.strip(), following[1].strip()))
    return out
