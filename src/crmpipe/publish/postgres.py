"""Publish the DuckDB build to PostgreSQL for concurrent serving (DESIGN §7).

Each publish loads the normalized tables into a fresh schema `crmpipe_v<N>` with COPY, checks
the row counts against DuckDB, builds keys, indexes and the `contact_search` materialized view,
then swaps it in as the schema `crmpipe` by two renames in one transaction. Readers never see a
half-published state, the previous versions stay for `rollback`, and a failed or killed publish
leaves the serving version alone (its leftovers are dropped by the next publish). The registry
`crmpipe_meta.versions` records every version. docs/postgres.md explains the choices.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import errors as pgerr
from psycopg.conninfo import conninfo_to_dict
from psycopg.copy import QueuedLibpqWriter

from crmpipe.build.core import _systems
from crmpipe.config.schema import Config
from crmpipe.errors import CrmpipeError, first_line
from crmpipe.marts.build import mart_tables
from crmpipe.publish import ddl
from crmpipe.publish.ddl import PUBLISHED_TABLES, PgColumn, qualified
from crmpipe.sqltext import quote_ident, sql_str

if TYPE_CHECKING:
    from crmpipe.pipeline import Reporter

#: The environment variable holding the PostgreSQL DSN when neither --pg nor crmpipe.yml does.
DSN_ENV = "CRMPIPE_PG_DSN"
#: The schema readers query; versions are built beside it and renamed into it.
SERVING_SCHEMA = "crmpipe"
#: Where the version registry lives (never renamed or dropped by a publish).
META_SCHEMA = "crmpipe_meta"
VERSION_PREFIX = "crmpipe_v"

#: Session settings for the build connections (see docs/postgres.md for why each).
BUILD_SETTINGS: dict[str, str] = {
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
    "work_mem": "256MB",
    "synchronous_commit": "off",
    "statement_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
    "standard_conforming_strings": "on",
    "client_encoding": "UTF8",
}
#: maintenance_work_mem for GIN builds: far smaller than for B-trees, on purpose. A GIN build
#: collects entries in an in-memory tree until this fills, and a big tree misses the CPU caches.
#: Measured here at 4.5M contacts, a `document` GIN took 45 s of CPU with 4-16MB, 50 s with
#: 32MB, 53-57 s with 64MB, 71 s with 256MB and 88 s with 1GB; the emails trigram GIN 30.5 s
#: with 16MB and 34 s with 64MB or 256MB. B-tree sorts gain from the full 1GB.
GIN_MAINTENANCE_WORK_MEM = "16MB"
GIN_KINDS = frozenset({"trigram", "fulltext", "array"})
#: How long the swap and the drops of old versions wait for a lock before giving up.
SWAP_LOCK_TIMEOUT = "10s"
DROP_LOCK_TIMEOUT = "3s"
#: Rows per Arrow batch streamed from DuckDB into COPY (bounded memory: a few MB a batch).
BATCH_ROWS = 50_000
#: Build connections working in parallel (COPY streams, index builds); PG_JOBS overrides.
DEFAULT_JOBS = 2
#: Key of the session advisory lock that serializes publishes and rollbacks on a database.
_LOCK_KEY = 0x63726D70_7562  # "crmp" "ub"

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
  build text
)"""
#: Registries made before the `build` column (the warehouse build a version was published from).
_REGISTRY_UPGRADE = f"ALTER TABLE {META_SCHEMA}.versions ADD COLUMN IF NOT EXISTS build text"


class PublishError(CrmpipeError):
    """A publish or rollback that can't go on, as one line that says what to do."""


@dataclass
class PublishResult:
    """What a publish did: the version now serving (as schema `crmpipe`), rows per table,
    per-step seconds, foreign-key orphans kept unvalidated, and old versions dropped."""

    schema: str
    version: int
    tables: dict[str, int]
    steps: list[tuple[str, float]]
    seconds: float
    orphans: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class VersionInfo:
    """One row of crmpipe_meta.versions."""

    version: int
    schema: str  # its schema's current name: `crmpipe` while serving, else crmpipe_v<N>
    status: str  # building | serving | previous | rolled_back | failed | dropped
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None
    rows: dict[str, int] | None
    orphans: dict[str, int] | None
    seconds: float | None
    message: str | None


# --- connections and errors ----------------------------------------------------------------


def _where(params: dict[str, Any]) -> str:
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    port = f":{params['port']}" if params.get("port") else ""
    db = f"/{params['dbname']}" if params.get("dbname") else ""
    return f"{host}{port}{db}"


def _connect(dsn: str, *, app: str = "crmpipe publish") -> psycopg.Connection:
    """An autocommit connection, or PublishError naming the server (never the password)."""
    if not dsn or not dsn.strip():
        raise PublishError(
            "no PostgreSQL DSN: set publish.postgres in crmpipe.yml (or CRMPIPE_PG_DSN), e.g. "
            "postgresql://USER@HOST:5432/DBNAME"
        )
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise PublishError(
            f"the PostgreSQL DSN is not valid ({first_line(exc)}); write it as "
            "postgresql://USER@HOST:5432/DBNAME or 'host=... port=... dbname=...'"
        ) from None
    params.setdefault("connect_timeout", 10)
    params.setdefault("application_name", app)
    try:
        return psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        if "failed: " in reason:
            reason = reason.rsplit("failed: ", 1)[1]
        reason = " ".join(reason.removeprefix("FATAL:").split())
        raise PublishError(
            f"cannot connect to PostgreSQL at {_where(params)}: {reason} — check "
            "publish.postgres (CRMPIPE_PG_DSN) and that the server is running"
        ) from None
    except psycopg.Error as exc:
        raise PublishError(
            f"cannot connect to PostgreSQL at {_where(params)}: {first_line(exc)}"
        ) from None


