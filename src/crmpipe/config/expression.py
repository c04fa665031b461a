"""SQL text from the project file made safe: an `expression` check's row expression and a
`regex` check's pattern, both validated by DuckDB itself before any check runs.

`CheckSpecError` lives here, under crmpipe.config.checks, because both raise it.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from crmpipe.errors import CrmpipeError


class CheckSpecError(CrmpipeError, ValueError):
    """A check entry in the project file is wrong (the message names the key)."""


#: Functions an `expression` check may not call: they read files or run other SQL.
FORBIDDEN_FUNCTIONS = {
    "query",
    "query_table",
    "glob",
    "getenv",
    "current_setting",
    "sniff_csv",
}
_FORBIDDEN_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "duckdb_", "pragma_")


def validate_expression(sql: str, at: str) -> None:
    """Allow only one boolean-ish row expression: no statements, subqueries or file access.

    The text is parsed by DuckDB's own parser as the single item of a SELECT list; anything that
    escapes it (a second item, a second statement, a subquery) or calls a file-reading or
    SQL-running function is refused, so user text can't become any other SQL.
    """
    probe = f"SELECT ({sql}) AS _crm_expr FROM _crm_table"
    (text,) = duckdb.connect().execute("SELECT json_serialize_sql(?)", [probe]).fetchone()
    tree = json.loads(text)
    if tree.get("error"):
        msg = tree.get("error_message", "not an expression")
        raise CheckSpecError(f"{at}: not a valid SQL expression: {msg}")
    statements = tree.get("statements", [])
    node = statements[0]["node"] if len(statements) == 1 else {}
    if (
        len(node.get("select_list", [])) != 1
        or node.get("where_clause")
        or node.get("group_expressions")
    ):
        raise CheckSpecError(f"{at}: must be one expression over the row's columns")

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("class") == "SUBQUERY":
                raise CheckSpecError(f"{at}: subqueries are not allowed in an expression")
            name = str(obj.get("function_name", "")).lower()
            if obj.get("class") == "FUNCTION" and (
                name in FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES)
            ):
                raise CheckSpecError(f"{at}: function {name}() is not allowed in an expression")
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(node.get("select_list"))
    from_table = node.get("from_table", {})
    if from_table.get("type") != "BASE_TABLE" or from_table.get("table_name") != "_crm_table":
        raise CheckSpecError(f"{at}: must be one expression over the row's columns")


def validate_regex(pattern: str, at: str) -> None:
    try:
        duckdb.connect().execute("SELECT regexp_matches('', ?)", [pattern]).fetchone()
    except duckdb.Error as exc:
        raise CheckSpecError(f"{at}: not a valid (RE2) regular expression: {exc}") from None
