"""The test session's throwaway PostgreSQL cluster: `crmpipe.publish.pgserver`, re-exported
under the name the fixtures in conftest.py (and older tests) import."""

from crmpipe.publish.pgserver import (
    FAST_SETTINGS,
    PgCluster,
    PgUnavailable,
    find_bindir,
    free_port,
    start_cluster,
)

__all__ = [
    "FAST_SETTINGS",
    "PgCluster",
    "PgUnavailable",
    "find_bindir",
    "free_port",
    "start_cluster",
]