def _apply_settings(conn: psycopg.Connection, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        conn.execute(f"SET {name} = {sql_str(value)}")
    if conn.info.server_version >= 140000:
        # A killed publisher's backends notice the lost client within seconds instead of
        # finishing a long index build while still holding the publish lock.
        conn.execute("SET client_connection_check_interval = '2s'")


@contextmanager
def _translated(
    conn: psycopg.Connection | None, what: str, *, harmless: bool = True
) -> Iterator[None]:
    """Turn PostgreSQL errors into one-line PublishErrors saying what to do."""
    safe = " The previously published version still serves." if harmless else ""
    try:
        yield
    except PublishError:
        raise
    except pgerr.InsufficientPrivilege as exc:
        role = conn.info.user if conn is not None else "this role"
        db = conn.info.dbname if conn is not None else "the database"
        if "owner" in str(exc):  # e.g. renaming a schema another role published
            todo = (
                "publish as the role that published before (or one of its members), or ask "
                "an admin to make this role a member of it."
            )
        else:
            todo = (
                f"publish as the database owner or ask an admin to run: GRANT CREATE ON "
                f"DATABASE {quote_ident(db)} TO {quote_ident(role)};"
            )
        raise PublishError(f"{what}: permission denied ({first_line(exc)}); {todo}{safe}") from None
    except pgerr.DiskFull as exc:
        raise PublishError(
            f"{what}: the PostgreSQL server is out of disk space "
            f"({first_line(exc)}); free space and publish again.{safe}"
        ) from None
    except pgerr.UniqueViolation as exc:
        raise PublishError(
            f"{what}: duplicate keys ({first_line(exc)}); rebuild the warehouse "
            f"with 'crmpipe run --force' and publish again.{safe}"
        ) from None
    except psycopg.OperationalError as exc:
        raise PublishError(
            f"{what}: lost the connection to PostgreSQL ({first_line(exc)}); "
            f"publish again once the server is back.{safe}"
        ) from None
    except psycopg.Error as exc:
        raise PublishError(f"{what}: {first_line(exc)}.{safe}") from None


def _preflight(conn: psycopg.Connection) -> list[str]:
    """Server version, encoding and the CREATE privilege, before anything is changed; returns
    warnings worth a note (a locale that can't lower-case beyond ASCII)."""
    if conn.info.server_version < 130000:
        raise PublishError(
            f"PostgreSQL {conn.info.server_version // 10000} is too old for "
            "publishing; use PostgreSQL 13 or newer"
        )
    enc = conn.execute("SHOW server_encoding").fetchone()[0]
    if enc.upper() not in ("UTF8", "UTF-8"):
        raise PublishError(
            f"database {conn.info.dbname} uses encoding {enc}; publish into a "
            "database created WITH ENCODING 'UTF8'"
        )
    (can_create, unicode_lower) = conn.execute(
        "SELECT has_database_privilege(current_database(), 'CREATE'), lower('ÀÉ') = 'àé'"
    ).fetchone()
    if not can_create:
        raise PublishError(
            f"role {conn.info.user} may not create schemas in database {conn.info.dbname}; ask "
            f"an admin to run: GRANT CREATE ON DATABASE {quote_ident(conn.info.dbname)} TO "
            f"{quote_ident(conn.info.user)}; (or publish as the database owner)"
        )
    notes = []
    if not unicode_lower:
        notes.append(
            f"database {conn.info.dbname} has a locale whose lower() leaves accented letters "
            "alone (LC_CTYPE C?): searches for them may differ from DuckDB's; publish into a "
            "database with a UTF-8 locale (e.g. en_US.UTF-8 or C.UTF-8) to fix that"
        )
    return notes


def _ensure_trgm(conn: psycopg.Connection) -> str:
    """Make sure pg_trgm is installed; return its schema-qualified GIN operator class."""

    def installed() -> str | None:
        row = conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        ).fetchone()
        return row[0] if row else None

    schema = installed()
    if schema is None:
        attempts = [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {META_SCHEMA}",
        ]
        for i, stmt in enumerate(attempts):
            try:
                conn.execute(stmt)
                break
            except (pgerr.UndefinedFile, pgerr.FeatureNotSupported) as exc:
                raise PublishError(
                    f"the pg_trgm extension is not available on the PostgreSQL server "
                    f"({first_line(exc)}); install the contrib package there (Debian/Ubuntu: "
                    "apt-get install postgresql-contrib) or ask your admin to, then publish again"
                ) from None
            except pgerr.InsufficientPrivilege as exc:
                # PG15+ lets only the owner create in `public`: retry in our own schema.
                if i == len(attempts) - 1 or "extension" in str(exc):
                    raise PublishError(
                        f"role {conn.info.user} may not create the pg_trgm extension "
                        f"({first_line(exc)}); ask an admin to run CREATE EXTENSION pg_trgm; "
                        f"in database {conn.info.dbname}"
                    ) from None
        schema = installed()
    assert schema is not None
    return f"{schema}.gin_trgm_ops"


# --- reading the DuckDB build --------------------------------------------------------------


@dataclass
class _TablePlan:
    name: str
    table: Any  # crmpipe.model.Table; None for a mart (published as DuckDB has it)
    columns: list[PgColumn]
    duck_types: dict[str, str]
    exists: bool
    rows: int
    source: str = ""  # the DuckDB relation to copy from

    @property
    def is_mart(self) -> bool:
        return self.table is None


#: A search field as published: (name, kind, position, match column, lookup table, lookup
#: column, lookup key, lookup field) — the lookup columns tell the PostgreSQL dialect where a
#: field is searched when not in the view itself (crmpipe.search.compiler.Lookup).
FieldRow = tuple[str, str, int, str | None, str | None, str | None, str | None, str | None]


