"""The audit trail of golden rows in PostgreSQL (docs/audit.md): the schema `audit`, never
renamed or dropped by a publish, holds per audited table the rows serving now
(`audit.contacts_current`, keyed by the golden id) and the change log (`audit.contact_changes`).

Why not a trigger on the published tables: each publish builds a new versioned schema and swaps
it in, so a trigger there would be dropped with its version and would see every reload as all
new rows. Instead, each publish (and rollback) brings the current table in line with the version
it swaps in, inside the swap's transaction: one set-based statement per operation (delete the
ids gone, update the rows whose content differs, insert the new ids). Statement triggers with
transition tables on the current table write the log, so a publish that changes 10 of a million
rows logs 10 rows, and a manual edit of the current table is logged too (with no run and the
role that made it). The publish tells the triggers which run and version it is through
transaction-local settings (`crmpipe.run_id`, `crmpipe.version`, `crmpipe.audit_action`).

Audited columns are the table's own (the model's and extension columns); the lineage columns
(`_source`, `_run_id`, `_loaded_at`, ...) change with every run and are left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import psycopg

from crmpipe.sqltext import quote_ident

#: The schema of the audit trail (never renamed or dropped by a publish, rollback or retire).
AUDIT_SCHEMA = "audit"
#: Other names a kind is asked for by (`crmpipe audit facility ID`: the childcare case's
#: facilities are the `entities` table).
KIND_ALIASES = {"facility": "entities", "facilities": "entities"}

_REGISTRY_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_SCHEMA}.tables (
  table_name text PRIMARY KEY,
  key_column text NOT NULL,
  current_table text NOT NULL,
  changes_table text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  since timestamptz NOT NULL DEFAULT now()
)"""

_SYNCS_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_SCHEMA}.syncs (
  sync_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  synced_at timestamptz NOT NULL DEFAULT now(),
  action text NOT NULL,
  version integer,
  run_id bigint,
  table_name text NOT NULL,
  inserted bigint NOT NULL,
  updated bigint NOT NULL,
  deleted bigint NOT NULL,
  seconds double precision NOT NULL
)"""


def singular(table: str) -> str:
    """The kind a table's rows are (`contacts` → `contact`, `entities` → `entity`)."""
    if table.endswith("ies"):
        return table[:-3] + "y"
    return table[:-1] if table.endswith("s") else table


def current_name(table: str) -> str:
    return f"{table}_current"


def changes_name(table: str) -> str:
    return f"{singular(table)}_changes"


def _q(name: str) -> str:
    return f"{AUDIT_SCHEMA}.{quote_ident(name)}"


@dataclass
class TableSync:
    """What one sync did to one audited table."""

    table: str
    inserted: int
    updated: int
    deleted: int
    seconds: float


