"""What was last published to a PostgreSQL database, kept beside the warehouse so the next
publish can send only the rows that changed (crmpipe.publish.inplace; docs/postgres.md).

A publish records, per published table, one 64-bit hash per row with its key (the row's
published columns hashed, the key among them), in a DuckDB file of its own beside the
warehouse (`warehouse.published.duckdb`: the warehouse is opened read-only to publish). The
next publish hashes the warehouse's rows the same way and compares the two sets of hashes
(anti-joins on one integer column): a hash that is new is a row to insert or update, a hash
that is gone a row updated or deleted. contact_search is not hashed row by row: its rows are
the contacts' rows joined to their entity's part, so it changes where a contact changed or
where the entity part the search build recorded (`meta.contact_search_entity_hashes`) did.

The record names the database it was published to (host, port, database), the version it
published and the shape of what was published (tables, columns, search fields): a publish
uses it only when the same version still serves there, published from the same build, with
the same shape. Anything else (a rollback, a publish from another warehouse, a new column)
makes the next publish a full versioned rebuild, which records everything again.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from crmpipe.publish.ddl import MART_KEYS
from crmpipe.publish.plan import PublishPlan
from crmpipe.search.refresh import hash_tables
from crmpipe.search.table import CONTACT_SEARCH
from crmpipe.sqltext import quote_ident

#: The catalog name the record's file is attached under.
ALIAS = "crmpipe_published"
#: The record's state table: one row per database published to.
STATE = f"{ALIAS}.main.published"


@dataclass(frozen=True)
class Relation:
    """A published table as the record tracks it: its name in PostgreSQL, its key (empty: the
    table is compared, and replaced, whole), its DuckDB source (a base table: its rows are
    found again by rowid) and the SQL hash of a row's published columns."""

    name: str
    key: tuple[str, ...]
    source: str
    row_hash: str
    rows: int


def record_path(duck: duckdb.DuckDBPyConnection) -> Path | None:
    """The record's file beside the warehouse file (None for an in-memory warehouse)."""
    row = duck.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0]
    if not row or not row[0]:
        return None
    path = Path(row[0])
    return path.with_name(path.stem + ".published.duckdb")


def target_of(conn: psycopg.Connection) -> str:
    """The database a publish goes to, as the record names it (host, port, database)."""
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def table_prefix(target: str) -> str:
    return "t" + hashlib.sha1(target.encode()).hexdigest()[:12] + "__"


def attach(duck: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Attach the record's file read-write (the warehouse itself may be read-only)."""
    duck.execute(f"ATTACH IF NOT EXISTS '{path}' AS {ALIAS} (READ_WRITE)")
    duck.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE} (target VARCHAR PRIMARY KEY, version INTEGER, "
        "build VARCHAR, shape VARCHAR)"
    )


def detach(duck: duckdb.DuckDBPyConnection) -> None:
    """Release the record's file (another process may publish from this warehouse next)."""
    with suppress(duckdb.Error):
        duck.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")


def relations(duck: duckdb.DuckDBPyConnection, pub: PublishPlan) -> list[Relation]:
    """The published tables the record tracks, in the plan's order (referenced tables first):
    each copied table (not contact_search, search_values or search_fields: see `shape`)."""
    base_tables = {
        (s, t)
        for s, t in duck.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('core', 'marts')"
        ).fetchall()
    }
    out = []
    for name, p in pub.plans.items():
        schema = p.warehouse_schema
        if not p.exists or (schema, name) not in base_tables:
            continue
        if p.is_mart:
            key = MART_KEYS[name].key if name in MART_KEYS else ()
        else:
            key = tuple(p.table.key)
        # Every column of the source, published or not: contact_search reads contacts'
        # columns beyond the published ones, and a change there must reach it too.
        cols = [quote_ident(c) for c in p.duck_types]
        out.append(Relation(name, key, p.source, f"hash({', '.join(cols)})", p.rows))
    return out


def shape(pub: PublishPlan) -> str:
    """What a publish's tables look like, as text: an in-place publish needs the same shape as
    the version serving (tables and their columns, search fields and vocabularies, the types of
    the search table's published columns, the tables facility_search reads); else it rebuilds.
    (The search build's hashes need not be the same build's: they hash the values themselves.)
    """
    published = {c for f in pub.fields for c in (f[0], f[3]) if c} | {"document"}
    data: dict[str, Any] = {
        "tables": {
            n: [p.exists, [[c.name, c.pg_type, c.name in p.duck_types] for c in p.columns]]
            for n, p in pub.plans.items()
        },
        "search": pub.search,
        "systems": pub.systems,
        "fields": [list(f) for f in pub.fields],
        "vocabulary": list(pub.vocabulary),
        "search_types": {c: t for c, t in pub.search_types.items() if c in published},
        "facility": sorted(pub.facility.tables) if pub.facility is not None else None,
    }
    return json.dumps(data, sort_keys=True, default=str)


def snapshot_table(target: str, name: str) -> str:
    return f"{ALIAS}.main.{quote_ident(table_prefix(target) + name)}"


def entity_hashes_table(target: str) -> str:
    return snapshot_table(target, "contact_search__entities")


def state_of(duck: duckdb.DuckDBPyConnection, target: str) -> tuple[int, str | None, str] | None:
    """(version, build, shape) the record holds for `target`, if any."""
    rows = duck.execute(
        f"SELECT version, build, shape FROM {STATE} WHERE target = ?", [target]
    ).fetchall()
    return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None


def record_all(
    duck: duckdb.DuckDBPyConnection,
    target: str,
    rels: list[Relation],
    search: bool,
    values: str | None,
) -> None:
    """Record every tracked row's hash (after a full publish), inside the caller's transaction;
    the state row is written by `set_state` once the version serves. `search`: record the
    search build's entity hashes; `values`: the SELECT of search_values' rows."""
    duck.execute(f"DELETE FROM {STATE} WHERE target = ?", [target])
    prefix = table_prefix(target)
    for (old,) in duck.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{ALIAS}' "
        "AND starts_with(table_name, ?)",
        [prefix],
    ).fetchall():
        duck.execute(f"DROP TABLE {ALIAS}.main.{quote_ident(old)}")
    for rel in rels:
        keys = ", ".join(quote_ident(k) for k in rel.key)
        if not rel.key:  # compared whole: one row, its count and the sum of its rows' hashes
            sql = f"SELECT count(*) AS n, sum({rel.row_hash})::HUGEINT AS s FROM {rel.source}"
        else:
            sql = f"SELECT {keys}, {rel.row_hash} AS _hash FROM {rel.source}"
        duck.execute(f"CREATE TABLE {snapshot_table(target, rel.name)} AS {sql}")
    if search:
        _, entities = hash_tables(CONTACT_SEARCH)
        duck.execute(
            f"CREATE TABLE {entity_hashes_table(target)} AS SELECT _key, _hash FROM {entities}"
        )
    if values:  # search_values' rows (field, value, entity_id), compared as a set
        duck.execute(f"CREATE TABLE {snapshot_table(target, 'search_values')} AS {values}")


def set_state(
    duck: duckdb.DuckDBPyConnection, target: str, version: int, build: str | None, shape_: str
) -> None:
    duck.execute(f"DELETE FROM {STATE} WHERE target = ?", [target])
    duck.execute(f"INSERT INTO {STATE} VALUES (?, ?, ?, ?)", [target, version, build, shape_])