@dataclass
class _Publication:
    """What a publish will copy and build, decided from the warehouse before PostgreSQL is
    touched: the tables, whether the contact search view is built, its fields."""

    plans: dict[str, _TablePlan]
    search: bool  # build contact_search (the warehouse has contacts)
    systems: list[str]
    fields: list[FieldRow]
    build: str | None  # the warehouse build's fingerprint (meta.build_state), if recorded
    vocabulary: tuple[str, ...] = ()  # text fields searched through their vocabulary

    @property
    def model_tables(self) -> dict[str, Any]:
        return {n: p.table for n, p in self.plans.items() if not p.is_mart}


def _duck_columns(duck: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    rows = duck.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return {n: t for n, t in rows}


def _table_rows(duck: duckdb.DuckDBPyConnection, schema: str, name: str) -> int:
    return int(duck.execute(f"SELECT count(*) FROM {schema}.{quote_ident(name)}").fetchone()[0])


def _plan(duck: duckdb.DuckDBPyConnection, cfg: Config) -> _Publication:
    """What to publish, checked against the warehouse before PostgreSQL is touched.

    The public-sector tables and the contact search view when the warehouse has contacts (the
    four tables always, empty when a source is missing, since the view reads them all); every
    other canonical table that has rows (the sales funnel's users, deals, ...); and every table
    of the `marts` schema, as a plain table beside them.
    """
    tables = cfg.tables()
    search = bool(_duck_columns(duck, "core", "contacts"))
    names = [
        n
        for n in tables
        if (search and n in PUBLISHED_TABLES)
        or (_duck_columns(duck, "core", n) and _table_rows(duck, "core", n) > 0)
    ]
    plans: dict[str, _TablePlan] = {}
    for name in names:
        tbl = tables[name]
        types = _duck_columns(duck, "core", name)
        exists = bool(types)
        cols = ddl.table_columns(tbl)
        if exists:
            missing = [
                c.name for c in cols[: len(cols) - len(ddl.LINEAGE_KEPT)] if c.name not in types
            ]
            if missing:
                raise PublishError(
                    f"core.{name} in the warehouse has no column {missing[0]!r} (crmpipe.yml "
                    "declares it); rebuild with 'crmpipe run --force', then publish"
                )
        rows = 0
        if exists:
            rows = _table_rows(duck, "core", name)
            _check_keys(duck, tbl)
        source = f"core.{quote_ident(name)}"
        plans[name] = _TablePlan(name, tbl, cols, types, exists, rows, source)
    for name in mart_tables(duck):
        if name in plans or name in ("search_fields", "contact_search"):
            raise PublishError(
                f"marts.{name} has the name of a published table; rename the mart (its SQL "
                "file) so both can be published"
            )
        types = _duck_columns(duck, "marts", name)
        cols = [PgColumn(c, t, ddl.mart_pg_type(t)) for c, t in types.items()]
        source = f"marts.{quote_ident(name)}"
        plans[name] = _TablePlan(
            name, None, cols, types, True, _table_rows(duck, "marts", name), source
        )
    if not plans:
        raise PublishError(
            "the warehouse has nothing to publish (no core table has rows); run 'crmpipe run' first"
        )
    build = _build_fingerprint(duck)
    if not search:
        return _Publication(plans, False, [], [], build)
    systems = _systems(duck) if plans["external_ids"].exists else []
    vocabulary = _vocabulary_fields(duck, cfg)
    view = ddl.search_view("s", cfg, systems, vocabulary)
    fields: list[FieldRow] = [
        (n, k, i, m, *view.lookups.get(n, (None, None, None, None)))
        for i, (n, k, m) in enumerate(view.fields)
    ]
    stored = _duck_columns(duck, "meta", "search_fields")
    rows = (
        duck.execute(
            "SELECT name, kind, position, "
            + ("match_column" if "match_column" in stored else "NULL")
            + " FROM meta.search_fields ORDER BY position"
        ).fetchall()
        if stored
        else []
    )
    if rows and [tuple(r) for r in rows] != [f[:4] for f in fields]:
        if "match_column" not in stored:  # an older warehouse: compare what it records
            same = [(r[0], r[1]) for r in rows] == [(n, k) for n, k, _ in view.fields]
        else:
            same = False
        if not same:
            diff = sorted({r[0] for r in rows} ^ {f[0] for f in fields}) or ["(order or kinds)"]
            raise PublishError(
                f"the warehouse's search table doesn't match crmpipe.yml (fields differ: "
                f"{', '.join(diff[:5])}); rebuild with 'crmpipe run --force', then publish"
            )
    return _Publication(plans, True, systems, fields, build, vocabulary)


def _vocabulary_fields(duck: duckdb.DuckDBPyConnection, cfg: Config) -> tuple[str, ...]:
    """The indexed contact text fields (ddl.SEARCH_TRIGRAM) with few enough distinct values
    to be searched through their vocabulary (ddl.VOCABULARY_MAX_RATIO), measured on the
    warehouse's contacts."""
    contacts = cfg.tables()["contacts"]
    names = [
        c.name
        for c in contacts.all_columns
        if c.name in ddl.SEARCH_TRIGRAM and ddl.SEARCH_KINDS[c.role] == "text"
    ]
    if not names or not _duck_columns(duck, "core", "contacts"):
        return ()
    stats = duck.execute(
        "SELECT "
        + ", ".join(
            f"approx_count_distinct({quote_ident(n)}), count({quote_ident(n)})" for n in names
        )
        + " FROM core.contacts"
    ).fetchone()
    return tuple(
        n
        for i, n in enumerate(names)
        if stats[2 * i + 1] and stats[2 * i] <= ddl.VOCABULARY_MAX_RATIO * stats[2 * i + 1]
    )


def _build_fingerprint(duck: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint `crmpipe run` recorded for the build (files + project file + version),
    kept in the registry so a run that changed nothing needn't publish again."""
    if not _duck_columns(duck, "meta", "build_state"):
        return None
    row = duck.execute("SELECT value FROM meta.build_state WHERE key = 'fingerprint'").fetchone()
    return str(row[0]) if row else None


def _check_keys(duck: duckdb.DuckDBPyConnection, tbl: Any) -> None:
    """Fail before PostgreSQL is touched when a key is NULL or repeated (the primary key would
    fail after minutes of index builds otherwise)."""
    keys = ", ".join(quote_ident(k) for k in tbl.key)
    nulls = " OR ".join(f"{quote_ident(k)} IS NULL" for k in tbl.key)
    (dups, null_keys) = duck.execute(
        f"SELECT (SELECT count(*) FROM (SELECT 1 FROM core.{quote_ident(tbl.name)} "
        f"GROUP BY {keys} HAVING count(*) > 1)), "
        f"(SELECT count(*) FROM core.{quote_ident(tbl.name)} WHERE {nulls})"
    ).fetchone()
    if dups or null_keys:
        what = f"{dups:,} repeated" if dups else f"{null_keys:,} missing"
        raise PublishError(
            f"core.{tbl.name} has {what} keys ({', '.join(tbl.key)}); rebuild the warehouse with "
            "'crmpipe run --force', then publish (nothing was changed in PostgreSQL)"
        )


def _payload(col: pa.Array) -> memoryview | bytes:
    """The bytes of a batch of COPY lines, straight from the Arrow string buffer (no copy)."""
    if len(col) == 0:
        return b""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        fmt, width = ("<i", 4) if pa.types.is_string(col.type) else ("<q", 8)
        offsets, data = col.buffers()[1], col.buffers()[2]
        start = struct.unpack_from(fmt, offsets, width * col.offset)[0]
        end = struct.unpack_from(fmt, offsets, width * (col.offset + len(col)))[0]
        return memoryview(data)[start:end]
    return "".join(col.to_pylist()).encode()  # e.g. string_view: rare, slower path


# --- parallel jobs on several connections --------------------------------------------------


@dataclass
class _Job:
    step: str
    target: str
    run: Callable[[psycopg.Connection], int]
    after: frozenset[str] = frozenset()
    priority: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.step} {self.target}"


class _Steps:
    """Times steps and tells the reporter (always from the calling thread)."""

    def __init__(self, reporter: Reporter | None) -> None:
        self.reporter = reporter
        self.timings: list[tuple[str, float]] = []

    def start(self, step: str, target: str) -> None:
        if self.reporter is not None:
            self.reporter.start(step, target)

    def end(self, step: str, target: str, seconds: float, rows: int = 0, detail: str = "") -> None:
        self.timings.append((f"{step} {target}", seconds))
        if self.reporter is not None:
            self.reporter.end(step, target, rows, seconds, detail)

    @contextmanager
    def step(self, step: str, target: str) -> Iterator[dict[str, Any]]:
        self.start(step, target)
        info: dict[str, Any] = {"rows": 0, "detail": ""}
        t0 = time.perf_counter()
        yield info
        self.end(step, target, time.perf_counter() - t0, info["rows"], info["detail"])


def _run_jobs(conns: list[psycopg.Connection], jobs: list[_Job], steps: _Steps) -> dict[str, int]:
    """Run jobs on the connections, each as soon as its dependencies are done, longest first.

    On the first failure (or Ctrl-C) the statements still running are cancelled, and the
    failure is raised.
    """
    pending = {j.name: j for j in jobs}
    unknown = {d for j in jobs for d in j.after} - set(pending)
    if unknown:
        raise AssertionError(f"jobs depend on unknown jobs: {sorted(unknown)}")
    done: set[str] = set()
    results: dict[str, int] = {}
    free = list(conns)
    running: dict[Future[int], tuple[_Job, psycopg.Connection, float]] = {}

    def cancel_all() -> None:
        for _, conn, _ in running.values():
            with suppress(Exception):
                conn.cancel_safe(timeout=5)
        wait(running)

    with ThreadPoolExecutor(max_workers=len(conns), thread_name_prefix="crmpipe-pg") as pool:
        try:
            while pending or running:
                ready = sorted(
                    (j for j in pending.values() if j.after <= done), key=lambda j: -j.priority
                )
                while free and ready:
                    job = ready.pop(0)
                    del pending[job.name]
                    conn = free.pop()
                    steps.start(job.step, job.target)
                    running[pool.submit(job.run, conn)] = (job, conn, time.perf_counter())
                if not running:
                    raise AssertionError(f"jobs wait on each other: {sorted(pending)}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job, conn, t0 = running.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        cancel_all()
                        raise exc
                    results[job.name] = rows = int(fut.result() or 0)
                    steps.end(job.step, job.target, time.perf_counter() - t0, rows)
                    done.add(job.name)
                    free.append(conn)
        except BaseException:
            cancel_all()
            raise
    return results


# --- the registry ----------------------------------------------------------------------------


def _registry_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", [f"{META_SCHEMA}.versions"]).fetchone()
    return row is not None and row[0] is not None


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name]).fetchone() is not None
    )


