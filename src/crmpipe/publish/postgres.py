"""Publish the DuckDB build to PostgreSQL for concurrent serving (docs/postgres.md).

A full publish loads the normalized tables into a fresh schema `crmpipe_v<N>` with COPY, checks
the row counts against DuckDB, builds keys, indexes and the search tables, then swaps it in as
the schema `crmpipe` by two renames in one transaction: readers never see a half-published
state, previous versions stay for `rollback`, a failed or killed publish leaves the serving
version alone. When few rows changed since the version serving was published, the changed rows
are sent into it instead, in one transaction (incremental.py, inplace.py). The registry
`crmpipe_meta.versions` records every version.

This module is the orchestration: a `Publication` runs the phases plan → (in place, or) prepare
→ load (COPY and index builds, overlapped) → verify → swap → retire, with `publish` and
`publish_build` as the entry points; the phases' parts live beside it.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from typing import TYPE_CHECKING

import duckdb
import psycopg

from crmpipe.config.schema import Config
from crmpipe.errors import first_line
from crmpipe.publish import ddl, search_ddl
from crmpipe.publish.audit import TableSync, build_run, sync_audit
from crmpipe.publish.connection import (
    BUILD_SETTINGS,
    apply_settings,
    connect,
    ensure_trgm,
    preflight,
)
from crmpipe.publish.copy import copy_job, fields_job, stream_job
from crmpipe.publish.ddl import qualified
from crmpipe.publish.early_swap import EarlySwap
from crmpipe.publish.errors import PublishError, translated
from crmpipe.publish.incremental import QUIET_REASONS, Recorder, publish_in_place
from crmpipe.publish.jobs import Job, Steps, build_jobs, jobs_count, run_jobs
from crmpipe.publish.plan import PublishPlan, build_fingerprint, read_plan
from crmpipe.publish.result import PublishResult
from crmpipe.publish.versions import (
    META_SCHEMA,
    SERVING_SCHEMA,
    VERSION_PREFIX,
    abandon,
    clean_leftovers,
    copy_grants,
    create_registry,
    publish_lock,
    retire_old,
    schema_exists,
    serving,
    serving_build,
    start_version,
    version_label_of,
)
from crmpipe.search import pgtokens
from crmpipe.search.table import DUCKDB_SEARCH_TABLE, SEARCH_TABLE
from crmpipe.serve import DSN_ENV, resolve_dsn
from crmpipe.sqltext import quote_ident, sql_str
from crmpipe.warehouse.connection import connect as connect_warehouse

if TYPE_CHECKING:
    from crmpipe.reporter import Reporter


class Publication:
    """One publish of the warehouse (read through the cursor `duck`) to PostgreSQL at `dsn`.

    `run` goes through the phases in order; each method is one phase and leaves what later
    ones need in the fields: the plan (`pub`), the admin and build connections, the version
    being built and the one serving (`old`), the row counts verified and the orphans found.
    """

    def __init__(
        self,
        duck: duckdb.DuckDBPyConnection,
        dsn: str,
        cfg: Config,
        *,
        keep: int,
        reporter: Reporter | None,
        contact_text: bool,
        full: bool = False,
    ) -> None:
        self.t_start = time.perf_counter()
        self.duck = duck
        self.dsn = dsn
        self.cfg = cfg
        self.keep = keep  # previous versions kept for rollback
        self.contact_text = contact_text  # trigram indexes on contacts' text columns too
        self.full = full  # a full versioned rebuild even when the change is small
        self.recorder: Recorder | None = None  # what this publish sends, for the next one
        self.steps = Steps(reporter)
        self.pub: PublishPlan
        self.admin: psycopg.Connection
        self.workers: list[psycopg.Connection] = []
        self.trgm_ops = ""  # pg_trgm's GIN operator class, schema-qualified
        self.version = 0  # being built, in schema crmpipe_v<version>
        self.old: int | None = None  # serving until the swap
        # contact_search, when the warehouse has contacts
        self.view: search_ddl.SearchView | None = None
        # facility_search, when the warehouse has it
        self.facility: search_ddl.SearchView | None = None
        self.counts: dict[str, int] = {}
        self.orphans: dict[str, int] = {}
        self.label: str | None = None  # the version's dated label, unique in the registry
        self.audited: list[TableSync] = []  # what the audit trail's sync did, per table
        self.audit_notes: list[str] = []
        self.swapper: EarlySwap | None = None  # the swap's transaction, begun beside the build
        self.run_id: int | None = None  # the pipeline run of the build, for the audit trail

    @property
    def schema(self) -> str:
        return f"{VERSION_PREFIX}{self.version}"

    def run(self) -> PublishResult:
        """Every phase; on a failure after the version was registered, it is abandoned (its
        schema dropped, marked failed) and the version that was serving still serves."""
        self.plan()
        self.admin = connect(self.dsn)
        try:
            warnings = self.check_server()
            why = None  # why the publish is not done in place
            with translated(self.admin, "preparing the publish"), publish_lock(self.admin):
                if not self.full:
                    create_registry(self.admin)
                    done = publish_in_place(self)
                    if isinstance(done, PublishResult):
                        done.seconds = time.perf_counter() - self.t_start
                        done.notes = warnings + done.notes
                        return done
                    why = done if done not in QUIET_REASONS else None
                self.prepare()
                try:
                    result = self.publish_version()
                except BaseException as exc:
                    if self.swapper is not None:
                        self.swapper.abort()
                    abandon(self.admin, self.version, exc)
                    if self.recorder is not None:
                        self.recorder.abandon()
                    raise
            result.seconds = time.perf_counter() - self.t_start
            result.notes = warnings + ([f"published in full: {why}"] if why else []) + result.notes
            return result
        finally:
            for conn in [*self.workers, self.admin]:
                with suppress(Exception):
                    conn.close()

    def plan(self) -> None:
        """What to publish, read from the warehouse before PostgreSQL is touched."""
        try:
            self.pub = read_plan(self.duck, self.cfg)
        except duckdb.Error as exc:
            raise PublishError(
                f"cannot read the warehouse: {first_line(exc)}; run 'crmpipe run' first"
            ) from None

    def check_server(self) -> list[str]:
        """The server's version, encoding and privileges; returns the warnings worth a note."""
        with translated(self.admin, "preparing the publish"):
            warnings = preflight(self.admin)
            apply_settings(
                self.admin,
                {
                    k: v
                    for k, v in BUILD_SETTINGS.items()
                    if k in ("standard_conforming_strings", "client_encoding")
                },
            )
        return warnings

    def prepare(self) -> None:
        """The registry, pg_trgm, leftovers dropped, and the new version registered."""
        with self.steps.step("prepare", "registry") as info:
            create_registry(self.admin)
            self.trgm_ops = ensure_trgm(self.admin, META_SCHEMA)
            cleaned = clean_leftovers(self.admin)
            self.old = serving(self.admin)
            if self.old is None and schema_exists(self.admin, SERVING_SCHEMA):
                raise PublishError(
                    f"schema {SERVING_SCHEMA} exists in database {self.admin.info.dbname} but "
                    "was not published by crmpipe; rename or drop it, or publish to another "
                    "database"
                )
            self.version = start_version(self.admin, self.pub.build, self.pub.label)
            self.label = version_label_of(self.admin, self.version)
            info["detail"] = f"version {self.version} ({self.label})" + (
                f", dropped leftovers {', '.join(cleaned)}" if cleaned else ""
            )

    def publish_version(self) -> PublishResult:
        """Load, index and verify version N in crmpipe_v<N>, swap it in, drop old versions."""
        self.open_schema()
        self.recorder = Recorder(self)
        self.recorder.start()
        self.load()
        self.verify()
        self.swap()
        note = self.recorder.finish(self.version)
        if note:
            self.audit_notes.append(note)
        return self.retire()

    def open_schema(self) -> None:
        """The build connections, and the new version's schema with its tables, empty (the
        COPY jobs fill them: TRUNCATE + COPY FREEZE in one transaction each)."""
        pub = self.pub
        if pub.search:
            self.view = search_ddl.search_view(self.schema, self.cfg, pub.systems, pub.vocabulary)
        if pub.facility is not None:
            self.facility = search_ddl.facility_view(self.schema, self.cfg, pub.facility)
        with translated(self.admin, "opening build connections"):
            for _ in range(jobs_count()):
                conn = connect(self.dsn)
                apply_settings(conn, BUILD_SETTINGS)
                self.workers.append(conn)
            apply_settings(self.admin, BUILD_SETTINGS)
            swap_conn = connect(self.dsn)
            apply_settings(swap_conn, BUILD_SETTINGS)
            self.run_id = build_run(self.duck) if self.cfg.publish.audit else None
            self.swapper = EarlySwap(swap_conn, self.version, self.old, self.audit)
            with self.admin.transaction():
                self.admin.execute(f"CREATE SCHEMA {quote_ident(self.schema)}")
                self.admin.execute(ddl.list_text_function(self.schema))
                for name, p in self.pub.plans.items():
                    self.admin.execute(ddl.create_table_of(self.schema, name, p.columns))
                if self.view is not None:
                    self.admin.execute(search_ddl.create_search_table(self.schema, self.view))
                    search = qualified(self.schema, SEARCH_TABLE)
                    for sql in pgtokens.create_sql(quote_ident(self.schema), search):
                        if self.view.postings:  # the e-mails' token postings
                            self.admin.execute(sql)
                    if self.view.values:
                        self.admin.execute(search_ddl.create_values_table(self.schema, self.view))

    def copy_jobs(self) -> list[Job]:
        """COPY every table from DuckDB, the search table and its vocabularies included
        (computed there), largest first; and the search field registry."""
        plans = self.pub.plans
        jobs = [
            Job("copy", name, copy_job(self.duck, self.schema, p), priority=p.rows)
            for name, p in plans.items()
        ]
        view = self.view
        if view is not None:
            types = {**self.pub.search_types, "document": "VARCHAR"}
            missing = [c for c in view.columns if c not in self.pub.search_types]
            if missing:
                raise PublishError(
                    f"the warehouse's {DUCKDB_SEARCH_TABLE} has no column {missing[0]!r}; "
                    "rebuild with 'crmpipe run --force', then publish"
                )
            query = search_ddl.search_copy_query(view, types)
            rows = plans["contacts"].rows
            # First: its document GIN is the longest build, and waits for it.
            job = stream_job(self.duck, self.schema, SEARCH_TABLE, view.columns, query, rows)
            jobs.append(Job("copy", SEARCH_TABLE, job, priority=3 * rows))
            if view.postings:  # the e-mails' token postings (search.pgtokens), after
                # `contacts`: its keys start the audit trail's sync, the longest chain
                query = search_ddl.postings_copy_query(types)
                job = stream_job(self.duck, self.schema, pgtokens.POSTINGS, pgtokens.COLUMNS, query)
                jobs.append(Job("copy", pgtokens.POSTINGS, job, priority=rows / 2))
            if view.values:
                job = stream_job(
                    self.duck,
                    self.schema,
                    search_ddl.SEARCH_VALUES,
                    ["field", "value", "entity_id"],
                    search_ddl.values_copy_query(view),
                )
                jobs.append(Job("copy", search_ddl.SEARCH_VALUES, job, priority=rows / 2))
        if self.view is not None or self.facility is not None:
            facility_fields = [
                (n, k, i, m, None, None, None, None)
                for i, (n, k, m) in enumerate(self.facility.fields if self.facility else [])
            ]
            job = fields_job(self.schema, self.pub.fields, facility_fields)
            jobs.append(Job("copy", "search_fields", job, priority=-1))
        return jobs

    def load(self) -> None:
        """COPY and build (indexes, keys) on the build connections in parallel, each index as
        soon as its table is copied, so index builds overlap the other tables' COPY."""
        t0 = time.perf_counter()
        jobs = self.copy_jobs() + build_jobs(
            self.schema,
            self.pub,
            self.view,
            self.trgm_ops,
            contact_text=self.contact_text,
            orphans=self.orphans,
            facility=self.facility,
            # the swap's transaction begins, with the audit trail's sync, once keyed
            keyed=self.swapper.start if self.swapper is not None else None,
        )
        with translated(self.admin, "copying rows and building indexes in PostgreSQL"):
            run_jobs(self.workers, jobs, self.steps)
        self.steps.timings.append(("copy and build (wall)", time.perf_counter() - t0))

    def verify(self) -> None:
        """Count every table (and the view) against the warehouse; carry the grants over."""
        schema, plans, admin = self.schema, self.pub.plans, self.admin
        with (
            translated(admin, "verifying the new version"),
            self.steps.step("verify", schema) as info,
        ):
            self.check_strict_keys()
            counts = {}
            for name, p in plans.items():
                (n,) = admin.execute(f"SELECT count(*) FROM {qualified(schema, name)}").fetchone()
                counts[name] = int(n)
                if n != p.rows:
                    raise PublishError(
                        f"{schema}.{name} has {n:,} rows but {p.source} has {p.rows:,}; "
                        "publish again"
                    )
            if self.view is not None:
                (n,) = admin.execute(
                    f"SELECT count(*) FROM {qualified(schema, 'contact_search')}"
                ).fetchone()
                counts["contact_search"] = int(n)
                if n != plans["contacts"].rows:
                    raise PublishError(
                        f"contact_search has {n:,} rows for {plans['contacts'].rows:,} "
                        "contacts; publish again"
                    )
            if self.facility is not None:
                (n,) = admin.execute(
                    f"SELECT count(*) FROM {qualified(schema, 'facility_search')}"
                ).fetchone()
                counts["facility_search"] = int(n)
                if n != plans["entities"].rows:
                    raise PublishError(
                        f"facility_search has {n:,} rows for {plans['entities'].rows:,} "
                        "facilities; publish again"
                    )
            granted = copy_grants(admin, SERVING_SCHEMA, schema) if self.old is not None else 0
            label = f" ({self.label})" if self.label else ""
            admin.execute(
                f"COMMENT ON SCHEMA {quote_ident(schema)} IS "
                f"{sql_str(f'crmpipe published version {self.version}{label}')}"
            )
            self.counts = counts
            info["rows"] = sum(counts.values())
            info["detail"] = f"{granted} grants carried over" if granted else ""

    def check_strict_keys(self) -> None:
        """Fail when a table whose foreign keys must hold has rows naming no facility
        (ddl.strict_key_error)."""
        error = ddl.strict_key_error(self.orphans)
        if error is not None:
            raise PublishError(error)

    def swap(self) -> None:
        """The new version serves as schema `crmpipe` (the one transaction readers notice),
        begun beside the build with the audit trail's sync (crmpipe.publish.early_swap)."""
        assert self.swapper is not None
        with (
            translated(self.admin, "swapping the new version in"),
            self.steps.step("swap", SERVING_SCHEMA),
        ):
            self.swapper.finish(
                {
                    "rows": json.dumps(self.counts),
                    "orphans": json.dumps(self.orphans),
                    "seconds": time.perf_counter() - self.t_start,
                }
            )

    def audit(self, conn: psycopg.Connection, schema: str) -> None:
        """The audit trail follows the golden rows the new version brings (docs/audit.md), in
        the swap's transaction: the trail and the serving version never disagree."""
        if not self.cfg.publish.audit:
            return
        t0 = time.perf_counter()
        self.audited, notes = sync_audit(
            conn,
            schema,
            self.cfg.publish.audit,
            action="publish",
            version=self.version,
            run_id=self.run_id,
        )
        self.audit_notes = notes
        self.steps.timings.append(("audit sync", time.perf_counter() - t0))

    def retire(self) -> PublishResult:
        """Drop old versions beyond `keep` (the new one serves whatever happens from here on);
        what the publish did."""
        dropped: list[str] = []
        notes: list[str] = []
        with suppress(psycopg.Error), self.steps.step("drop", "old versions") as info:
            dropped, notes = retire_old(self.admin, self.keep)
            info["detail"] = ", ".join(dropped)
        notes += self.audit_notes
        for key, n in self.orphans.items():
            notes.append(f"{key}: {n:,} rows name no entity; the foreign key is kept NOT VALID")
        return PublishResult(
            schema=SERVING_SCHEMA,
            version=self.version,
            tables=self.counts,
            steps=self.steps.timings,
            seconds=0.0,
            orphans=self.orphans,
            dropped=dropped,
            notes=notes,
            label=self.label,
            audited={
                a.table: {"inserted": a.inserted, "updated": a.updated, "deleted": a.deleted}
                for a in self.audited
            },
        )


