"""Staging: the raw rows of every source mapped to a canonical table, cleaned by role.

`staging.<table>` is rebuilt from `raw` on every run (a pure function of the warehouse), one
source at a time, through the role cleaners of `crmpipe.clean`. Values that fail their role are
NULLed and recorded in `meta.row_issues`; they are never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.clean import ColumnSpec, clean_relation
from crmpipe.config.schema import Config, SourceSpec
from crmpipe.errors import CrmpipeError
from crmpipe.model import LINEAGE_COLUMNS, Table, duckdb_ddl
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_columns

ISSUES_TABLE = "meta.row_issues"


class MappingError(CrmpipeError):
    """A configured header does not exist in any file of its source."""


@dataclass
class StageResult:
    table: str
    rows: int
    issues: int


def _normalise(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def resolve_header(raw_columns: list[str], header: str) -> str | None:
    """The raw column a configured header names: exact, else ignoring case and punctuation."""
    if header in raw_columns:
        return header
    wanted = _normalise(header)
    for col in raw_columns:
        if _normalise(col) == wanted:
            return col
    return None


def _column_specs(
    source: str, spec: SourceSpec, tbl: Table, raw_columns: list[str]
) -> tuple[list[ColumnSpec], dict[str, object]]:
    """Which raw column feeds each staging column; constants come back separately."""
    headers: dict[str, str] = dict(spec.columns)
    for name, ext in spec.extension_columns().items():
        headers[name] = ext.column or name
    specs: list[ColumnSpec] = []
    constants: dict[str, object] = {}
    for col in tbl.all_columns:
        if col.name in spec.constants:
            constants[col.name] = spec.constants[col.name]
            specs.append(ColumnSpec(col.name, col.role, f"__const_{col.name}"))
            continue
        header = headers.get(col.name)
        if header is None:
            specs.append(ColumnSpec(col.name, col.role, None))
            continue
        found = resolve_header(raw_columns, header)
        if found is None:
            section = "columns" if col.name in spec.columns else "extra"
            shown = ", ".join(c for c in raw_columns if not c.startswith("_"))
            raise MappingError(
                f"sources.{source}.{section}.{col.name}: header {header!r} is not in the files "
                f"of source {source} (headers: {shown})"
            )
        specs.append(ColumnSpec(col.name, col.role, found))
    return specs, constants


def stage_table(
    con: duckdb.DuckDBPyConnection, cfg: Config, tbl: Table, run_id: int
) -> StageResult:
    """Rebuild staging.<table> from all its sources' raw rows; return rows and issues."""
    con.execute(duckdb_ddl(tbl, "staging"))
    con.execute(f"DELETE FROM {ISSUES_TABLE} WHERE table_name = ?", [tbl.name])
    lineage = ", ".join(n for n, _ in LINEAGE_COLUMNS)
    total = 0
    for source, spec in cfg.sources_for(tbl.name).items():
        raw_columns = table_columns(con, "raw", source)
        if not raw_columns:
            continue
        specs, constants = _column_specs(source, spec, tbl, raw_columns)
        used = sorted({s.source for s in specs if s.source and not s.source.startswith("__const_")})
        select_cols = [lineage] + [quote_ident(c) for c in used]
        from_sql = f"raw.{quote_ident(source)}"
        if constants:
            # Constants travel as a one-row table joined on, so config text never becomes SQL.
            const_table = f"__const_{tbl.name}_{source}".replace('"', "")
            names = list(constants)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote_ident(const_table)} AS SELECT "
                + ", ".join(f"?::VARCHAR AS {quote_ident('__const_' + n)}" for n in names),
                [str(constants[n]) for n in names],
            )
            select_cols += [quote_ident("__const_" + n) for n in names]
            from_sql += f" CROSS JOIN {quote_ident(const_table)}"
        raw_sql = f"SELECT {', '.join(select_cols)} FROM {from_sql}"
        total += clean_relation(
            con,
            raw_sql=raw_sql,
            columns=specs,
            target=f"staging.{quote_ident(tbl.name)}",
            issues_table=ISSUES_TABLE,
            table_name=tbl.name,
            region=cfg.region,
        )
    (issues,) = con.execute(
        f"SELECT count(*) FROM {ISSUES_TABLE} WHERE table_name = ?", [tbl.name]
    ).fetchone()
    return StageResult(tbl.name, total, int(issues))
