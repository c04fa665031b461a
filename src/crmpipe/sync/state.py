"""What a target has been sent, in the warehouse's `sync` schema: the changed set, computed in
DuckDB, and the checkpoint written after each acknowledged batch.

`sync.state` holds one row per target and record: the hash of the payload last acknowledged
(or rejected), a version counting those outcomes and the id the API gave the record. A record
is pending when its payload hash differs from the stored one; its idempotency key is a hash of
the target, the key, the next version and the payload hash, so a retry of the same send, even
by a later process after a kill, carries the same key, while a new version (even one that
returns to an older payload) gets a new one. `sync.dead_letters` keeps rejected records with
the API's answer; `sync.runs` one row per sync.
"""

from __future__ import annotations

import duckdb

from crmpipe.config.sync import SyncTargetSpec
from crmpipe.errors import CrmpipeError, first_line
from crmpipe.sqltext import quote_ident, quote_qualified, sql_str
from crmpipe.warehouse.connection import table_columns

SYNC_DDL = """
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.state (
  target VARCHAR NOT NULL, record_key VARCHAR NOT NULL, payload_hash VARCHAR, version BIGINT,
  status VARCHAR, remote_id VARCHAR, idempotency_key VARCHAR, sync_id BIGINT,
  synced_at TIMESTAMP, PRIMARY KEY (target, record_key)
);
CREATE TABLE IF NOT EXISTS sync.dead_letters (
  sync_id BIGINT, target VARCHAR, record_key VARCHAR, payload_hash VARCHAR,
  idempotency_key VARCHAR, http_status INTEGER, response VARCHAR, payload VARCHAR,
  rejected_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS sync.runs (
  sync_id BIGINT, target VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
  pending BIGINT, sent BIGINT, unchanged BIGINT, retried BIGINT, rejected BIGINT,
  waiting BIGINT, message VARCHAR
);
"""

#: The temp table of one sync's pending records, numbered in key order.
PENDING = "sync_pending"


class SyncError(CrmpipeError):
    """A sync can't start or can't go on (a bad target, an API down past the retry budget)."""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SYNC_DDL)


def start_run(con: duckdb.DuckDBPyConnection, target: str) -> int:
    (sync_id,) = con.execute("SELECT coalesce(max(sync_id), 0) + 1 FROM sync.runs").fetchone()
    con.execute(
        "INSERT INTO sync.runs (sync_id, target, started_at, status) VALUES (?, ?, now(), ?)",
        [sync_id, target, "running"],
    )
    return int(sync_id)


def finish_run(
    con: duckdb.DuckDBPyConnection, sync_id: int, status: str, counts: dict[str, int], message: str
) -> None:
    con.execute(
        "UPDATE sync.runs SET finished_at = now(), status = ?, pending = ?, sent = ?, "
        "unchanged = ?, retried = ?, rejected = ?, waiting = ?, message = ? WHERE sync_id = ?",
        [
            status,
            *(counts[k] for k in ("pending", "sent", "unchanged", "retried", "rejected")),
            counts["waiting"],
            message,
            sync_id,
        ],
    )


def _payload_sql(con: duckdb.DuckDBPyConnection, name: str, spec: SyncTargetSpec) -> str:
    """SELECT of (record key, payload struct, each reference's key) over the target's rows."""
    schema, table = spec.qualified_table.split(".")
    columns = table_columns(con, schema, table)
    at = f"sync.targets.{name}"
    if not columns:
        raise SyncError(f"{at}.table: no table {spec.qualified_table} in the warehouse")
    if spec.key not in columns:
        raise SyncError(f"{at}.key: {spec.table} has no column {spec.key!r}")
    for field, ref in spec.references.items():
        if ref.key not in columns:
            raise SyncError(f"{at}.references.{field}.key: {spec.table} has no column {ref.key!r}")
    fields = spec.fields or {c: quote_ident(c) for c in columns}
    members = ", ".join(f"{quote_ident(f)} := ({expr})" for f, expr in fields.items())
    refs = "".join(
        f", CAST({quote_ident(ref.key)} AS VARCHAR) AS _crm_ref_{i}"
        for i, ref in enumerate(spec.references.values())
    )
    where = f" WHERE ({spec.where})" if spec.where else ""
    return (
        f"SELECT CAST({quote_ident(spec.key)} AS VARCHAR) AS _crm_key, "
        f"struct_pack({members}) AS _crm_fields{refs} "
        f"FROM {quote_qualified(spec.qualified_table)}{where}"
    )


