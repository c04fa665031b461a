"""Reverse ETL: `crmpipe sync TARGET` pushes a store table's new and changed rows to an HTTP API
declared under `sync.targets` in crmpipe.yml (docs/sync.md).

`state` keeps what each target was sent (the `sync` schema of the warehouse), `http` sends one
request with retries, `run` drives a sync batch by batch.
"""

from crmpipe.sync.run import SyncSummary, sync, sync_order
from crmpipe.sync.state import SyncError

__all__ = ["SyncError", "SyncSummary", "sync", "sync_order"]