def publish(
    duck_con: duckdb.DuckDBPyConnection,
    dsn: str,
    *,
    cfg: Config,
    keep_versions: int | None = None,
    reporter: Reporter | None = None,
    table_text_indexes: bool = False,
    full: bool = False,
) -> PublishResult:
    """Publish the warehouse's core tables and search view to PostgreSQL at `dsn`.

    Builds version N in schema crmpipe_v<N>, then swaps it in as `crmpipe`; keeps the
    `keep_versions` previous versions (default: crmpipe.yml's publish.keep_versions) for
    rollback and drops older ones. Raises PublishError (one line) on any failure, leaving the
    version that was serving in place. Reads DuckDB through cursors, so it sees the committed
    state of the warehouse. `table_text_indexes=True` adds trigram indexes on contacts.title
    and contacts.emails, for SQL written against the normalized table; searches don't use them
    (they have the view's), and at 4.5M contacts they cost ~70 s of build time (docs/postgres.md),
    so they are left out unless asked for.
    """
    keep = cfg.publish.keep_versions if keep_versions is None else keep_versions
    if keep < 0:
        raise PublishError(f"keep_versions must be 0 or more, not {keep}")
    duck = duck_con.cursor()  # every read through cursors: one committed state of the warehouse
    try:
        publication = Publication(
            duck, dsn, cfg, keep=keep, reporter=reporter, contact_text=table_text_indexes, full=full
        )
        return publication.run()
    finally:
        duck.close()


