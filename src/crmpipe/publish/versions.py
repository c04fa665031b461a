"""The version registry `crmpipe_meta.versions` and the schemas it names: which version
serves, the lock that serializes publishes and rollbacks, leftovers of failed publishes, the
next version's number, retiring old versions, carrying grants over, and the swap that puts a
version in as schema `crmpipe`; with the entry points that only read or swap (`rollback`,
`published_versions`, `serving_build`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pgerr

from crmpipe.publish.audit import run_of_version, sync_audit
from crmpipe.publish.connection import connect
from crmpipe.publish.ddl import qualified
from crmpipe.publish.errors import PublishError, translated
from crmpipe.serve.pool import SERVING_LOCK
from crmpipe.sqltext import quote_ident

#: The schema readers query; versions are built beside it and renamed into it.
SERVING_SCHEMA = "crmpipe"
#: Where the version registry lives (never renamed or dropped by a publish).
META_SCHEMA = "crmpipe_meta"
VERSION_PREFIX = "crmpipe_v"
#: How long the swap and the drops of old versions wait for a lock before giving up.
SWAP_LOCK_TIMEOUT = "10s"
DROP_LOCK_TIMEOUT = "3s"
#: Key of the session advisory lock that serializes publishes and rollbacks on a database.
LOCK_KEY = 0x63726D70_7562  # "crmp" "ub"

_REGISTRY_DDL = f"""
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.versions (
  version integer PRIMARY KEY,
  schema_name text NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  retired_at timestamptz,
  rows jsonb,
  orphans jsonb,
  seconds double precision,
  message text,
  build text,
  label text,
  base integer
)"""
#: Registries made before the `build` column (the warehouse build a version was published from),
#: the `label` column (its dated label, `leads_20241101`) and the `base` column (the version an
#: in-place publish changed into this one).
_REGISTRY_UPGRADE = (
    f"ALTER TABLE {META_SCHEMA}.versions ADD COLUMN IF NOT EXISTS build text, "
    "ADD COLUMN IF NOT EXISTS label text, ADD COLUMN IF NOT EXISTS base integer"
)


@dataclass
class VersionInfo:
    """One row of crmpipe_meta.versions."""

    version: int
    schema: str  # its schema's current name: `crmpipe` while serving, else crmpipe_v<N>
    status: str  # building | serving | previous | rolled_back | failed | dropped | merged
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None
    rows: dict[str, int] | None
    orphans: dict[str, int] | None
    seconds: float | None
    message: str | None
    label: str | None = None  # dated label, `leads_20241101` (None: published before labels)


def create_registry(conn: psycopg.Connection) -> None:
    """The registry's schema and table, made or brought up to date."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    conn.execute(_REGISTRY_DDL)
    conn.execute(_REGISTRY_UPGRADE)


def _registry_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", [f"{META_SCHEMA}.versions"]).fetchone()
    return row is not None and row[0] is not None


def schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name]).fetchone() is not None
    )


