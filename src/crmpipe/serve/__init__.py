"""Opening a store for reading: the DuckDB warehouse file or the version published to
PostgreSQL. What search, the shell, reports and an HTTP API share (`store.py`); it never
imports crmpipe.publish, which builds on it.
"""

from crmpipe.serve.store import (
    DSN_ENV,
    SEARCH_STATEMENT_TIMEOUT,
    StoreError,
    connect_pg,
    open_connection,
    open_store,
    resolve_dsn,
)

__all__ = [
    "DSN_ENV",
    "SEARCH_STATEMENT_TIMEOUT",
    "StoreError",
    "connect_pg",
    "open_connection",
    "open_store",
    "resolve_dsn",
]