def _serving(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        f"SELECT version FROM {META_SCHEMA}.versions WHERE status = 'serving' "
        "ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else None


@contextmanager
def _publish_lock(conn: psycopg.Connection) -> Iterator[None]:
    """One publish or rollback at a time per database (a session advisory lock: released
    when the session ends, so a killed publisher never leaves it behind)."""
    (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY]).fetchone()
    if not got:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objid = %s::bigint & 4294967295 AND classid = %s::bigint >> 32 LIMIT 1",
            [_LOCK_KEY, _LOCK_KEY],
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
            conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def _drop_schema(conn: psycopg.Connection, name: str) -> bool:
    """DROP SCHEMA ... CASCADE, giving up (False) when a reader still holds a lock in it."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
        return True
    except (pgerr.LockNotAvailable, pgerr.DeadlockDetected):
        return False


def _clean_leftovers(conn: psycopg.Connection) -> list[str]:
    """Drop what killed or failed publishes left behind (their registry rows say so)."""
    rows = conn.execute(
        f"SELECT version, schema_name, status FROM {META_SCHEMA}.versions "
        "WHERE status IN ('building', 'failed') ORDER BY version"
    ).fetchall()
    dropped = []
    for version, schema, status in rows:
        if _schema_exists(conn, schema) and schema != SERVING_SCHEMA:
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


def _next_version(conn: psycopg.Connection) -> int:
    (registered,) = conn.execute(
        f"SELECT coalesce(max(version), 0) FROM {META_SCHEMA}.versions"
    ).fetchone()
    (existing,) = conn.execute(
        "SELECT coalesce(max(substr(nspname, %s)::int), 0) FROM pg_namespace WHERE nspname ~ %s",
        [len(VERSION_PREFIX) + 1, f"^{VERSION_PREFIX}[0-9]+$"],
    ).fetchone()
    return max(int(registered), int(existing)) + 1


def _retire_old(conn: psycopg.Connection, keep: int) -> tuple[list[str], list[str]]:
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


def _copy_grants(conn: psycopg.Connection, source: str, target: str) -> int:
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


def _swap_in(
    conn: psycopg.Connection,
    version: int,
    old: int | None,
    *,
    old_status: str,
    updates: dict[str, Any],
) -> None:
    """The one transaction readers notice: `crmpipe` → crmpipe_v<old>, crmpipe_v<new> →
    `crmpipe`, and the registry, all or nothing. Renames take no lock on the tables, so
    this neither waits for readers nor blocks them."""
    new_schema = f"{VERSION_PREFIX}{version}"
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        conn.execute(f"SELECT 1 FROM {META_SCHEMA}.versions FOR UPDATE")
        if _schema_exists(conn, SERVING_SCHEMA):
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


# --- publish -----------------------------------------------------------------------------------


def _jobs_count() -> int:
    try:
        return max(1, int(os.environ.get("CRMPIPE_PG_JOBS", DEFAULT_JOBS)))
    except ValueError:
        return DEFAULT_JOBS


def _copy_job(
    duck: duckdb.DuckDBPyConnection, schema: str, plan: _TablePlan
) -> Callable[[psycopg.Connection], int]:
    """CREATE TABLE + COPY FREEZE in one transaction (FREEZE needs the table created in it),
    streaming DuckDB's rows as COPY text lines in Arrow batches."""

    def run(conn: psycopg.Connection) -> int:
        cur = duck.cursor()
        try:
            with conn.transaction():
                conn.execute(ddl.create_table_of(schema, plan.name, plan.columns))
                if not plan.exists:
                    return 0
                query = ddl.copy_query(
                    plan.source, plan.columns, plan.duck_types, ddl.COPY_ORDER.get(plan.name)
                )
                stmt = ddl.copy_statement(schema, plan.name, [c.name for c in plan.columns])
                pg_cur = conn.cursor()
                with pg_cur.copy(stmt, writer=QueuedLibpqWriter(pg_cur)) as copy:
                    for batch in cur.sql(query).to_arrow_reader(BATCH_ROWS):
                        data = _payload(batch.column(0))
                        if len(data):
                            copy.write(data)
                return pg_cur.rowcount
        finally:
            cur.close()

    return run