def serving(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        f"SELECT version FROM {META_SCHEMA}.versions WHERE status = 'serving' "
        "ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else None


@contextmanager
def publish_lock(conn: psycopg.Connection) -> Iterator[None]:
    """One publish or rollback at a time per database (a session advisory lock: released
    when the session ends, so a killed publisher never leaves it behind)."""
    (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    if not got:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objid = %s::bigint & 4294967295 AND classid = %s::bigint >> 32 LIMIT 1",
            [LOCK_KEY, LOCK_KEY],
        ).fetchone()
        who = f" (server pid {row[0]})" if row else ""
        raise PublishError(
            f"another crmpipe publish or rollback is running on database "
            f"{conn.info.dbname}{who}; wait for it to finish and try again"
        )
    try:
        yield
    finally:
        with suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _drop_schema(conn: psycopg.Connection, name: str) -> bool:
    """DROP SCHEMA ... CASCADE, giving up (False) when a reader still holds a lock in it."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
        return True
    except (pgerr.LockNotAvailable, pgerr.DeadlockDetected):
        return False


def clean_leftovers(conn: psycopg.Connection) -> list[str]:
    """Drop what killed or failed publishes left behind (their registry rows say so)."""
    rows = conn.execute(
        f"SELECT version, schema_name, status FROM {META_SCHEMA}.versions "
        "WHERE status IN ('building', 'failed') ORDER BY version"
    ).fetchall()
    dropped = []
    for version, schema, status in rows:
        if schema_exists(conn, schema) and schema != SERVING_SCHEMA:
            if not _drop_schema(conn, schema):
                continue
            dropped.append(schema)
        if status == "building":
            conn.execute(
                f"UPDATE {META_SCHEMA}.versions SET status = 'failed', message = "
                "'interrupted; cleaned up by the next publish' WHERE version = %s",
                [version],
            )
    return dropped


def next_version(conn: psycopg.Connection) -> int:
    (registered,) = conn.execute(
        f"SELECT coalesce(max(version), 0) FROM {META_SCHEMA}.versions"
    ).fetchone()
    (existing,) = conn.execute(
        "SELECT coalesce(max(substr(nspname, %s)::int), 0) FROM pg_namespace WHERE nspname ~ %s",
        [len(VERSION_PREFIX) + 1, f"^{VERSION_PREFIX}[0-9]+$"],
    ).fetchone()
    return max(int(registered), int(existing)) + 1


def retire_old(conn: psycopg.Connection, keep: int) -> tuple[list[str], list[str]]:
    """Drop versions beyond the newest `keep` previous ones (and rolled-back ones); a version a
    reader still uses is left for the next publish rather than waited for."""
    rows = conn.execute(
        f"SELECT version, schema_name, status FROM {META_SCHEMA}.versions "
        "WHERE status IN ('previous', 'rolled_back') ORDER BY version DESC"
    ).fetchall()
    kept = [v for v, _, s in rows if s == "previous"][:keep]
    dropped, notes = [], []
    for version, schema, _ in rows:
        if version in kept:
            continue
        if _drop_schema(conn, schema):
            conn.execute(
                f"UPDATE {META_SCHEMA}.versions SET status = 'dropped' WHERE version = %s",
                [version],
            )
            dropped.append(schema)
        else:
            notes.append(
                f"{schema} is still in use by a reader; it will be dropped by the next publish"
            )
    return dropped, notes


def _grants(conn: psycopg.Connection, schema: str) -> list[tuple[str | None, str, str]]:
    """(object or None for the schema, grantee, privilege) granted on `schema` and its tables
    to roles other than the owner, so a new version can be given the same."""
    rows = conn.execute(
        "SELECT NULL::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
        "quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type "
        "FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = %s "
        "AND a.grantee <> n.nspowner "
        "UNION ALL SELECT c.relname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
        "quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
        "WHERE n.nspname = %s AND a.grantee <> c.relowner",
        [schema, schema],
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def copy_grants(conn: psycopg.Connection, source: str, target: str) -> int:
    """Give the objects of `target` the grants the same-named objects of `source` have."""
    names = {
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s",
            [target],
        ).fetchall()
    }
    n = 0
    for obj, grantee, privilege in _grants(conn, source):
        if obj is None:
            conn.execute(f"GRANT {privilege} ON SCHEMA {quote_ident(target)} TO {grantee}")
        elif obj in names:
            conn.execute(f"GRANT {privilege} ON {qualified(target, obj)} TO {grantee}")
        else:
            continue
        n += 1
    return n


def swap_in(
    conn: psycopg.Connection,
    version: int,
    old: int | None,
    *,
    old_status: str,
    updates: dict[str, Any],
    before: Callable[[psycopg.Connection, str], None] | None = None,
) -> None:
    """The one transaction readers notice: `crmpipe` → crmpipe_v<old>, crmpipe_v<new> →
    `crmpipe`, and the registry, all or nothing. Renames take no lock on the tables; the
    serving lock (crmpipe.serve.pool) taken alone waits for the requests of `crmpipe serve` in
    flight, each of which holds it shared, so no request reads from two versions. `before`
    runs first in the same transaction with the new version's schema name (the audit trail's
    sync, crmpipe.publish.audit), before the serving lock, so requests don't wait for it."""
    new_schema = f"{VERSION_PREFIX}{version}"
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        if before is not None:
            before(conn, new_schema)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [SERVING_LOCK])
        conn.execute(f"SELECT 1 FROM {META_SCHEMA}.versions FOR UPDATE")
        if schema_exists(conn, SERVING_SCHEMA):
            if old is None:
                raise PublishError(
                    f"schema {SERVING_SCHEMA} exists in database {conn.info.dbname} but was not "
                    "published by crmpipe (no entry in crmpipe_meta.versions); rename or drop "
                    "it, or publish to another database"
                )
            conn.execute(f"ALTER SCHEMA {SERVING_SCHEMA} RENAME TO {VERSION_PREFIX}{old}")
            conn.execute(
                f"UPDATE {META_SCHEMA}.versions SET status = %s, schema_name = %s, "
                "retired_at = now() WHERE version = %s",
                [old_status, f"{VERSION_PREFIX}{old}", old],
            )
        elif old is not None:
            conn.execute(
                f"UPDATE {META_SCHEMA}.versions SET status = 'dropped', message = "
                "'its schema had disappeared' WHERE version = %s",
                [old],
            )
        conn.execute(f"ALTER SCHEMA {quote_ident(new_schema)} RENAME TO {SERVING_SCHEMA}")
        sets = "".join(f", {k} = %s" for k in updates)
        conn.execute(
            f"UPDATE {META_SCHEMA}.versions SET status = 'serving', schema_name = %s, "
            f"published_at = coalesce(published_at, now()){sets} WHERE version = %s",
            [SERVING_SCHEMA, *updates.values(), version],
        )