def publish_build(
    cfg: Config,
    dsn: str | None = None,
    reporter: Reporter | None = None,
    *,
    only_if_changed: bool = False,
    keep_versions: int | None = None,
    table_text_indexes: bool = False,
    full: bool = False,
) -> PublishResult | None:
    """Publish the project's current warehouse build to PostgreSQL (`crmpipe publish`, and
    `crmpipe run` when a DSN is configured).

    The DSN is `dsn`, else `publish.postgres`, else CRMPIPE_PG_DSN (`resolve_dsn`). The
    warehouse is opened read-only, so this never changes it. With `only_if_changed` (what
    `crmpipe run` uses), nothing is done and None is returned when the serving version was
    published from this very build: re-running with the same files changes nothing.
    """
    target = resolve_dsn(cfg, dsn)
    if target is None:
        raise PublishError(
            "no PostgreSQL DSN: set publish.postgres in crmpipe.yml, pass --pg DSN or set "
            f"{DSN_ENV}, e.g. postgresql://USER@HOST:5432/DBNAME"
        )
    con = connect_warehouse(cfg.warehouse_path, read_only=True)
    try:
        if only_if_changed:
            build = build_fingerprint(con)
            if build is not None and build == serving_build(target):
                return None
        return publish(
            con,
            target,
            cfg=cfg,
            keep_versions=keep_versions,
            reporter=reporter,
            table_text_indexes=table_text_indexes,
            full=full,
        )
    finally:
        con.close()
