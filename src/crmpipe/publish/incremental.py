"""Whether a publish goes in place, and its steps (`publish_in_place`); and the record a full
publish leaves for the next one (`Recorder`). What goes in place is crmpipe.publish.inplace's;
the record is crmpipe.publish.snapshot's; docs/postgres.md explains the choice.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from crmpipe.errors import first_line
from crmpipe.publish import inplace, search_ddl, snapshot
from crmpipe.publish.audit import build_run, sync_audit
from crmpipe.publish.plan import LEADS_LABEL
from crmpipe.publish.result import PublishResult
from crmpipe.publish.search_ddl import SearchView
from crmpipe.publish.versions import (
    META_SCHEMA,
    SERVING_SCHEMA,
    next_version,
    serving,
    unique_label,
)
from crmpipe.serve.pool import SERVING_LOCK
from crmpipe.sqltext import sql_str

#: A crmpipe.publish.postgres.Publication (not imported: it imports this module).
Publication = Any


#: Reasons not to publish in place that need no note (a first publish, incremental turned off).
QUIET_REASONS = frozenset({"nothing serves yet", "publish.incremental_share is 0"})


def _view(p: Publication) -> SearchView | None:
    pub = p.pub
    if not pub.search:
        return None
    return search_ddl.search_view(inplace.SERVING, p.cfg, pub.systems, pub.vocabulary)


class Recorder:
    """Records, during a full publish, what it sends (snapshot.record_all), on a cursor of its
    own in a thread while PostgreSQL copies and indexes; committed by `finish` once the version
    serves, rolled back by `abandon`. Recording is best effort: when it fails, the next publish
    is a full one too, and `finish` says so."""

    def __init__(self, p: Publication) -> None:
        self.path = snapshot.record_path(p.duck)
        self.p = p
        self.cur: duckdb.DuckDBPyConnection | None = None
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.target = snapshot.target_of(p.admin)
        self.shape = ""

    def start(self) -> None:
        if self.path is None or self.p.cfg.publish.incremental_share <= 0:
            return
        self.cur = self.p.duck.cursor()
        self.thread = threading.Thread(target=self._record, name="crmpipe-publish-record")
        self.thread.start()

    def _record(self) -> None:
        cur, p = self.cur, self.p
        assert cur is not None and self.path is not None
        try:
            snapshot.attach(cur, self.path)
            rels = snapshot.relations(cur, p.pub)
            self.shape = snapshot.shape(p.pub)
            view = _view(p)
            values = (
                search_ddl.values_rows_query(view) if view is not None and view.values else None
            )
            cur.execute("BEGIN")
            snapshot.record_all(cur, self.target, rels, p.pub.search, values)
        except duckdb.Error as exc:
            self.error = first_line(exc)

    def finish(self, version: int) -> str | None:
        """Commit the record for `version` (serving now); a note when it couldn't be made."""
        if self.thread is None or self.cur is None:
            return None
        self.thread.join()
        cur = self.cur
        try:
            if self.error is None:
                snapshot.set_state(cur, self.target, version, self.p.pub.build, self.shape)
                cur.execute("COMMIT")
        except duckdb.Error as exc:
            self.error = first_line(exc)
        finally:
            self._close()
        if self.error is not None:
            return (
                f"the record of what was published was not kept ({self.error}); the next "
                "publish will be a full one too"
            )
        return None

    def abandon(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self._close()

    def _close(self) -> None:
        cur = self.cur
        if cur is None:
            return
        with suppress(duckdb.Error):  # committed already, or never begun
            cur.execute("ROLLBACK")
        snapshot.detach(cur)
        cur.close()
        self.cur = None


def merge_in(
    conn: psycopg.Connection,
    version: int,
    old: int,
    build: str | None,
    label: str | None,
    updates: dict[str, Any],
) -> None:
    """Register what an in-place publish made of serving version `old`: a new version, serving
    in the same schema, whose `base` is `old`; `old` becomes `merged` (its rows were changed
    into the new one, so it can't be rolled back to). Inside the caller's transaction, after
    the serving lock: the registry and the rows change together. The orphans recorded for
    `old` carry over (rows that break a foreign key make the publish a full one)."""
    conn.execute(
        f"UPDATE {META_SCHEMA}.versions SET status = 'merged', retired_at = now(), "
        "message = %s WHERE version = %s",
        [f"changed in place into version {version}", old],
    )
    names = "".join(f", {k}" for k in updates)
    marks = "".join(", %s" for _ in updates)
    conn.execute(
        f"INSERT INTO {META_SCHEMA}.versions (version, schema_name, status, build, label, base, "
        f"published_at{names}) VALUES (%s, %s, 'serving', %s, %s, %s, now(){marks})",
        [
            version,
            SERVING_SCHEMA,
            build,
            label and unique_label(conn, label),
            old,
            *updates.values(),
        ],
    )
    conn.execute(
        f"UPDATE {META_SCHEMA}.versions SET orphans = (SELECT orphans FROM "
        f"{META_SCHEMA}.versions WHERE version = %s) WHERE version = %s",
        [old, version],
    )


def publish_in_place(p: Publication) -> PublishResult | str:
    """Publish `p` in place when it can (see crmpipe.publish.inplace); otherwise the reason it
    can't, for the full publish's notes. Runs under the publish lock, after the preflight."""
    share = p.cfg.publish.incremental_share
    if share <= 0:
        return "publish.incremental_share is 0"
    path = snapshot.record_path(p.duck)
    if path is None:
        return "the warehouse is in memory"
    admin = p.admin
    old = serving(admin)
    if old is None:
        return "nothing serves yet"
    if p.pub.label and p.pub.label.startswith(LEADS_LABEL):
        # Changing the serving version in place would leave no version of the previous drop
        # to roll back to (docs/childcare.md, "Dated, kept versions").
        return f"each leads drop is a dated version of its own ({p.pub.label}), kept for rollback"
    dc = p.duck.cursor()
    try:
        return _in_place(p, dc, path, old, share)
    finally:
        snapshot.detach(dc)
        dc.close()


def _in_place(
    p: Publication, dc: duckdb.DuckDBPyConnection, path: Path, old: int, share: float
) -> PublishResult | str:
    admin, pub, target = p.admin, p.pub, snapshot.target_of(p.admin)
    try:
        snapshot.attach(dc, path)
    except duckdb.Error as exc:
        return f"the record of what was published can't be opened ({first_line(exc)})"
    state = snapshot.state_of(dc, target)
    rels = snapshot.relations(dc, pub)
    shape = snapshot.shape(pub)
    tracked = {r.name for r in rels}
    untracked = [n for n, plan in pub.plans.items() if plan.exists and n not in tracked]
    if untracked:
        return f"{untracked[0]} is not a table in the warehouse (a view?)"
    if state is None or state[0] != old:
        return f"the version serving (v{old}) is not the one this warehouse last published"
    if state[2] != shape:
        return "the published tables' columns or search fields changed"
    view = _view(p)
    with p.steps.step("in place", "changed rows") as info:
        delta = inplace.diff(dc, target, rels, view)
        info["rows"] = delta.changed
    if delta.changed > share * max(delta.total, 1):
        return (
            f"{delta.changed:,} of {delta.total:,} rows changed, over "
            f"publish.incremental_share ({share:g})"
        )
    version = next_version(admin)
    counts = {name: plan.rows for name, plan in pub.plans.items()}
    if view is not None:
        counts["contact_search"] = pub.plans["contacts"].rows
    if pub.facility is not None:
        counts["facility_search"] = pub.plans["entities"].rows
    audited: list = []
    try:
        with p.steps.step("in place", "send and check") as info, admin.transaction():
            keys = inplace.apply(dc, admin, pub, delta, view, p.steps.timings)
            info["rows"] = delta.changed
            if p.cfg.publish.audit:
                t0 = time.perf_counter()
                audited, notes = sync_audit(
                    admin,
                    inplace.SERVING,
                    p.cfg.publish.audit,
                    action="publish",
                    version=version,
                    run_id=build_run(p.duck),
                    keys=keys,
                )
                p.audit_notes = notes
                p.steps.timings.append(("audit sync", time.perf_counter() - t0))
            admin.execute("SELECT pg_advisory_xact_lock(%s)", [SERVING_LOCK])
            # The schema's comment names the version: `crmpipe serve` keys its answers by it
            # (crmpipe.serve.pool.VERSION_ID_SQL), so none from before this commit is served.
            named = f"crmpipe published version {version}" + (
                f" ({pub.label})" if pub.label else ""
            )
            admin.execute(f"COMMENT ON SCHEMA {inplace.SERVING} IS {sql_str(named)}")
            merge_in(
                admin,
                version,
                old,
                pub.build,
                pub.label,
                {"rows": json.dumps(counts), "seconds": time.perf_counter() - p.t_start},
            )
    except inplace.InPlaceDeclined as exc:
        return str(exc)
    notes = list(p.audit_notes)
    try:
        dc.execute("BEGIN")
        inplace.record(dc, target, delta)
        snapshot.set_state(dc, target, version, pub.build, shape)
        dc.execute("COMMIT")
    except duckdb.Error as exc:
        notes.append(
            f"the record of what was published was not updated ({first_line(exc)}); the next "
            "publish will be a full one"
        )
    changed = inplace.summary(delta)
    text = ", ".join(f"{name} +{c['upserted']:,}/-{c['deleted']:,}" for name, c in changed.items())
    notes.insert(0, f"in place: {text or 'no row changed'} (upserted/deleted)")
    (label,) = admin.execute(
        f"SELECT label FROM {META_SCHEMA}.versions WHERE version = %s", [version]
    ).fetchone()
    return PublishResult(
        schema=inplace.SERVING,
        version=version,
        tables=counts,
        steps=p.steps.timings,
        seconds=0.0,
        notes=notes,
        label=label,
        audited={
            a.table: {"inserted": a.inserted, "updated": a.updated, "deleted": a.deleted}
            for a in audited
        },
        mode="in place",
        changed=changed,
    )