def unique_label(conn: psycopg.Connection, label: str) -> str:
    """`label`, or `label_2`, `label_3`, ... when versions already carry it (a label names one
    version for good, so rollback by label is never ambiguous)."""
    taken = {
        r[0]
        for r in conn.execute(
            f"SELECT label FROM {META_SCHEMA}.versions WHERE label = %s OR label LIKE %s",
            [label, f"{label}\\_%"],
        ).fetchall()
    }
    n = 1
    out = label
    while out in taken:
        n += 1
        out = f"{label}_{n}"
    return out


def start_version(conn: psycopg.Connection, build: str | None, label: str | None = None) -> int:
    """Register the next version as `building` (from warehouse build `build`, labelled `label`
    made unique); its number."""
    version = next_version(conn)
    conn.execute(
        f"INSERT INTO {META_SCHEMA}.versions (version, schema_name, status, build, label)"
        " VALUES (%s, %s, 'building', %s, %s)",
        [version, f"{VERSION_PREFIX}{version}", build, label and unique_label(conn, label)],
    )
    return version


def version_label_of(conn: psycopg.Connection, version: int) -> str | None:
    row = conn.execute(
        f"SELECT label FROM {META_SCHEMA}.versions WHERE version = %s", [version]
    ).fetchone()
    return row[0] if row else None


def abandon(admin: psycopg.Connection, version: int, exc: BaseException) -> None:
    """Best effort after a failed build: drop its schema and mark it failed (should this fail
    too, e.g. the server is gone, the next publish cleans up)."""
    with suppress(Exception):
        if admin.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            admin.rollback()
        schema = f"{VERSION_PREFIX}{version}"
        row = admin.execute(
            f"SELECT status FROM {META_SCHEMA}.versions WHERE version = %s", [version]
        ).fetchone()
        if row and row[0] == "building":
            _drop_schema(admin, schema)
            message = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            admin.execute(
                f"UPDATE {META_SCHEMA}.versions SET status = 'failed', message = %s "
                "WHERE version = %s",
                [message, version],
            )


def serving_build(dsn: str) -> str | None:
    """The warehouse build fingerprint the serving version was published from (None when
    nothing serves, or it was published before builds were recorded)."""
    conn = connect(dsn, app="crmpipe versions")
    try:
        with translated(conn, "reading the version registry", harmless=False):
            if not _registry_exists(conn):
                return None
            conn.execute(_REGISTRY_UPGRADE)
            row = conn.execute(
                f"SELECT build FROM {META_SCHEMA}.versions WHERE status = 'serving' "
                "ORDER BY version DESC LIMIT 1"
            ).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


#: Statuses of versions whose schemas are kept for rollback.
_KEPT = ("previous", "rolled_back")


