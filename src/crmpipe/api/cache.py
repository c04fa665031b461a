"""Answers kept per served version: a bounded LRU of response bodies whose keys start with the
store version that produced them (crmpipe.serve.pool's `pinned`: the OID of the schema serving
on PostgreSQL; crmpipe.serve.duck: the warehouse file as opened). A swap or a new build changes
the version, so an answer is only ever served for the version it was read from — never stale,
never mixed — and the old version's entries age out of the LRU.

`serve.cache` in crmpipe.yml bounds it (entries; 0 turns it off), `crmpipe serve --no-cache`
too; at most `max_bytes` of bodies are kept (a CSV export of 10,000 rows is megabytes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

#: Bytes of answers kept at most, whatever the entry count.
MAX_BYTES = 64 * 1024 * 1024


class AnswerCache:
    """Thread-safe LRU by key, bounded in entries and in bytes (a value's `size`, by default
    its length: a response body)."""

    def __init__(self, entries: int, *, max_bytes: int = MAX_BYTES) -> None:
        self.entries = max(0, entries)
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0

    def get(self, key: Hashable) -> Any:
        """The value kept under `key`, or None."""
        if not self.entries:
            return None
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any, size: int | None = None) -> None:
        """Keep `value` (not to be changed afterwards: every hit returns this object)."""
        size = len(value) if size is None else size
        if not self.entries or size > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
