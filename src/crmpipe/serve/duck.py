"""Serving the DuckDB warehouse to many requests: one read-only handle on the file, shared by
the requests, each thread reading through its own cursor (a DuckDB connection on the same
database: no lock between requests, queries run side by side).

Opening the warehouse for every request cost more than some searches (the catalog is read
again each time), but a handle held open keeps `crmpipe run` (a writer) out of the file: the
handle is closed once no request has used it for `idle_s` seconds, so a run gets the file
between bursts of requests. While it is open nobody can write the file, so what it reads is
one version: `version` (the file's size, modification time and inode when opened) names it
for caches (crmpipe.api.cache).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crmpipe.serve.store import DUCKDB_SEARCH_PATH
from crmpipe.warehouse.connection import connect

#: Seconds without a request after which the warehouse file is let go.
IDLE_SECONDS = 1.0


def _signature(path: Path) -> tuple[int, ...]:
    out: list[int] = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = os.stat(p)
            out += [st.st_size, st.st_mtime_ns, st.st_ino]
        except FileNotFoundError:
            out += [-1, -1, -1]
    return tuple(out)


class WarehouseReader:
    """The shared read-only handle (opened at first use, closed after `idle_s` idle)."""

    def __init__(self, path: Path, *, idle_s: float = IDLE_SECONDS) -> None:
        self.path = Path(path)
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._con: Any = None
        self._generation = 0
        self._version: tuple[int, ...] = ()
        self._cursors: list[Any] = []
        self._users = 0
        self._last = 0.0
        self._local = threading.local()
        self._closer: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def reading(self) -> Iterator[tuple[Any, tuple[int, ...]]]:
        """(this thread's cursor, the version it reads) for one request."""
        with self._lock:
            if self._con is None:
                self._version = _signature(self.path)
                self._con = connect(self.path, read_only=True)
                self._generation += 1
                self._start_closer()
            self._users += 1
            generation, version = self._generation, self._version
            cursor = getattr(self._local, "cursor", None)
            if cursor is None or self._local.generation != generation:
                cursor = self._con.cursor()
                cursor.execute("SET search_path = ?", [DUCKDB_SEARCH_PATH])
                self._cursors.append(cursor)
                self._local.cursor, self._local.generation = cursor, generation
        try:
            yield cursor, version
        finally:
            with self._lock:
                self._users -= 1
                self._last = time.monotonic()

    def version_if_open(self) -> tuple[int, ...] | None:
        """The version the open handle reads (counting as a use, like `reading`), or None when
        the handle is closed: it is read from the file only when the file is opened."""
        with self._lock:
            if self._con is None or self._closed:
                return None
            self._last = time.monotonic()
            return self._version

    def _start_closer(self) -> None:
        if self._closer is None or not self._closer.is_alive():
            self._closer = threading.Thread(target=self._close_when_idle, daemon=True)
            self._closer.start()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(self.idle_s / 2)
            with self._lock:
                if self._con is None:
                    return
                if self._closed or (
                    self._users == 0 and time.monotonic() - self._last >= self.idle_s
                ):
                    self._release()
                    return

    def _release(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
        self._con.close()
        self._con = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._con is not None and self._users == 0:
                self._release()