def _rollback_target(conn: psycopg.Connection, current: int, to: str | None) -> int:
    """The version a rollback serves: the newest kept previous one, or the kept version `to`
    names (its label `leads_20241101`, its schema `crmpipe_v3`, or its number)."""
    if to is None:
        rows = conn.execute(
            f"SELECT version, schema_name FROM {META_SCHEMA}.versions WHERE status = "
            "'previous' AND version < %s ORDER BY version DESC",
            [current],
        ).fetchall()
        target = next((v for v, s in rows if schema_exists(conn, s)), None)
        if target is None:
            raise PublishError(
                f"no previous version is kept to roll back to (version {current} serves); "
                "publish with keep_versions of 1 or more to keep one"
            )
        return int(target)
    number = to.removeprefix(VERSION_PREFIX)
    row = conn.execute(
        f"SELECT version, schema_name, status FROM {META_SCHEMA}.versions WHERE label = %s "
        "OR version::text = %s ORDER BY version DESC LIMIT 1",
        [to, number],
    ).fetchone()
    kept = conn.execute(
        f"SELECT coalesce(label, schema_name) FROM {META_SCHEMA}.versions WHERE status IN "
        "('previous', 'rolled_back') ORDER BY version DESC"
    ).fetchall()
    choices = ", ".join(r[0] for r in kept) or "none"
    if row is None:
        raise PublishError(f"no published version is called {to!r}; kept versions: {choices}")
    version, schema, status = row
    if version == current:
        raise PublishError(f"{to} is the version serving already")
    if status not in ("previous", "rolled_back") or not schema_exists(conn, schema):
        raise PublishError(f"version {to} is not kept (it is {status}); kept versions: {choices}")
    return int(version)


def rollback(dsn: str, to: str | None = None) -> str:
    """Serve the version that served before the current one again, or the kept version `to`
    names (a label such as `leads_20241101`, a schema `crmpipe_v3`, or a number); return its
    name (crmpipe_v<N>: the version now serving as schema `crmpipe`).

    The version swapped out is kept: as `rolled_back` (dropped by the next publish) when it is
    newer than the target, as `previous` when `to` went forward to a newer kept version.
    """
    conn = connect(dsn, app="crmpipe rollback")
    try:
        with translated(conn, "rolling back"), publish_lock(conn):
            if not _registry_exists(conn):
                raise PublishError(
                    f"nothing has been published to database {conn.info.dbname} "
                    "yet; run 'crmpipe publish' first"
                )
            conn.execute(_REGISTRY_UPGRADE)
            current = serving(conn)
            if current is None:
                raise PublishError(
                    f"no version is serving in database {conn.info.dbname}; run 'crmpipe publish'"
                )
            target = _rollback_target(conn, current, to)
            status = "rolled_back" if target < current else "previous"

            def audit(c: psycopg.Connection, schema: str) -> None:
                # The golden rows change back: the audit trail records it (docs/audit.md).
                run = run_of_version(c, target)
                sync_audit(c, schema, None, action="rollback", version=target, run_id=run)

            swap_in(conn, target, current, old_status=status, updates={}, before=audit)
        return f"{VERSION_PREFIX}{target}"
    finally:
        conn.close()


def published_versions(dsn: str) -> list[VersionInfo]:
    """Every version in the registry, newest first (empty when nothing was published)."""
    conn = connect(dsn, app="crmpipe versions")
    try:
        with translated(conn, "reading the version registry", harmless=False):
            if not _registry_exists(conn):
                return []
            labelled = conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'versions' AND column_name = 'label'",
                [META_SCHEMA],
            ).fetchone()
            rows = conn.execute(
                "SELECT version, schema_name, status, created_at, published_at, retired_at, "
                f"rows, orphans, seconds, message, {'label' if labelled else 'NULL'} "
                f"FROM {META_SCHEMA}.versions "
                "ORDER BY version DESC"
            ).fetchall()
        return [VersionInfo(*r) for r in rows]
    finally:
        conn.close()


def rollback_summary(dsn: str, schema: str) -> str:
    """What `crmpipe rollback` says: the version now serving, its label, and the kept ones."""
    versions = published_versions(dsn)
    label = next((v.label for v in versions if v.schema == SERVING_SCHEMA and v.label), None)
    text = f"{schema} serves again as schema {SERVING_SCHEMA}" + (f": {label}" if label else "")
    kept = [f"{v.label or v.schema} ({v.status})" for v in versions if v.status in _KEPT]
    return text + (f"\nkept: {', '.join(kept)}" if kept else "")
