"""Every example in docs/cleaning.md is what the cleaners really produce."""

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from crmpipe.clean import clean_value, install_macros
from crmpipe.model import Role

DOC = Path(__file__).resolve().parents[1] / "docs" / "cleaning.md"
ROW = re.compile(r"^\| (\w+) \| `(.*)` \| `(.*)` \|$")
EXAMPLES = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]


def _show(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def test_the_doc_has_examples_for_most_roles():
    assert len({role for role, _, _ in EXAMPLES}) >= 12


@pytest.mark.parametrize(("role", "raw", "cleaned"), EXAMPLES)
def test_documented_example(role, raw, cleaned):
    con = duckdb.connect()
    install_macros(con)
    assert _show(clean_value(con, Role(role), raw)) == cleaned
