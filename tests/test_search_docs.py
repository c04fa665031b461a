"""Every example in docs/query-language.md runs against the test table.

`query` blocks hold one query per line; each must parse, compile and execute. A `query-error`
block must fail with a QueryError whose message is the `text` block that follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmpipe.search import QueryError, search
from test_search_fixtures import ALIASES, SHORTHANDS, make_search_db

DOC = Path(__file__).resolve().parents[1] / "docs" / "query-language.md"
BLOCK = re.compile(r"^```([\w-]+)\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def _examples() -> list[str]:
    return [
        line.strip()
        for kind, body in _blocks()
        if kind == "query"
        for line in body.splitlines()
        if line.strip()
    ]


def _error_examples() -> list[tuple[str, str]]:
    blocks = _blocks()
    out = []
    for (kind, body), following in zip(blocks, blocks[1:] + [("", "")], strict=True):
        if kind == "query-error":
            assert following[0] == "text", f"query-error block {body!r} needs a text block after"
            out.append((body.strip(), following[1].strip()))
    return out


@pytest.fixture(scope="module")
def con():
    return make_search_db()


def test_the_docs_have_examples_of_every_construct():
    examples = " ".join(_examples())
    for construct in (
        "title: finance",
        "filter: bob Accela >10000",
        "crm: a",
        " OR ",
        "NOT ",
        "-title:",
        "state:CA,TX",
        "..",
        "created>",
        '"finance director"',
        "(",
    ):
        assert construct in examples, construct
    assert len(_error_examples()) >= 5


@pytest.mark.parametrize("query", _examples())
def test_documented_query_runs(con, query):
    result = search(con, query, aliases=ALIASES, shorthands=SHORTHANDS)
    assert result.total >= len(result.rows)


@pytest.mark.parametrize(("query", "message"), _error_examples())
def test_documented_error_message_is_exact(con, query, message):
    with pytest.raises(QueryError) as e:
        search(con, query, aliases=ALIASES, shorthands=SHORTHANDS)
    assert str(e.value) == message
