"""Values a source's rows get from outside their own fields, and values made comparable:

- file fields: a value taken from the file name by a pattern (`customers_b07.csv` → `b07`),
  every row of the file gets it as if it were a column;
- local ids: ids unique only within a branch become `<branch>:<id>` before cleaning, so the
  customer 1001 of two branches are two keys and a job's customer reference names the right one;
- standardised values: a column's values mapped onto the project's declared list (`AUSTIN`,
  `Austin Branch` and `Austn` → `Austin`); a value that spells none of them is NULLed and
  recorded in `meta.row_issues` (`not_in_list`), so the consistency SLA counts it.

All of it is SQL over the whole relation; the declared lists and patterns travel as quoted
literals or parameters, never as SQL text.
"""

from __future__ import annotations

import duckdb

from crmpipe.clean import ColumnSpec
from crmpipe.config.schema import Mapping, SourceSpec
from crmpipe.errors import CrmpipeError
from crmpipe.ingest.headers import resolve_header
from crmpipe.sqltext import quote_ident, sql_str

#: Jaro-Winkler similarity at which a value is taken as a spelling of a declared value.
STANDARD_SIMILARITY = 0.88


class LocalIdsError(CrmpipeError):
    """`local_ids.by` names neither a header nor a file field of the source."""


def with_file_fields(sql: str, spec: SourceSpec) -> str:
    """`sql` (raw rows with `_file`) plus one column per file field of `spec`."""
    if not spec.file_fields:
        return sql
    cols = ", ".join(
        f"nullif(regexp_extract(parse_filename(_file), {sql_str(pattern)}, 1), '') "
        f"AS {quote_ident(name)}"
        for name, pattern in spec.file_fields.items()
    )
    return f"SELECT *, {cols} FROM ({sql})"


def localize(
    source: str, spec: SourceSpec, specs: list[ColumnSpec], raw_columns: list[str], where: str
) -> tuple[list[ColumnSpec], list[str]]:
    """Column specs with each local id read from a derived `<by>:<id>` column, and the SQL
    select items that derive them."""
    local = spec.local_ids
    if local is None:
        return specs, []
    by = resolve_header(raw_columns, local.by)
    if by is None:
        raise LocalIdsError(
            f"{where}.local_ids.by: {local.by!r} is neither a header nor a file field of source "
            f"{source} (file_fields: {', '.join(spec.file_fields) or 'none'})"
        )
    out: list[ColumnSpec] = []
    selects: list[str] = []
    for s in specs:
        if s.name in local.columns and s.source and s.source in raw_columns:
            derived = f"__local_{s.name}"
            selects.append(
                f"CASE WHEN crm_null({quote_ident(s.source)}) IS NULL OR crm_null("
                f"{quote_ident(by)}) IS NULL THEN NULL ELSE concat(crm_null({quote_ident(by)}), "
                f"':', crm_null({quote_ident(s.source)})) END AS {quote_ident(derived)}"
            )
            out.append(ColumnSpec(s.name, s.role, derived))
        else:
            out.append(s)
    return out, selects


def _norm(expr: str) -> str:
    return f"regexp_replace(lower({expr}), '[^a-z0-9]', '', 'g')"


def standardize(
    con: duckdb.DuckDBPyConnection, table: str, source: str, mapping: Mapping, run_id: int
) -> int:
    """Map `source`'s staged values of each `standardize:` column onto its declared list;
    return the values that matched none (NULLed, each recorded as a row issue)."""
    target = f"staging.{quote_ident(table)}"
    missed = 0
    for column, declared in mapping.standardize.items():
        c = quote_ident(column)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _crm_declared AS SELECT d AS declared, "
            f"{_norm('d')} AS k FROM unnest(?::VARCHAR[]) t(d)",
            [declared],
        )
        # each distinct value: the declared value it equals, starts with, or nearly spells
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _crm_standard AS
            SELECT v.value, arg_max(d.declared, CASE WHEN v.k = d.k THEN 3
                WHEN starts_with(v.k, d.k) THEN 2 + length(d.k) / 1000.0
                ELSE jaro_winkler_similarity(v.k, d.k) END) AS declared
            FROM (SELECT DISTINCT {c} AS value, {_norm(c)} AS k FROM {target}
                  WHERE _source = ? AND {c} IS NOT NULL) v
            JOIN _crm_declared d ON v.k = d.k OR starts_with(v.k, d.k)
              OR jaro_winkler_similarity(v.k, d.k) >= {STANDARD_SIMILARITY}
            GROUP BY v.value
            """,
            [source],
        )
        (missed_here,) = con.execute(
            f"""
            INSERT INTO meta.row_issues SELECT ?, _source, _file, _row, ?, ?, 'not_in_list', {c}
            FROM {target} WHERE _source = ? AND {c} IS NOT NULL
              AND {c} NOT IN (SELECT value FROM _crm_standard)
            """,
            [table, run_id, column, source],
        ).fetchone()
        con.execute(
            f"UPDATE {target} SET {c} = s.declared FROM (SELECT value, declared FROM "
            f"_crm_standard UNION ALL SELECT DISTINCT {c}, NULL FROM {target} WHERE _source = ? "
            f"AND {c} NOT IN (SELECT value FROM _crm_standard)) s "
            f"WHERE {target}._source = ? AND {target}.{c} = s.value",
            [source, source],
        )
        missed += int(missed_here)
        con.execute("DROP TABLE _crm_declared")
        con.execute("DROP TABLE _crm_standard")
    return missed
