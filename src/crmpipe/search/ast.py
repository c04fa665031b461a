"""The query language's syntax tree: what the user asked for, before any SQL is decided.

The parser builds these nodes; the compiler turns them into SQL for one dialect. Values stay the
strings the user typed (typed conversion needs the field's kind, which is the compiler's job), and
each node keeps its offset in the query so errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Comparison operators written directly after a field name (`pop>10000`).
CompareOp = Literal[">", ">=", "<", "<=", "="]


@dataclass(frozen=True)
class Value:
    """One value as typed; `quoted` when it was written in double quotes."""

    text: str
    quoted: bool = False
    pos: int = 0


@dataclass(frozen=True)
class Range:
    """`low..high`, inclusive; either side may be missing (`..50000`, `2024-01-01..`)."""

    low: Value | None
    high: Value | None
    pos: int = 0


@dataclass(frozen=True)
class FieldMatch:
    """`field:v1,v2,...` — matches when the field matches any of the values or ranges."""

    field: str
    values: tuple[Value | Range, ...]
    pos: int = 0


@dataclass(frozen=True)
class Compare:
    """`field>value` (and `>=`, `<`, `<=`, `=`) on a number or date field."""

    field: str
    op: CompareOp
    value: Value
    pos: int = 0


@dataclass(frozen=True)
class FreeText:
    """A free term (`accela`) or quoted phrase (`"finance director"`) searched in the document."""

    text: str
    phrase: bool = False
    pos: int = 0


@dataclass(frozen=True)
class Not:
    """`-term`, `NOT term`: keeps the rows where the term is false or its field is empty."""

    child: Node
    pos: int = 0


@dataclass(frozen=True)
class And:
    """All children match (juxtaposition or explicit `AND`)."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any child matches (`OR`); binds looser than AND."""

    children: tuple[Node, ...]


Node = FieldMatch | Compare | FreeText | Not | And | Or


def walk(node: Node):
    """Every node of the tree, parents before children."""
    yield node
    if isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)
