"""Tables a run deletes from, written anew once their deleted rows pile up.

An incremental run deletes and inserts again the rows it changes: golden rows, lineage,
field provenance, clusters, the search refresh's hashes; every run replaces its own rows of
some `meta` tables (a table's row issues, search fields). DuckDB keeps a deleted row in its row
group (its vacuum only merges row groups whose remaining rows fit in fewer groups, which a
percent of deletes per group never does; a run's commit skips it, warehouse.connection.
commit_without_vacuum). Measured after one 50k-contact drop into a 4.5M warehouse: 9% of
`core.contact_field_sources`' stored rows were deleted ones, 1% of the lineage and clusters,
0.6% of the golden rows. Left alone, each drop adds to the file, and every scan reads the
deleted rows again.

So at the start of a run, before it writes to them, a table of `core`, `resolved` or `meta` (in
a full run, which writes core and resolved anew anyway: of `meta`) of at least `MIN_ROWS` stored
rows whose deleted rows exceed `DEAD_SHARE` of them is written anew from its live rows (`CREATE
OR REPLACE TABLE t AS SELECT * FROM t`: same columns and types, rows in the order they were
stored, since DuckDB preserves insertion order; these tables carry no constraints. Columns
declared uncompressed — the stored features' keys, resolution/prepared.py, and the facility
records' near-unique text, build/plain.py — come out compressed: a slower write next time, the
same values; a full run declares them again). Search tables are left to their own rule: they are
rebuilt when a run changes more than `search.rebuild_share` of their rows, and a full run
(`crmpipe run --full`) writes every table anew.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.sqltext import quote_ident

#: Deleted rows, as a share of a table's stored rows, above which it is written anew.
DEAD_SHARE = 0.2
#: Smaller tables are left as they are: their deleted rows cost next to nothing.
MIN_ROWS = 100_000
SCHEMAS = ("core", "resolved", "meta")


@dataclass(frozen=True)
class Bloated:
    """A table whose deleted rows exceed the share: its name, stored and live rows."""

    table: str
    stored: int
    live: int

    @property
    def dead(self) -> int:
        return self.stored - self.live


def bloated(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] = SCHEMAS) -> list[Bloated]:
    """The tables of `schemas` to write anew (module docstring). Cheap: DuckDB's stored-row
    estimate counts the deleted rows, `count(*)` does not. Called before the run writes to these
    tables: the estimate leaves out rows the open transaction appended, so a table written to in
    it could only be under-counted, never written anew by mistake."""
    found = []
    for schema, table, stored in con.execute(
        "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
        "WHERE NOT temporary AND schema_name IN (SELECT unnest(?)) AND estimated_size >= ? "
        "ORDER BY schema_name, table_name",
        [list(schemas), MIN_ROWS],
    ).fetchall():
        ((live,),) = con.execute(
            f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}"
        ).fetchall()
        if stored - live > DEAD_SHARE * stored:
            found.append(Bloated(f"{schema}.{table}", int(stored), int(live)))
    return found


def compact(con: duckdb.DuckDBPyConnection, tables: list[Bloated]) -> int:
    """Write each of `tables` anew from its live rows; return the deleted rows dropped."""
    for t in tables:
        schema, name = t.table.split(".", 1)
        q = f"{quote_ident(schema)}.{quote_ident(name)}"
        con.execute(f"CREATE OR REPLACE TABLE {q} AS SELECT * FROM {q}")
    return sum(t.dead for t in tables)
