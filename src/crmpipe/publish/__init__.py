"""Publish targets for the warehouse: PostgreSQL for concurrent serving (`postgres.py`, the
orchestration, and the modules of its phases beside it).

The embedded DuckDB file is the default serving store and needs no publish step.
`publish_build(cfg)` publishes a project's current build (the CLI's `publish`, and `run` when
a DSN is configured); reading what was published is crmpipe.serve's job.
"""

from crmpipe.publish.errors import PublishError
from crmpipe.publish.postgres import PublishResult, publish, publish_build
from crmpipe.publish.versions import VersionInfo, published_versions, rollback, serving_build

__all__ = [
    "PublishError",
    "PublishResult",
    "VersionInfo",
    "publish",
    "publish_build",
    "published_versions",
    "rollback",
    "serving_build",
]