def _fields_job(schema: str, fields: list[FieldRow]) -> Callable[[psycopg.Connection], int]:
    """The search field registry (crmpipe.search reads it), with each field's lookup."""

    def run(conn: psycopg.Connection) -> int:
        with conn.transaction():
            conn.execute(
                f"CREATE TABLE {qualified(schema, 'search_fields')} "
                "(name text PRIMARY KEY, kind text NOT NULL, position integer NOT NULL, "
                "match_column text, lookup_table text, lookup_column text, lookup_key text, "
                "lookup_field text)"
            )
            with conn.cursor().copy(
                f"COPY {qualified(schema, 'search_fields')} (name, kind, position, "
                "match_column, lookup_table, lookup_column, lookup_key, lookup_field) FROM STDIN"
            ) as copy:
                for row in fields:
                    copy.write_row(row)
        return len(fields)

    return run


def _sql_job(*statements: str) -> Callable[[psycopg.Connection], int]:
    def run(conn: psycopg.Connection) -> int:
        for s in statements:
            conn.execute(s)
        return 0

    return run


def _index_job(idx: ddl.IndexSpec) -> Callable[[psycopg.Connection], int]:
    mem = (
        GIN_MAINTENANCE_WORK_MEM
        if idx.kind in GIN_KINDS
        else BUILD_SETTINGS["maintenance_work_mem"]
    )
    return _sql_job(f"SET maintenance_work_mem = '{mem}'", idx.sql)


def _constraints_job(
    schema: str, plans: dict[str, _TablePlan], orphans: dict[str, int]
) -> Callable[[psycopg.Connection], int]:
    """Primary keys from the unique indexes, then foreign keys: added NOT VALID, validated
    when no row is orphaned, otherwise left NOT VALID with the orphans counted."""
    models = [p for p in plans.values() if not p.is_mart]
    tables = {p.name: p.table for p in models}

    def run(conn: psycopg.Connection) -> int:
        for p in models:
            conn.execute(ddl.add_primary_key(schema, p.table))
        for p in models:
            for fk in ddl.foreign_keys(p.table, tables):
                conn.execute(ddl.add_foreign_key(schema, fk))
                try:
                    with conn.transaction():
                        conn.execute(
                            f"ALTER TABLE {qualified(schema, fk.table)} "
                            f"VALIDATE CONSTRAINT {quote_ident(fk.name)}"
                        )
                except pgerr.ForeignKeyViolation:
                    (n,) = conn.execute(ddl.orphan_count(schema, fk)).fetchone()
                    orphans[f"{fk.table}.{fk.column}"] = int(n)
        return 0

    return run


