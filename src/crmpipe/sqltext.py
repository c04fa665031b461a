"""SQL text built from names and constants we own — identifiers and string literals.

User values never pass through here: they are bound as parameters. Identifiers come from
headers and config, literals from code constants; DuckDB and PostgreSQL quote both alike
(PostgreSQL sessions run with ``standard_conforming_strings`` on).
"""

from __future__ import annotations

__all__ = ["quote_ident", "quote_qualified", "sql_str"]


def quote_ident(name: str) -> str:
    """A quoted identifier (column names come from headers, never from values)."""
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str) -> str:
    """`schema.table` with each part quoted (names come from code and config, never queries)."""
    return ".".join(quote_ident(part) for part in name.split("."))


def sql_str(text: str) -> str:
    """A SQL string literal for `text` (constants only, never user values)."""
    return "'" + text.replace("'", "''") + "'"
