"""Publish targets for the warehouse: PostgreSQL for concurrent serving (`postgres.py`).

The embedded DuckDB file is the default serving store and needs no publish step.
`publish_build(cfg)` publishes a project's current build (the CLI's `publish`, and `run` when
a DSN is configured); `connect_pg` opens a connection for searching the published schema.
"""

from crmpipe.publish.postgres import (
    DSN_ENV,
    PublishError,
    PublishResult,
    VersionInfo,
    connect_pg,
    publish,
    publish_build,
    published_versions,
    resolve_dsn,
    rollback,
    serving_build,
)

__all__ = [
    "DSN_ENV",
    "PublishError",
    "PublishResult",
    "VersionInfo",
    "connect_pg",
    "publish",
    "publish_build",
    "published_versions",
    "resolve_dsn",
    "rollback",
    "serving_build",
]
