"""A PostgreSQL statement walked in its own order, given up after a timeout.

A page in key order (or a date range's page, month by month) is cheapest read by walking an
index in that order and stopping at the page's last row; the planner, misjudging how many rows
a condition keeps, may instead collect every match to sort them. With sorting off for the
statement it walks; the timeout bounds a walk whose matches lie far along the order, after
which the caller reads the page another way (crmpipe.search.backends.PostgresBackend).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def walk(db: Any, sql: str, params: Sequence[Any], timeout: str) -> list[tuple] | None:
    """The rows of `sql` on `db` (a PostgresBackend) with sorting off, or None when it was
    cancelled at `timeout` (a PostgreSQL interval, e.g. `500ms`). The settings are put back
    and, inside a transaction, a savepoint keeps a cancelled statement from aborting it."""
    from psycopg import errors as pgerr

    saved = db.execute(
        "SELECT current_setting('enable_sort'), current_setting('statement_timeout')"
    ).fetchone()
    try:
        db.execute(
            "SELECT set_config('enable_sort', 'off', false), "
            "set_config('statement_timeout', %s, false)",
            [timeout],
        )
        with db._statement():
            return db.con.execute(sql, list(params), prepare=False).fetchall()
    except pgerr.QueryCanceled:
        return None
    finally:
        db.execute(
            "SELECT set_config('enable_sort', %s, false), "
            "set_config('statement_timeout', %s, false)",
            saved,
        )
