"""References to a resolved table, pointed at its golden records after resolution.

Resolving entities merges entity ids: contacts, techstacks and external ids that named a
merged entity must name its golden record (in core and in the next resolution's records).
"""

from __future__ import annotations

import duckdb

from crmpipe.model import Table
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists


def remap_references(con: duckdb.DuckDBPyConnection, tables: dict[str, Table], name: str) -> int:
    """Point every reference to resolved table `name` at the golden ids; return rows changed.

    Resolving entities merges entity ids, so contacts, techstacks and external ids that named a
    merged entity now name its golden record.
    """
    t = ResolvedTables(name)
    changed = 0
    if not any(c.references == name for other in tables.values() for c in other.all_columns):
        return 0  # nothing names its rows: the map would read every lineage row for nothing
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _remap AS SELECT DISTINCT record_id, golden_id "
        f"FROM {t.sources} WHERE record_id <> golden_id"
    )
    for other in tables.values():
        refs = [c for c in other.all_columns if c.references == name]
        targets = [f"core.{quote_ident(other.name)}", ResolvedTables(other.name).records]
        for target in targets:
            schema, table = target.split(".")
            if not refs or not table_exists(con, schema, table.strip('"')):
                continue
            for col in refs:
                c = quote_ident(col.name)
                changed += con.execute(
                    f"UPDATE {target} SET {c} = m.golden_id FROM _remap m WHERE {c} = m.record_id"
                ).fetchone()[0]
                if schema == "core" and other.key == (col.name,):
                    _keep_newest(con, other.name, col.name)
    con.execute("DROP TABLE _remap")
    return changed


def _keep_newest(con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    """A table keyed by its reference (a facility's schedule) keeps one row per golden id:
    the newest (latest load, file, row); the others count as merged."""
    k = quote_ident(key)
    target = f"core.{quote_ident(table)}"
    gone = con.execute(
        f"DELETE FROM {target} WHERE rowid IN (SELECT rowid FROM {target} QUALIFY row_number() "
        f"OVER (PARTITION BY {k} ORDER BY _loaded_at DESC, _file DESC, _row DESC) > 1)"
    ).fetchone()[0]
    if gone:
        con.execute(
            "UPDATE meta.table_counts SET loaded = loaded - ?, merged = merged + ? "
            "WHERE table_name = ? AND run_id = (SELECT max(run_id) FROM meta.table_counts "
            "WHERE table_name = ?)",
            [gone, gone, table, table],
        )
