"""Staging: the raw rows of every source mapped to a canonical table, cleaned by role.

`staging.<table>` is rebuilt from `raw` on a full run (a pure function of the warehouse), one
source at a time, through the role cleaners of `crmpipe.clean`. Values that fail their role are
NULLed and recorded in `meta.row_issues`; they are never dropped silently. Cleaning is row by
row (a value's cleaned form depends on that value only), so an incremental run stages only the
new files' rows (`files`) and appends them (crmpipe.build.incremental).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import duckdb

from crmpipe.build.branchwise import localize, standardize, with_file_fields
from crmpipe.build.parsed import add_further_people, address_fill, drop_fills, people_fill
from crmpipe.build.plain import configured_plain
from crmpipe.build.processor import apply_processor
from crmpipe.clean import ColumnSpec, clean_relation
from crmpipe.clean.relation import Fill
from crmpipe.config.schema import Config, Mapping, SourceSpec
from crmpipe.errors import CrmpipeError
from crmpipe.ingest.drops import Feeding, feeding, feeding_filter
from crmpipe.ingest.headers import resolve_header
from crmpipe.model import LINEAGE_COLUMNS, Role, Table, duckdb_ddl
from crmpipe.sqltext import quote_ident, sql_str
from crmpipe.warehouse.connection import table_columns

ISSUES_TABLE = "meta.row_issues"


class MappingError(CrmpipeError):
    """A configured header does not exist in any file of its source."""


@dataclass
class StageResult:
    table: str
    rows: int
    issues: int


#: Raw column holding each source row's key: the mapped key's header, else one made from lineage.
ROW_KEY = "__row_key"


def row_key_sql(source: str, spec: SourceSpec, raw_columns: list[str], own: Table) -> str:
    """SQL over raw rows for the key of the row in the source's own table.

    The mapped key column when the source has one; otherwise the row's lineage,
    `<source>:<row>` (its row in the feeding file; `<source>:<file>:<row>` when every file
    feeds), so rows without an id are identified rather than quarantined.
    """
    if len(own.key) == 1:
        header = spec.columns.get(own.key[0])
        found = resolve_header(raw_columns, header) if header else None
        if found is not None:
            return quote_ident(found)
        if own.key[0] in spec.constants:
            return "NULL"  # a constant key: every row one key, as configured
    label = sql_str(source + ":")
    if spec.drops == "newest":
        return f"{label} || _row"
    return f"{label} || left(_file_hash, 8) || ':' || _row"


def generated_columns(tbl: Table, own: Table, mapping: Mapping, primary: bool) -> set[str]:
    """Columns of `tbl` filled with the source row's key when the mapping doesn't map them:
    the own table's one-column key, and in a fed table its references to the own table and its
    own one-column id key."""
    mapped = set(mapping.columns) | set(mapping.constants)
    out: set[str] = set()
    if primary:
        if len(tbl.key) == 1 and tbl.key[0] not in mapped:
            out.add(tbl.key[0])
        return out
    for col in tbl.columns:
        if col.name in mapped:
            continue
        if (
            col.references == own.name
            or len(tbl.key) == 1
            and col.name == tbl.key[0]
            and col.role is Role.ID
        ):
            out.add(col.name)
    return out


def _column_specs(
    source: str,
    mapping: Mapping,
    tbl: Table,
    raw_columns: list[str],
    generated: set[str],
    where: str,
) -> tuple[list[ColumnSpec], dict[str, object]]:
    """Which raw column feeds each staging column; constants come back separately."""
    headers: dict[str, str] = dict(mapping.columns)
    for name, ext in mapping.extension_columns().items():
        headers[name] = ext.column or name
    specs: list[ColumnSpec] = []
    constants: dict[str, object] = {}
    for col in tbl.all_columns:
        if col.name in mapping.constants:
            constants[col.name] = mapping.constants[col.name]
            specs.append(ColumnSpec(col.name, col.role, f"__const_{col.name}"))
            continue
        if col.name in generated:
            specs.append(ColumnSpec(col.name, col.role, ROW_KEY))
            continue
        header = headers.get(col.name)
        if header is None:
            specs.append(ColumnSpec(col.name, col.role, None))
            continue
        found = resolve_header(raw_columns, header)
        if found is None:
            section = "columns" if col.name in mapping.columns else "extra"
            shown = ", ".join(c for c in raw_columns if not c.startswith("_"))
            raise MappingError(
                f"{where}.{section}.{col.name}: header {header!r} is not in the files "
                f"of source {source} (headers: {shown})"
            )
        specs.append(ColumnSpec(col.name, col.role, found))
    return specs, constants


def stage_table(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    tbl: Table,
    run_id: int,
    files: dict[str, list[str]] | None = None,
) -> StageResult:
    """Rebuild staging.<table> from the raw rows of every source mapping onto it (the sources
    whose own table it is, and those that feed it too); return rows and issues.

    With `files` (source → file hashes) only those files' rows are staged and the table's
    earlier row issues are kept: the incremental run stages the new files this way."""
    con.execute(duckdb_ddl(tbl, "staging", plain=configured_plain(cfg, tbl)))
    if files is None:
        con.execute(f"DELETE FROM {ISSUES_TABLE} WHERE table_name = ?", [tbl.name])
    lineage = ", ".join(n for n, _ in LINEAGE_COLUMNS)
    tables = cfg.tables()
    total = 0
    for feed in cfg.feeds_for(tbl.name):
        source, spec, mapping = feed.source, feed.spec, feed.mapping
        if not table_columns(con, "raw", source):
            continue
        if files is not None and not files.get(source):
            continue
        rows_sql = source_rows(con, cfg, source, None if files is None else files[source])
        raw_columns = relation_columns(con, rows_sql)
        own = tables[spec.table]
        generated = generated_columns(tbl, own, mapping, feed.primary)
        where = f"sources.{source}" + ("" if feed.primary else f".feeds.{tbl.name}")
        specs, constants = _column_specs(source, mapping, tbl, raw_columns, generated, where)
        if feed.primary:
            specs, local_selects = localize(source, spec, specs, raw_columns, where)
        else:
            local_selects = []
        used = sorted(
            {
                s.source
                for s in specs
                if s.source
                and not s.source.startswith(("__const_", "__local_"))
                and s.source != ROW_KEY
            }
        )
        select_cols = [lineage] + [quote_ident(c) for c in used] + local_selects
        if generated:
            key = row_key_sql(source, spec, raw_columns, own)
            select_cols.append(f"{key} AS {ROW_KEY}")
        from_sql = f"({rows_sql}) AS {quote_ident('__rows_' + source)}"
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
        if not feed.primary:
            # A fed table gets a row only where the source row gives it some value.
            given = [quote_ident(c) for c in used if c in raw_columns]
            if not given:
                continue
            raw_sql += " WHERE " + " OR ".join(
                f"crm_null_w(crm_trim_t({c})) IS NOT NULL" for c in given
            )
        name_header = resolve_header(raw_columns, mapping.columns.get("full_name", ""))
        fill = partial(_fills, con, tbl, mapping, rows_sql, name_header)
        try:
            total += clean_relation(
                con,
                raw_sql=raw_sql,
                columns=specs,
                target=f"staging.{quote_ident(tbl.name)}",
                issues_table=ISSUES_TABLE,
                table_name=tbl.name,
                region=cfg.region,
                fill=fill,
            )
            if name_header:
                total += add_further_people(con, tbl, source, mapping)
        finally:
            drop_fills(con)
        if mapping.standardize:
            standardize(con, tbl.name, source, mapping, run_id)
    (issues,) = con.execute(
        f"SELECT count(*) FROM {ISSUES_TABLE} WHERE table_name = ?", [tbl.name]
    ).fetchone()
    return StageResult(tbl.name, total, int(issues))


def _fills(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    mapping: Mapping,
    rows_sql: str,
    name_header: str | None,
    stage: str,
    cleaned: Callable[[str], str],
) -> list[Fill]:
    """One source's one-field addresses' parts and full names' first people, joined into the
    insert of its cleaned rows (crmpipe.build.parsed, crmpipe.clean.relation.FillHook)."""
    fills = [address_fill(con, tbl, mapping, stage, cleaned)]
    if name_header:
        fills.append(people_fill(con, tbl, mapping, rows_sql, name_header, cleaned))
    return [f for f in fills if f is not None]


def relation_columns(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The column names `sql` yields."""
    return list(con.sql(f"SELECT * FROM ({sql}) LIMIT 0").columns)


def source_rows(
    con: duckdb.DuckDBPyConnection, cfg: Config, source: str, only: list[str] | None = None
) -> str:
    """SQL of the raw rows of `source` that feed the product: the feeding drops (all files
    unless `drops: newest`), reshaped by the source's `processor` when it has one; with
    `only`, just the rows of those file hashes among them."""
    spec = cfg.sources[source]
    feed = feeding(con, source, spec)
    where = feeding_filter(feed)
    if only is not None:
        where += " AND " + feeding_filter(Feeding(source, list(only)))
    sql = with_file_fields(f"SELECT * FROM raw.{quote_ident(source)} WHERE {where}", spec)
    if spec.processor:
        sql = apply_processor(con, source, spec.processor, sql, cfg.base_dir)
    return sql