def _changes_ddl(table: str, key: str) -> list[str]:
    """The change log of `table`, and the statement triggers on its current table that fill
    it (one function per operation, each reading the statement's transition tables)."""
    cur, log = _q(current_name(table)), _q(changes_name(table))
    k = quote_ident(key)
    context = (
        "now(), nullif(current_setting('crmpipe.run_id', true), '')::bigint, "
        "nullif(current_setting('crmpipe.version', true), '')::integer, "
        "coalesce(nullif(current_setting('crmpipe.audit_action', true), ''), 'manual'), "
        "current_user"
    )
    cols = "operation, changed_at, run_id, version, action, changed_by, golden_id, old_row, new_row"
    bodies = {
        "insert": f"INSERT INTO {log} ({cols}) SELECT 'INSERT', {context}, n.{k}::text, NULL, "
        "to_jsonb(n) FROM new_rows n",
        "delete": f"INSERT INTO {log} ({cols}) SELECT 'DELETE', {context}, o.{k}::text, "
        "to_jsonb(o), NULL FROM old_rows o",
        # A key changed by hand is a delete of the old id and an insert of the new one.
        "update": f"INSERT INTO {log} ({cols}) SELECT CASE WHEN o.{k} IS NULL THEN 'INSERT' "
        f"WHEN n.{k} IS NULL THEN 'DELETE' ELSE 'UPDATE' END, {context}, "
        f"coalesce(n.{k}, o.{k})::text, to_jsonb(o), to_jsonb(n) "
        f"FROM old_rows o FULL JOIN new_rows n ON n.{k} = o.{k} "
        "WHERE to_jsonb(o) IS DISTINCT FROM to_jsonb(n)",
    }
    out = [
        f"""CREATE TABLE IF NOT EXISTS {log} (
  change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation text NOT NULL,
  changed_at timestamptz NOT NULL,
  run_id bigint,
  version integer,
  action text NOT NULL,
  changed_by text NOT NULL,
  golden_id text NOT NULL,
  old_row jsonb,
  new_row jsonb
)""",
        f"CREATE INDEX IF NOT EXISTS {quote_ident(changes_name(table) + '_golden_id')} "
        f"ON {log} (golden_id, change_id)",
    ]
    for op, body in bodies.items():
        fn = _q(f"{current_name(table)}_log_{op}")
        trigger = quote_ident(f"{current_name(table)}_log_{op}")
        transition = {
            "insert": "NEW TABLE AS new_rows",
            "delete": "OLD TABLE AS old_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[op]
        out += [
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $audit$\n"
            f"BEGIN\n  {body};\n  RETURN NULL;\nEND\n$audit$",
            f"DROP TRIGGER IF EXISTS {trigger} ON {cur}",
            f"CREATE TRIGGER {trigger} AFTER {op.upper()} ON {cur} REFERENCING {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
        ]
    return out


def _columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    """Audited columns of `schema.table` (lineage `_...` columns left out): name → type."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r' AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        [schema, table],
    ).fetchall()
    return {n: t for n, t in rows if not n.startswith("_")}


def _key_of(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """The primary key columns of `schema.table` as published."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary ORDER BY a.attnum",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def ensure_schema(conn: psycopg.Connection) -> None:
    """The audit schema and its registries, made when missing."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
    conn.execute(_REGISTRY_DDL)
    conn.execute(_SYNCS_DDL)


def _prepare_table(
    conn: psycopg.Connection, table: str, key: str, columns: dict[str, str]
) -> dict[str, str]:
    """Make (or bring in line with `columns`) the current table of `table` and its log; the
    current table's columns afterwards. A column new in the build is added (its values then
    arrive as updates); a column gone is dropped (no row is logged for that)."""
    cur = _q(current_name(table))
    have = _columns(conn, AUDIT_SCHEMA, current_name(table))
    if not have:
        cols = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns.items())
        conn.execute(f"CREATE TABLE {cur} ({cols}, PRIMARY KEY ({quote_ident(key)}))")
        have = dict(columns)
    for col, typ in columns.items():
        if col in have and have[col] != typ:
            conn.execute(f"ALTER TABLE {cur} DROP COLUMN {quote_ident(col)}")
        if col not in have or have[col] != typ:
            conn.execute(f"ALTER TABLE {cur} ADD COLUMN {quote_ident(col)} {typ}")
    for col in have:
        if col not in columns and col != key:
            conn.execute(f"ALTER TABLE {cur} DROP COLUMN {quote_ident(col)}")
    for statement in _changes_ddl(table, key):
        conn.execute(statement)
    conn.execute(
        f"INSERT INTO {AUDIT_SCHEMA}.tables (table_name, key_column, current_table, "
        "changes_table) VALUES (%s, %s, %s, %s) ON CONFLICT (table_name) DO UPDATE SET "
        "key_column = EXCLUDED.key_column, active = true",
        [table, key, current_name(table), changes_name(table)],
    )
    return columns


def _sync_table(
    conn: psycopg.Connection,
    source: str,
    table: str,
    key: str,
    columns: dict[str, str],
    keys: str | None = None,
) -> TableSync:
    """Bring audit.<table>_current in line with `source.table`: three set-based statements,
    whose triggers log what each changed. `keys`: a SELECT of the only keys that may have
    changed (an in-place publish knows them), so the others are not compared."""
    t0 = time.perf_counter()
    cur, src = _q(current_name(table)), f"{quote_ident(source)}.{quote_ident(table)}"
    k = quote_ident(key)
    names = [quote_ident(c) for c in columns]
    others = [quote_ident(c) for c in columns if c != key]
    only_c = f" AND c.{k} IN ({keys})" if keys else ""
    only_v = f" AND v.{k} IN ({keys})" if keys else ""
    deleted = conn.execute(
        f"DELETE FROM {cur} c WHERE NOT EXISTS (SELECT 1 FROM {src} v WHERE v.{k} = c.{k})" + only_c
    ).rowcount
    updated = 0
    if others:
        sets = ", ".join(others)
        values = ", ".join(f"v.{c}" for c in others)
        current = ", ".join(f"c.{c}" for c in others)
        updated = conn.execute(
            f"UPDATE {cur} c SET ({sets}) = ROW({values}) FROM {src} v WHERE v.{k} = c.{k} "
            f"AND ROW({current}) IS DISTINCT FROM ROW({values}){only_v}"
        ).rowcount
    # In key order: the current table's key index and the log's (golden_id, change_id) index
    # then grow at their right edge instead of taking every key at a random place (a first
    # publish inserts every golden row: 4.5M contacts, sent in email order).
    inserted = conn.execute(
        f"INSERT INTO {cur} ({', '.join(names)}) SELECT {', '.join(f'v.{c}' for c in names)} "
        f"FROM {src} v WHERE NOT EXISTS (SELECT 1 FROM {cur} c WHERE c.{k} = v.{k}){only_v} "
        f"ORDER BY v.{k}"
    ).rowcount
    return TableSync(table, inserted, updated, deleted, time.perf_counter() - t0)


def audited_tables(conn: psycopg.Connection) -> list[str]:
    """Tables the audit follows now (registered and still asked for by the last publish)."""
    exists = conn.execute("SELECT to_regclass(%s)", [f"{AUDIT_SCHEMA}.tables"]).fetchone()
    if exists is None or exists[0] is None:
        return []
    rows = conn.execute(
        f"SELECT table_name FROM {AUDIT_SCHEMA}.tables WHERE active ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def sync_audit(
    conn: psycopg.Connection,
    source: str,
    tables: list[str] | None,
    *,
    action: str,
    version: int,
    run_id: int | None,
    keys: dict[str, str] | None = None,
) -> tuple[list[TableSync], list[str]]:
    """Record in the audit trail what serving schema `source` (the version about to be swapped
    in) changes in the audited tables; run inside the swap's transaction, so the trail and the
    serving version never disagree. `tables`: the tables asked for (crmpipe.yml's
    `publish.audit`; tables registered but no longer asked for stop being followed), or None
    for the ones followed already (a rollback). `keys`: for an in-place publish, per table a
    SELECT of the keys it changed; a table followed already is compared on those only (one it
    starts following is compared whole). Returns what each table's sync did, and notes on
    tables asked for that can't be audited."""
    ensure_schema(conn)
    followed = set(audited_tables(conn))
    if tables is None:
        tables = audited_tables(conn)
    else:
        conn.execute(
            f"UPDATE {AUDIT_SCHEMA}.tables SET active = false WHERE NOT table_name = ANY(%s)",
            [tables],
        )
    for name, value in (("run_id", run_id), ("version", version), ("audit_action", action)):
        conn.execute(
            "SELECT set_config(%s, %s, true)",
            [f"crmpipe.{name}", "" if value is None else str(value)],
        )
    done: list[TableSync] = []
    notes: list[str] = []
    for table in tables:
        columns = _columns(conn, source, table)
        if not columns:
            continue  # not in this build (customers in a project without them)
        key = _key_of(conn, source, table)
        if len(key) != 1:
            notes.append(f"publish.audit: {table} has no single-column key; not audited")
            continue
        _prepare_table(conn, table, key[0], columns)
        only = keys.get(table) if keys is not None and table in followed else None
        if keys is not None and table in followed and only is None:
            result = TableSync(table, 0, 0, 0, 0.0)  # unchanged by an in-place publish
        else:
            result = _sync_table(conn, source, table, key[0], columns, only)
        conn.execute(
            f"INSERT INTO {AUDIT_SCHEMA}.syncs (action, version, run_id, table_name, inserted, "
            "updated, deleted, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                action,
                version,
                run_id,
                table,
                result.inserted,
                result.updated,
                result.deleted,
                result.seconds,
            ],
        )
        done.append(result)
    return done, notes


def run_of_version(conn: psycopg.Connection, version: int) -> int | None:
    """The pipeline run whose build version `version` was published from (as the audit
    recorded it), for a rollback's log rows."""
    exists = conn.execute("SELECT to_regclass(%s)", [f"{AUDIT_SCHEMA}.syncs"]).fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(
        f"SELECT run_id FROM {AUDIT_SCHEMA}.syncs WHERE version = %s AND action = 'publish' "
        "ORDER BY sync_id DESC LIMIT 1",
        [version],
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def build_run(duck: duckdb.DuckDBPyConnection) -> int | None:
    """The pipeline run that made the warehouse's build: the newest run that finished (a
    failed or interrupted run kept nothing), recorded as the audit log's `run_id`."""
    try:
        row = duck.execute(
            "SELECT max(run_id) FROM meta.runs "
            "WHERE status NOT IN ('running', 'failed', 'interrupted')"
        ).fetchone()
    except duckdb.Error:
        return None  # a warehouse without a run registry (built by hand)
    return int(row[0]) if row and row[0] is not None else None