def _cost(plan_rows: int, kind: str) -> float:
    # Keys first (cheap, and a failure should come before the long builds), then longest first.
    weight = {"trigram": 6.0, "fulltext": 6.0, "view": 8.0, "primary key": 100.0, "unique": 1.0}
    return plan_rows * weight.get(kind, 1.0)


def publish(
    duck_con: duckdb.DuckDBPyConnection,
    dsn: str,
    *,
    cfg: Config,
    keep_versions: int | None = None,
    reporter: Reporter | None = None,
    table_text_indexes: bool = False,
) -> PublishResult:
    """Publish the warehouse's core tables and search view to PostgreSQL at `dsn`.

    Builds version N in schema crmpipe_v<N>, then swaps it in as `crmpipe`; keeps the
    `keep_versions` previous versions (default: crmpipe.yml's publish.keep_versions) for
    rollback and drops older ones. Raises PublishError (one line) on any failure, leaving the
    version that was serving in place. Reads DuckDB through cursors, so it sees the committed
    state of the warehouse. `table_text_indexes=True` adds trigram indexes on contacts.title
    and contacts.emails, for SQL written against the normalized table; searches don't use them
    (they have the view's), and at 4.5M contacts they cost ~70 s of build time (docs/postgres.md),
    so they are left out unless asked for.
    """
    keep = cfg.publish.keep_versions if keep_versions is None else keep_versions
    if keep < 0:
        raise PublishError(f"keep_versions must be 0 or more, not {keep}")
    t_start = time.perf_counter()
    steps = _Steps(reporter)
    duck = duck_con.cursor()  # every read through cursors: one committed state of the warehouse
    try:
        return _publish(duck, dsn, cfg, keep, steps, t_start, table_text_indexes)
    finally:
        duck.close()


def _publish(
    duck: duckdb.DuckDBPyConnection,
    dsn: str,
    cfg: Config,
    keep: int,
    steps: _Steps,
    t_start: float,
    contact_text: bool,
) -> PublishResult:
    try:
        pub = _plan(duck, cfg)
    except duckdb.Error as exc:
        raise PublishError(
            f"cannot read the warehouse: {first_line(exc)}; run 'crmpipe run' first"
        ) from None
    admin = _connect(dsn)
    workers: list[psycopg.Connection] = []
    try:
        with _translated(admin, "preparing the publish"):
            warnings = _preflight(admin)
            _apply_settings(
                admin,
                {
                    k: v
                    for k, v in BUILD_SETTINGS.items()
                    if k in ("standard_conforming_strings", "client_encoding")
                },
            )
        with _translated(admin, "preparing the publish"), _publish_lock(admin):
            with steps.step("prepare", "registry") as info:
                admin.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
                admin.execute(_REGISTRY_DDL)
                admin.execute(_REGISTRY_UPGRADE)
                trgm_ops = _ensure_trgm(admin)
                cleaned = _clean_leftovers(admin)
                old = _serving(admin)
                if old is None and _schema_exists(admin, SERVING_SCHEMA):
                    raise PublishError(
                        f"schema {SERVING_SCHEMA} exists in database {admin.info.dbname} but was "
                        "not published by crmpipe; rename or drop it, or publish to another "
                        "database"
                    )
                version = _next_version(admin)
                admin.execute(
                    f"INSERT INTO {META_SCHEMA}.versions (version, schema_name, status, build)"
                    " VALUES (%s, %s, 'building', %s)",
                    [version, f"{VERSION_PREFIX}{version}", pub.build],
                )
                info["detail"] = f"version {version}" + (
                    f", dropped leftovers {', '.join(cleaned)}" if cleaned else ""
                )
            try:
                result = _build_and_swap(
                    duck,
                    dsn,
                    cfg,
                    admin,
                    workers,
                    steps,
                    pub,
                    version,
                    old,
                    trgm_ops,
                    keep,
                    t_start,
                    contact_text,
                )
            except BaseException as exc:
                _abandon(admin, version, exc)
                raise
        result.seconds = time.perf_counter() - t_start
        result.notes = warnings + result.notes
        return result
    finally:
        for conn in [*workers, admin]:
            with suppress(Exception):
                conn.close()


def _abandon(admin: psycopg.Connection, version: int, exc: BaseException) -> None:
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


