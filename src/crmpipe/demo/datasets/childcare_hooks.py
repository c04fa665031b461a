"""Processors of the childcare demo's sources (docs/childcare.md, "The processor hook"): what no
mapping can say about Oklahoma's and Texas's lists, as relational operations on the raw rows.
"""

from __future__ import annotations

import duckdb

#: Texas's Y/N age columns and the age group each stands for.
TEXAS_AGES = (
    ("Infant", "infant"),
    ("Toddler", "toddler"),
    ("Preschool", "preschool"),
    ("School", "school age"),
)


def oklahoma(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """`Ages Served` from the four age-group columns; `Accepts Financial Aid` from the subsidy
    flag (the list writes `Accepts Subsidy` or leaves the cell empty)."""
    ages = 'concat_ws(\', \', "Ages Accepted 1", "AA2", "AA3", "AA4")'
    aid = "CASE WHEN lower(trim(\"Accepts Subsidy\")) LIKE 'accepts%' THEN 'true' ELSE 'false' END"
    return rel.project(
        f'*, nullif({ages}, \'\') AS "Ages Served", {aid} AS "Accepts Financial Aid"'
    )


def texas(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """`Ages Served` from the Infant/Toddler/Preschool/School Y/N flags."""
    flags = ", ".join(
        f"CASE WHEN upper(trim(\"{col}\")) = 'Y' THEN '{label}' END" for col, label in TEXAS_AGES
    )
    return rel.project(f"*, nullif(concat_ws(', ', {flags}), '') AS \"Ages Served\"")
