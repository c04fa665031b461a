"""The swap's transaction, begun early: the audit trail's sync runs beside the build.

The audit trail (crmpipe.publish.audit) is synced inside the swap's transaction, so the trail
and the serving version never disagree. A full publish into a database whose trail is empty
(the first publish) inserts and logs every golden row: at 4.5M contacts 160 s of single-core
work, which used to start only once every index was built, while one build connection sat idle
through the long COPY of `contact_search`. `EarlySwap` opens that transaction on a connection
of its own as soon as the audited tables are copied and keyed (the build's keys job), runs the
sync there while the other indexes are built, then waits; once the build is verified,
`finish` lets the same transaction take the serving lock, rename the schemas and commit. Still
one transaction: a failure anywhere rolls the sync back with the rest (`abort`).

Locks: the sync reads the new version's audited tables (ACCESS SHARE, held to the commit), which
nothing after the keys job conflicts with (ANALYZE, index builds on other tables, counts, the
grants); it writes only `audit.*`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psycopg

from crmpipe.publish.versions import swap_in


class _Aborted(Exception):
    """Raised inside the early transaction to roll it back (the build failed)."""


class EarlySwap:
    """`swap_in` on `conn` in a thread: `start` runs `audit` in the swap's transaction and
    then waits; `finish(updates)` completes the swap (or raises what failed); `abort` rolls it
    back. `conn` is closed at the end either way."""

    def __init__(
        self,
        conn: psycopg.Connection,
        version: int,
        old: int | None,
        audit: Callable[[psycopg.Connection, str], None],
    ) -> None:
        self.conn = conn
        self.version = version
        self.old = old
        self.audit = audit
        self.updates: dict[str, Any] = {}
        self.go = threading.Event()
        self.audited = threading.Event()  # the sync is done (or failed): only the wait is left
        self.aborted = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        """Begin the transaction and the sync (once; later calls do nothing)."""
        with self.lock:
            if self.thread is not None or self.aborted:
                return
            self.thread = threading.Thread(target=self._run, name="crmpipe-publish-swap")
            self.thread.start()

    def _before(self, conn: psycopg.Connection, schema: str) -> None:
        try:
            self.audit(conn, schema)
        finally:
            self.audited.set()
        self.go.wait()
        if self.aborted:
            raise _Aborted

    def _run(self) -> None:
        try:
            swap_in(
                self.conn,
                self.version,
                self.old,
                old_status="previous",
                updates=self.updates,
                before=self._before,
            )
        except BaseException as exc:  # handed to the caller by finish
            self.error = exc
        finally:
            self.audited.set()

    def finish(self, updates: dict[str, Any]) -> None:
        """The swap done and committed, with `updates` for the new version's registry row;
        raises the sync's or the swap's error."""
        self.start()
        self.updates.update(updates)
        self.go.set()
        assert self.thread is not None
        self.thread.join()
        self.close()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Roll the transaction back (a statement still running is cancelled) and close."""
        with self.lock:
            self.aborted = True
            thread = self.thread
        self.go.set()
        if thread is not None:
            if not self.audited.is_set():
                with suppress(Exception):
                    self.conn.cancel_safe(timeout=5)
            thread.join()
        self.close()

    def close(self) -> None:
        with suppress(Exception):
            self.conn.close()
