"""The publish's PostgreSQL sessions: opening one (`connect`), the settings its build
connections run with (`BUILD_SETTINGS`), and what the server must offer before anything is
changed (`preflight`: version, encoding, the CREATE privilege; `ensure_trgm`: pg_trgm).
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerr

from crmpipe.errors import first_line
from crmpipe.publish.errors import PublishError
from crmpipe.serve import StoreError, open_connection
from crmpipe.sqltext import quote_ident, sql_str

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


def connect(dsn: str, *, app: str = "crmpipe publish") -> psycopg.Connection:
    """An autocommit connection, or PublishError naming the server (never the password)."""
    try:
        return open_connection(dsn, app=app)
    except StoreError as exc:
        raise PublishError(str(exc)) from None


def apply_settings(conn: psycopg.Connection, settings: dict[str, str]) -> None:
    """SET each of `settings` for the session (and the lost-client check where supported)."""
    for name, value in settings.items():
        conn.execute(f"SET {name} = {sql_str(value)}")
    if conn.info.server_version >= 140000:
        # A killed publisher's backends notice the lost client within seconds instead of
        # finishing a long index build while still holding the publish lock.
        conn.execute("SET client_connection_check_interval = '2s'")


def preflight(conn: psycopg.Connection) -> list[str]:
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


def ensure_trgm(conn: psycopg.Connection, home: str) -> str:
    """Make sure pg_trgm is installed (in `home` where the `public` schema is closed to this
    role); return its schema-qualified GIN operator class."""

    def installed() -> str | None:
        row = conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        ).fetchone()
        return row[0] if row else None

    schema = installed()
    if schema is None:
        attempts = [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {home}",
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
