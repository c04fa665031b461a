"""Publish targets for the warehouse: PostgreSQL for concurrent serving (`postgres.py`).

The embedded DuckDB file is the default serving store and needs no publish step.
"""

from crmpipe.publish.postgres import (
    PublishError,
    PublishResult,
    VersionInfo,
    publish,
    published_versions,
    rollback,
)

__all__ = [
    "PublishError",
    "PublishResult",
    "VersionInfo",
    "publish",
    "published_versions",
    "rollback",
]
