"""Build: staging → `core.<table>` (one row per key) → `search.contact_search`.

Duplicates of a key are resolved by the latest file, then the latest row in it, and counted;
rows without a key go to `quarantine.<table>` with the reason, so nothing is lost. The search
table is created as `search.table` declares it (contacts with their entity, its tech names, the
customers that map it and their CRM ids, a free-text `document`); `meta.search_fields` records
each searchable column's kind for the query language.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.model import Table, duckdb_ddl, physical_columns
from crmpipe.search.table import (
    DUCKDB_FIELDS_TABLE,
    DUCKDB_SEARCH_TABLE,
    crm_systems,
    duckdb_select,
    field_rows,
    search_columns,
)
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists


@dataclass
class CoreResult:
    table: str
    staged: int
    loaded: int
    merged: int  # rows superseded by a later version of the same key
    quarantined: int  # rows without a key


def build_core(con: duckdb.DuckDBPyConnection, tbl: Table, run_id: int) -> CoreResult:
    """core.<table>: the latest version of each key; keyless rows quarantined with a reason."""
    name = quote_ident(tbl.name)
    keys = [quote_ident(k) for k in tbl.key]
    has_key = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    con.execute(
        f"CREATE OR REPLACE TABLE quarantine.{name} AS SELECT *, "
        f"'key_not_null' AS _check, 'missing key: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote_ident(k)} IS NULL THEN '{k}' END" for k in tbl.key)
        + f") AS _reason, {int(run_id)}::BIGINT AS _quarantined_run "
        f"FROM staging.{name} WHERE NOT ({has_key})"
    )
    cols = ", ".join(quote_ident(n) for n, _ in physical_columns(tbl))
    key_list = ", ".join(keys)
    # Duplicated keys are rare: find them with a narrow GROUP BY, rank only their rows, and
    # anti-join the losers by rowid, instead of windowing every (wide) row of the table.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _superseded AS SELECT _rid FROM ("
        f"SELECT s.rowid AS _rid, row_number() OVER (PARTITION BY {key_list} "
        "ORDER BY _file_mtime DESC, _file DESC, _row DESC) AS _rank "
        f"FROM staging.{name} s SEMI JOIN (SELECT {key_list} FROM staging.{name} "
        f"WHERE {has_key} GROUP BY ALL HAVING count(*) > 1) d USING ({key_list})"
        ") WHERE _rank > 1"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE core.{name} AS SELECT {cols}, _source, _file, _row, _run_id, "
        f"_loaded_at FROM staging.{name} s WHERE {has_key} "
        "AND s.rowid NOT IN (SELECT _rid FROM _superseded)"
    )
    con.execute("DROP TABLE _superseded")
    staged = con.execute(f"SELECT count(*) FROM staging.{name}").fetchone()[0]
    loaded = con.execute(f"SELECT count(*) FROM core.{name}").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM quarantine.{name}").fetchone()[0]
    return CoreResult(tbl.name, staged, loaded, staged - loaded - quarantined, quarantined)


def build_search(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """Create search.contact_search (as search.table declares it) and meta.search_fields;
    return the row count."""
    tables = cfg.tables()
    for needed in ("entities", "techstacks", "external_ids"):
        if not table_exists(con, "core", needed):  # a project without that source
            con.execute(duckdb_ddl(tables[needed], "core"))
    columns = search_columns(cfg, crm_systems(con))
    fields = field_rows(columns)
    query, params = duckdb_select(columns)
    # The columns that searches scan in full (joined lists, the document) are stored without
    # compression: twice as fast to write and to scan, for a somewhat larger file.
    scanned = {m for _, _, m in fields if m} | {"document"}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _search_shape AS {query} LIMIT 0", params)
    shape = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = '_search_shape' ORDER BY ordinal_position"
    ).fetchall()
    con.execute("DROP TABLE _search_shape")
    ddl = ", ".join(
        f"{quote_ident(n)} {t}" + (" USING COMPRESSION uncompressed" if n in scanned else "")
        for n, t in shape
    )
    con.execute(f"CREATE OR REPLACE TABLE {DUCKDB_SEARCH_TABLE} ({ddl})")
    con.execute(f"INSERT INTO {DUCKDB_SEARCH_TABLE} {query}", params)
    con.execute(f"DELETE FROM {DUCKDB_FIELDS_TABLE}")
    con.executemany(
        f"INSERT INTO {DUCKDB_FIELDS_TABLE} VALUES (?, ?, ?, ?)",
        [(n, k, i, m) for i, (n, k, m) in enumerate(fields)],
    )
    return con.execute(f"SELECT count(*) FROM {DUCKDB_SEARCH_TABLE}").fetchone()[0]