def _build_and_swap(
    duck: duckdb.DuckDBPyConnection,
    dsn: str,
    cfg: Config,
    admin: psycopg.Connection,
    workers: list[psycopg.Connection],
    steps: _Steps,
    pub: _Publication,
    version: int,
    old: int | None,
    trgm_ops: str,
    keep: int,
    t_start: float,
    contact_text: bool = True,
) -> PublishResult:
    """Load, index and verify version N in crmpipe_v<N>, swap it in, drop old versions."""
    schema = f"{VERSION_PREFIX}{version}"
    plans = pub.plans
    view = ddl.search_view(schema, cfg, pub.systems, pub.vocabulary) if pub.search else None
    with _translated(admin, "opening build connections"):
        for _ in range(_jobs_count()):
            conn = _connect(dsn)
            _apply_settings(conn, BUILD_SETTINGS)
            workers.append(conn)
        _apply_settings(admin, BUILD_SETTINGS)
        admin.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        admin.execute(ddl.list_text_function(schema))

    # 1. COPY every table (largest first, in parallel), then check the counts.
    t0 = time.perf_counter()
    copy_jobs = [
        _Job("copy", name, _copy_job(duck, schema, p), priority=p.rows) for name, p in plans.items()
    ]
    if view is not None:
        copy_jobs.append(
            _Job("copy", "search_fields", _fields_job(schema, pub.fields), priority=-1)
        )
    with _translated(admin, "copying rows into PostgreSQL"):
        copied = _run_jobs(workers, copy_jobs, steps)
    steps.timings.append(("copy (all tables, wall)", time.perf_counter() - t0))
    for name, p in plans.items():
        got = copied[f"copy {name}"]
        if got != p.rows:
            raise PublishError(
                f"copied {got:,} rows of {p.source} but the warehouse has "
                f"{p.rows:,}; publish again (the previous version still serves)"
            )

    # 2. Indexes, the search view, keys: in parallel where their locks allow.
    t0 = time.perf_counter()
    tables = pub.model_tables
    build: list[_Job] = []
    table_index_jobs: list[str] = []
    for p in plans.values():
        if p.is_mart:  # marts are small report tables, read whole: no keys, no indexes
            continue
        for idx in ddl.table_indexes(schema, p.table, tables, trgm_ops, contact_text=contact_text):
            job = _Job("index", idx.name, _index_job(idx), priority=_cost(p.rows, idx.kind))
            build.append(job)
            table_index_jobs.append(job.name)
    view_jobs: list[str] = []
    if view is not None:
        view_job = _Job(
            "view",
            "contact_search",
            _sql_job(
                ddl.create_search_view(schema, view),
                f"REFRESH MATERIALIZED VIEW {qualified(schema, 'contact_search')}",
            ),
            priority=_cost(plans["contacts"].rows, "view") + 1,
        )
        build.append(view_job)
        view_jobs.append(view_job.name)
        view_index_jobs = []
        for idx in ddl.search_indexes(schema, view, trgm_ops):
            job = _Job(
                "index",
                idx.name,
                _index_job(idx),
                after=frozenset({view_job.name}),
                priority=_cost(plans["contacts"].rows, idx.kind),
            )
            build.append(job)
            view_index_jobs.append(job.name)
        # Statistics, and the visibility map: a search's first statement counts through
        # index-only scans (the covering B-trees), which read the view's rows too until its
        # pages are marked all-visible; autovacuum would do it a minute after the swap, and
        # the first searches would be twice as slow meanwhile. (Its rows are frozen already by
        # the REFRESH; no index needs cleaning.)
        build.append(
            _Job(
                "vacuum",
                "contact_search",
                _sql_job(
                    f"VACUUM (ANALYZE, INDEX_CLEANUP OFF) {qualified(schema, 'contact_search')}"
                ),
                after=frozenset([*view_index_jobs, view_job.name]),
            )
        )
        if view.values:
            values_job = _Job(
                "values",
                ddl.SEARCH_VALUES,
                _sql_job(
                    *ddl.create_search_values(schema, view),
                    f"SET maintenance_work_mem = '{GIN_MAINTENANCE_WORK_MEM}'",
                    *ddl.search_values_trigram(schema, trgm_ops),
                ),
                priority=_cost(plans["techstacks"].rows + plans["contacts"].rows // 20, "view"),
            )
            build.append(values_job)
            view_jobs.append(values_job.name)
    orphans: dict[str, int] = {}
    # Keys take locks that conflict with index builds on the same tables (and the view's
    # build reads them): after those.
    keys_job = _Job(
        "constraints",
        "keys",
        _constraints_job(schema, plans, orphans),
        after=frozenset(table_index_jobs + view_jobs),
    )
    build.append(keys_job)
    # Statistics for the planner (the tables' rows are frozen and all-visible from COPY FREEZE).
    build.append(
        _Job(
            "analyze",
            "tables",
            _sql_job("ANALYZE " + ", ".join(qualified(schema, n) for n in plans)),
            after=frozenset({keys_job.name}),
        )
    )
    with _translated(admin, "building indexes and the search view"):
        _run_jobs(workers, build, steps)
    steps.timings.append(("build (indexes, view, keys, wall)", time.perf_counter() - t0))

    # 3. Verify, carry the grants over, swap.
    with _translated(admin, "verifying the new version"), steps.step("verify", schema) as info:
        counts = {}
        for name, p in plans.items():
            (n,) = admin.execute(f"SELECT count(*) FROM {qualified(schema, name)}").fetchone()
            counts[name] = int(n)
            if n != p.rows:
                raise PublishError(
                    f"{schema}.{name} has {n:,} rows but {p.source} has {p.rows:,}; publish again"
                )
        if view is not None:
            (n,) = admin.execute(
                f"SELECT count(*) FROM {qualified(schema, 'contact_search')}"
            ).fetchone()
            counts["contact_search"] = int(n)
            if n != plans["contacts"].rows:
                raise PublishError(
                    f"contact_search has {n:,} rows for {plans['contacts'].rows:,} "
                    "contacts; publish again"
                )
        granted = _copy_grants(admin, SERVING_SCHEMA, schema) if old is not None else 0
        admin.execute(
            f"COMMENT ON SCHEMA {quote_ident(schema)} IS "
            f"{sql_str(f'crmpipe published version {version}')}"
        )
        info["rows"] = sum(counts.values())
        info["detail"] = f"{granted} grants carried over" if granted else ""
    with _translated(admin, "swapping the new version in"), steps.step("swap", SERVING_SCHEMA):
        _swap_in(
            admin,
            version,
            old,
            old_status="previous",
            updates={
                "rows": json.dumps(counts),
                "orphans": json.dumps(orphans),
                "seconds": time.perf_counter() - t_start,
            },
        )
    # 4. Old versions: the new one serves whatever happens from here on.
    dropped: list[str] = []
    notes: list[str] = []
    with suppress(psycopg.Error), steps.step("drop", "old versions") as info:
        dropped, notes = _retire_old(admin, keep)
        info["detail"] = ", ".join(dropped)
    for key, n in orphans.items():
        notes.append(f"{key}: {n:,} rows name no entity; the foreign key is kept NOT VALID")
    return PublishResult(
        schema=SERVING_SCHEMA,
        version=version,
        tables=counts,
        steps=steps.timings,
        seconds=0.0,
        orphans=orphans,
        dropped=dropped,
        notes=notes,
    )


def resolve_dsn(cfg: Config | None, dsn: str | None = None) -> str | None:
    """The PostgreSQL DSN to use: `dsn` (a `--pg` option) if given, else crmpipe.yml's
    `publish.postgres`, else the CRMPIPE_PG_DSN environment variable; None when none is set."""
    configured = cfg.publish.postgres if cfg is not None else None
    for candidate in (dsn, configured, os.environ.get(DSN_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return None


#: Statement timeout of search and shell sessions (`connect_pg`): no query a person waits for
#: should run longer; a publish's own sessions set theirs to 0.
SEARCH_STATEMENT_TIMEOUT = "30s"


def connect_pg(
    dsn: str,
    *,
    app: str = "crmpipe search",
    statement_timeout: str | None = SEARCH_STATEMENT_TIMEOUT,
    read_only: bool = True,
) -> psycopg.Connection:
    """An autocommit connection for reading what was published (search, the shell).

    Every transaction is read-only (`default_transaction_read_only`), so even SQL typed into
    the shell can't change anything, and each statement stops at `statement_timeout`. Raises
    PublishError (one line, naming the server, never the password) when it can't connect.
    """
    conn = _connect(dsn, app=app)
    try:
        with _translated(conn, "opening a session", harmless=False):
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
            # A search's statements run in milliseconds: JIT compiling one whose estimated cost
            # crosses jit_above_cost took 8 ms of a 35 ms search at 4.5M contacts, and parallel
            # workers (started per statement, each building its own hash tables) tripled a
            # 10 ms one.
            conn.execute("SET jit = off")
            conn.execute("SET max_parallel_workers_per_gather = 0")
            if statement_timeout:
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, false)", [statement_timeout]
                )
    except BaseException:
        conn.close()
        raise
    return conn


def serving_build(dsn: str) -> str | None:
    """The warehouse build fingerprint the serving version was published from (None when
    nothing serves, or it was published before builds were recorded)."""
    conn = _connect(dsn, app="crmpipe versions")
    try:
        with _translated(conn, "reading the version registry", harmless=False):
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


def publish_build(
    cfg: Config,
    dsn: str | None = None,
    reporter: Reporter | None = None,
    *,
    only_if_changed: bool = False,
    keep_versions: int | None = None,
    table_text_indexes: bool = False,
) -> PublishResult | None:
    """Publish the project's current warehouse build to PostgreSQL (`crmpipe publish`, and
    `crmpipe run` when a DSN is configured).

    The DSN is `dsn`, else `publish.postgres`, else CRMPIPE_PG_DSN (`resolve_dsn`). The
    warehouse is opened read-only, so this never changes it. With `only_if_changed` (what
    `crmpipe run` uses), nothing is done and None is returned when the serving version was
    published from this very build: re-running with the same files changes nothing.
    """
    target = resolve_dsn(cfg, dsn)
    if target is None:
        raise PublishError(
            "no PostgreSQL DSN: set publish.postgres in crmpipe.yml, pass --pg DSN or set "
            f"{DSN_ENV}, e.g. postgresql://USER@HOST:5432/DBNAME"
        )
    from crmpipe.warehouse.connection import connect

    con = connect(cfg.warehouse_path, read_only=True)
    try:
        if only_if_changed:
            build = _build_fingerprint(con)
            if build is not None and build == serving_build(target):
                return None
        return publish(
            con,
            target,
            cfg=cfg,
            keep_versions=keep_versions,
            reporter=reporter,
            table_text_indexes=table_text_indexes,
        )
    finally:
        con.close()


# --- rollback and the registry ---------------------------------------------------------------


def rollback(dsn: str) -> str:
    """Serve the version that served before the current one again; return its name
    (crmpipe_v<N>: the version now serving as schema `crmpipe`).

    The current version is kept (status rolled_back) until the next publish drops it.
    """
    conn = _connect(dsn, app="crmpipe rollback")
    try:
        with _translated(conn, "rolling back"), _publish_lock(conn):
            if not _registry_exists(conn):
                raise PublishError(
                    f"nothing has been published to database {conn.info.dbname} "
                    "yet; run 'crmpipe publish' first"
                )
            current = _serving(conn)
            if current is None:
                raise PublishError(
                    f"no version is serving in database {conn.info.dbname}; run 'crmpipe publish'"
                )
            rows = conn.execute(
                f"SELECT version, schema_name FROM {META_SCHEMA}.versions WHERE status = "
                "'previous' AND version < %s ORDER BY version DESC",
                [current],
            ).fetchall()
            target = next((v for v, s in rows if _schema_exists(conn, s)), None)
            if target is None:
                raise PublishError(
                    f"no previous version is kept to roll back to (version {current} serves); "
                    "publish with keep_versions of 1 or more to keep one"
                )
            _swap_in(conn, target, current, old_status="rolled_back", updates={})
        return f"{VERSION_PREFIX}{target}"
    finally:
        conn.close()


def published_versions(dsn: str) -> list[VersionInfo]:
    """Every version in the registry, newest first (empty when nothing was published)."""
    conn = _connect(dsn, app="crmpipe versions")
    try:
        with _translated(conn, "reading the version registry", harmless=False):
            if not _registry_exists(conn):
                return []
            rows = conn.execute(
                "SELECT version, schema_name, status, created_at, published_at, retired_at, "
                f"rows, orphans, seconds, message FROM {META_SCHEMA}.versions "
                "ORDER BY version DESC"
            ).fetchall()
        return [VersionInfo(*r) for r in rows]
    finally:
        conn.close()
