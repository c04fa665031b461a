"""The publish's one error type and the translation of PostgreSQL errors into it.

Every failure of a publish or rollback reaches the user as one `PublishError` line saying what
to do, and whether the version that was serving still serves (`translated`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pgerr

from crmpipe.errors import CrmpipeError, first_line
from crmpipe.sqltext import quote_ident


class PublishError(CrmpipeError):
    """A publish or rollback that can't go on, as one line that says what to do."""


@contextmanager
def translated(
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