def plan(
    con: duckdb.DuckDBPyConnection, name: str, spec: SyncTargetSpec, *, retry_rejected: bool
) -> dict[str, int]:
    """Fill the pending temp table (records new or changed since their last outcome) and count
    the target's rows: pending, unchanged, waiting (a referenced record has no id yet)."""
    base = _payload_sql(con, name, spec)
    joins, inserts, waits = [], [], []
    for i, (field, ref) in enumerate(spec.references.items()):
        joins.append(
            f"LEFT JOIN sync.state AS r{i} ON r{i}.target = {sql_str(ref.target)} "
            f"AND r{i}.record_key = b._crm_ref_{i} AND r{i}.status = 'sent'"
        )
        inserts.append(f"{quote_ident(field)} := CAST(r{i}.remote_id AS JSON)")
        waits.append(f"(b._crm_ref_{i} IS NOT NULL AND r{i}.remote_id IS NULL)")
    payload = (
        f"to_json(struct_insert(b._crm_fields, {', '.join(inserts)}))"
        if inserts
        else "to_json(b._crm_fields)"
    )
    waiting = " OR ".join(waits) or "false"
    changed = "s.payload_hash IS DISTINCT FROM r.payload_hash" + (
        " OR s.status = 'rejected'" if retry_rejected else ""
    )
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _crm_rows AS "
            f"SELECT b._crm_key AS record_key, CAST({payload} AS VARCHAR) AS payload, "
            f"{waiting} AS waiting FROM ({base}) AS b {' '.join(joins)}"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {PENDING} AS "
            "WITH r AS (SELECT record_key, payload, md5(record_key || '|' || payload) "
            "AS payload_hash FROM _crm_rows WHERE NOT waiting) "
            "SELECT row_number() OVER (ORDER BY r.record_key) AS seq, r.record_key, r.payload, "
            "r.payload_hash, coalesce(s.version, 0) + 1 AS version, "
            "md5(? || '|' || r.record_key || '|' || (coalesce(s.version, 0) + 1) || '|' "
            "|| r.payload_hash) AS idempotency_key "
            "FROM r LEFT JOIN sync.state AS s ON s.target = ? AND s.record_key = r.record_key "
            f"WHERE s.record_key IS NULL OR {changed}",
            [name, name],
        )
    except duckdb.Error as exc:
        raise SyncError(f"sync.targets.{name}: {first_line(exc)}") from None
    (total, waiting_n, keys) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE waiting), count(DISTINCT record_key) "
        "FROM _crm_rows"
    ).fetchone()
    if keys != total:
        raise SyncError(
            f"sync.targets.{name}.key: {spec.key!r} is not unique in {spec.table} "
            f"({total - keys} repeats)"
        )
    (pending,) = con.execute(f"SELECT count(*) FROM {PENDING}").fetchone()
    unchanged = total - waiting_n - pending
    return {"pending": pending, "unchanged": unchanged, "waiting": waiting_n}


def batch(con: duckdb.DuckDBPyConnection, first: int, size: int) -> list[tuple[str, str, str]]:
    """(record key, payload JSON, idempotency key) of pending records first..first+size-1."""
    return con.execute(
        f"SELECT record_key, payload, idempotency_key FROM {PENDING} "
        "WHERE seq >= ? AND seq < ? ORDER BY seq",
        [first, first + size],
    ).fetchall()


def checkpoint(
    con: duckdb.DuckDBPyConnection,
    target: str,
    sync_id: int,
    acked: list[tuple[str, str | None]],
    rejected: list[tuple[str, int, str]],
) -> None:
    """Record one batch's outcome in one transaction: acknowledged records (key, the API's id
    as JSON text) and rejected ones (key, HTTP status, response body, also dead-lettered)."""
    con.execute("BEGIN")
    try:
        if acked:
            con.execute(
                "INSERT OR REPLACE INTO sync.state SELECT ?, p.record_key, p.payload_hash, "
                "p.version, 'sent', a.remote_id, p.idempotency_key, ?, now() "
                f"FROM (SELECT unnest(?::VARCHAR[]) AS k, unnest(?::VARCHAR[]) AS remote_id) a "
                f"JOIN {PENDING} AS p ON p.record_key = a.k",
                [target, sync_id, [k for k, _ in acked], [i for _, i in acked]],
            )
        if rejected:
            keys = [k for k, _, _ in rejected]
            con.execute(
                "INSERT INTO sync.dead_letters SELECT ?, ?, p.record_key, p.payload_hash, "
                "p.idempotency_key, a.status, a.body, p.payload, now() "
                "FROM (SELECT unnest(?::VARCHAR[]) AS k, unnest(?::INTEGER[]) AS status, "
                f"unnest(?::VARCHAR[]) AS body) a JOIN {PENDING} AS p ON p.record_key = a.k",
                [sync_id, target, keys, [s for _, s, _ in rejected], [b for _, _, b in rejected]],
            )
            con.execute(
                "INSERT OR REPLACE INTO sync.state SELECT ?, p.record_key, p.payload_hash, "
                "p.version, 'rejected', NULL, p.idempotency_key, ?, now() "
                f"FROM {PENDING} AS p WHERE p.record_key IN (SELECT unnest(?::VARCHAR[]))",
                [target, sync_id, keys],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
