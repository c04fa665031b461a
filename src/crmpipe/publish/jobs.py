"""Parallel jobs on several build connections: a `Job` (a function of a connection, the jobs
it waits for, a priority), `run_jobs` (each as soon as its dependencies are done, longest
first, cancelling the rest on the first failure), `Steps` (timings, told to the reporter), and
the constructors of the build's jobs: SQL statements, index builds, keys (`build_jobs` puts
the indexes and the keys in order after the COPY jobs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pgerr

from crmpipe.publish import ddl, search_ddl
from crmpipe.publish.connection import BUILD_SETTINGS
from crmpipe.publish.ddl import qualified
from crmpipe.publish.plan import PublishPlan, TablePlan
from crmpipe.search import pgtokens
from crmpipe.sqltext import quote_ident

if TYPE_CHECKING:
    from crmpipe.reporter import Reporter

#: maintenance_work_mem for GIN builds: far smaller than for B-trees, on purpose. A GIN build
#: collects entries in an in-memory tree until this fills, and a big tree misses the CPU caches.
#: Measured here at 4.5M contacts, a `document` GIN took 45 s of CPU with 4-16MB, 50 s with
#: 32MB, 53-57 s with 64MB, 71 s with 256MB and 88 s with 1GB; the emails trigram GIN 30.5 s
#: with 16MB and 34 s with 64MB or 256MB. B-tree sorts gain from the full 1GB.
GIN_MAINTENANCE_WORK_MEM = "16MB"
GIN_KINDS = frozenset({"trigram", "fulltext", "array"})
#: Build connections working in parallel (COPY streams, index builds); PG_JOBS overrides.
DEFAULT_JOBS = 2


@dataclass
class Job:
    step: str
    target: str
    run: Callable[[psycopg.Connection], int]
    after: frozenset[str] = frozenset()
    priority: float = 0.0
    #: called (from the calling thread) once the job is done
    done: Callable[[], None] | None = None

    @property
    def name(self) -> str:
        return f"{self.step} {self.target}"


class Steps:
    """Times steps and tells the reporter (always from the calling thread)."""

    def __init__(self, reporter: Reporter | None) -> None:
        self.reporter = reporter
        self.timings: list[tuple[str, float]] = []

    def start(self, step: str, target: str) -> None:
        if self.reporter is not None:
            self.reporter.start(step, target)

    def end(self, step: str, target: str, seconds: float, rows: int = 0, detail: str = "") -> None:
        self.timings.append((f"{step} {target}", seconds))
        if self.reporter is not None:
            self.reporter.end(step, target, rows, seconds, detail)

    @contextmanager
    def step(self, step: str, target: str) -> Iterator[dict[str, Any]]:
        self.start(step, target)
        info: dict[str, Any] = {"rows": 0, "detail": ""}
        t0 = time.perf_counter()
        yield info
        self.end(step, target, time.perf_counter() - t0, info["rows"], info["detail"])


def run_jobs(conns: list[psycopg.Connection], jobs: list[Job], steps: Steps) -> dict[str, int]:
    """Run jobs on the connections, each as soon as its dependencies are done, longest first.

    On the first failure (or Ctrl-C) the statements still running are cancelled, and the
    failure is raised.
    """
    pending = {j.name: j for j in jobs}
    unknown = {d for j in jobs for d in j.after} - set(pending)
    if unknown:
        raise AssertionError(f"jobs depend on unknown jobs: {sorted(unknown)}")
    done: set[str] = set()
    results: dict[str, int] = {}
    free = list(conns)
    running: dict[Future[int], tuple[Job, psycopg.Connection, float]] = {}

    def cancel_all() -> None:
        for _, conn, _ in running.values():
            with suppress(Exception):
                conn.cancel_safe(timeout=5)
        wait(running)

    with ThreadPoolExecutor(max_workers=len(conns), thread_name_prefix="crmpipe-pg") as pool:
        try:
            while pending or running:
                ready = sorted(
                    (j for j in pending.values() if j.after <= done), key=lambda j: -j.priority
                )
                while free and ready:
                    job = ready.pop(0)
                    del pending[job.name]
                    conn = free.pop()
                    steps.start(job.step, job.target)
                    running[pool.submit(job.run, conn)] = (job, conn, time.perf_counter())
                if not running:
                    raise AssertionError(f"jobs wait on each other: {sorted(pending)}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job, conn, t0 = running.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        cancel_all()
                        raise exc
                    results[job.name] = rows = int(fut.result() or 0)
                    steps.end(job.step, job.target, time.perf_counter() - t0, rows)
                    done.add(job.name)
                    if job.done is not None:
                        job.done()
                    free.append(conn)
        except BaseException:
            cancel_all()
            raise
    return results


def jobs_count() -> int:
    """Build connections to open: CRMPIPE_PG_JOBS, else DEFAULT_JOBS."""
    try:
        return max(1, int(os.environ.get("CRMPIPE_PG_JOBS", DEFAULT_JOBS)))
    except ValueError:
        return DEFAULT_JOBS


def _sql_job(*statements: str) -> Callable[[psycopg.Connection], int]:
    def run(conn: psycopg.Connection) -> int:
        for s in statements:
            conn.execute(s)
        return 0

    return run


def _index_job(idx: ddl.IndexSpec) -> Callable[[psycopg.Connection], int]:
    mem = (
        GIN_MAINTENANCE_WORK_MEM
        if idx.kind in GIN_KINDS
        else BUILD_SETTINGS["maintenance_work_mem"]
    )
    return _sql_job(f"SET maintenance_work_mem = '{mem}'", idx.sql)


def _constraints_job(
    schema: str, plans: dict[str, TablePlan], orphans: dict[str, int]
) -> Callable[[psycopg.Connection], int]:
    """Primary keys from the unique indexes, then foreign keys: added NOT VALID, validated
    when no row is orphaned, otherwise left NOT VALID with the orphans counted (the verify
    phase fails the publish when a table of ddl.STRICT_FK_TABLES has any). Keyed marts
    (ddl.MART_KEYS: the leads product) get theirs too."""
    models = [p for p in plans.values() if not p.is_mart]
    tables = {p.name: p.table for p in models}
    marts = [p.name for p in plans.values() if p.is_mart and p.name in ddl.MART_KEYS]
    fks = [fk for p in models for fk in ddl.foreign_keys(p.table, tables)]
    fks += [fk for name in marts for fk in ddl.mart_foreign_keys(name, tables)]

    def run(conn: psycopg.Connection) -> int:
        for p in models:
            conn.execute(ddl.add_primary_key(schema, p.table))
        for name in marts:
            conn.execute(ddl.add_primary_key(schema, name))
        for fk in fks:
            conn.execute(ddl.add_foreign_key(schema, fk))
            try:
                with conn.transaction():
                    conn.execute(
                        f"ALTER TABLE {qualified(schema, fk.table)} "
                        f"VALIDATE CONSTRAINT {quote_ident(fk.name)}"
                    )
            except pgerr.ForeignKeyViolation:
                (n,) = conn.execute(ddl.orphan_count(schema, fk)).fetchone()
                orphans[f"{fk.table}.{fk.column}"] = int(n)
        return 0

    return run


def _cost(plan_rows: int, kind: str) -> float:
    # Keys first (cheap, and a failure should come before the long builds), then longest first.
    weight = {"trigram": 6.0, "fulltext": 6.0, "view": 8.0, "primary key": 100.0, "unique": 1.0}
    return plan_rows * weight.get(kind, 1.0)


def copy_name(table: str) -> str:
    """The name of the job COPYing `table` (jobs after it wait on this name)."""
    return f"copy {table}"


def build_jobs(
    schema: str,
    pub: PublishPlan,
    view: search_ddl.SearchView | None,
    trgm_ops: str,
    *,
    contact_text: bool,
    orphans: dict[str, int],
    facility: search_ddl.SearchView | None = None,
    keyed: Callable[[], None] | None = None,
) -> list[Job]:
    """The build of version `schema`: indexes, the facility view, keys, in parallel where
    their locks allow, each as soon as the COPY of its table is done (jobs `copy_name(table)`,
    run in the same `run_jobs`: index builds overlap the COPY of other tables). The keys job
    counts foreign-key orphans into `orphans` and, done, calls `keyed`."""
    plans, tables = pub.plans, pub.model_tables
    copies = frozenset(copy_name(n) for n in plans)
    build: list[Job] = []
    table_index_jobs: list[str] = []
    lookup_indexes = search_ddl.lookup_indexes(schema, view) if view is not None else []
    for p in plans.values():
        if p.is_mart and p.name not in ddl.MART_KEYS:
            continue  # marts are small report tables, read whole: no keys, no indexes
        indexes = (
            ddl.mart_indexes(schema, p.name, tables)
            if p.is_mart
            else ddl.table_indexes(schema, p.table, tables, trgm_ops, contact_text=contact_text)
        )
        # a lookup's index (covering the entity key) replaces the table's of the same name
        mine = [i for i in lookup_indexes if i.table == p.name]
        replaced = {i.name for i in mine}
        indexes = [i for i in indexes if i.name not in replaced] + mine
        for idx in indexes:
            job = Job(
                "index",
                idx.name,
                _index_job(idx),
                after=frozenset({copy_name(p.name)}),
                priority=_cost(p.rows, idx.kind),
            )
            build.append(job)
            table_index_jobs.append(job.name)
    if view is not None:
        copied = copy_name("contact_search")
        view_index_jobs = []
        for idx in search_ddl.search_indexes(schema, view, trgm_ops):
            job = Job(
                "index",
                idx.name,
                _index_job(idx),
                after=frozenset({copied}),
                priority=_cost(plans["contacts"].rows, idx.kind),
            )
            build.append(job)
            view_index_jobs.append(job.name)
        # Statistics (its rows are frozen and the pages all-visible from COPY FREEZE already;
        # a search's first statement counts through index-only scans, which need that).
        build.append(
            Job(
                "analyze",
                "contact_search",
                _sql_job(f"ANALYZE {qualified(schema, 'contact_search')}"),
                after=frozenset([*view_index_jobs, copied]),
            )
        )
        if view.postings:  # the e-mails' token postings (search.pgtokens)
            mem = BUILD_SETTINGS["maintenance_work_mem"]
            build.append(
                Job(
                    "index",
                    pgtokens.POSTINGS,
                    _sql_job(
                        f"SET maintenance_work_mem = '{mem}'",
                        *pgtokens.index_sql(quote_ident(schema), trgm_ops),
                    ),
                    after=frozenset({copy_name(pgtokens.POSTINGS)}),
                    priority=_cost(plans["contacts"].rows, "btree"),
                )
            )
        if view.values:
            values_job = Job(
                "index",
                search_ddl.SEARCH_VALUES,
                _sql_job(
                    *search_ddl.search_values_indexes(schema),
                    f"SET maintenance_work_mem = '{GIN_MAINTENANCE_WORK_MEM}'",
                    *search_ddl.search_values_trigram(schema, trgm_ops),
                ),
                after=frozenset({copy_name(search_ddl.SEARCH_VALUES)}),
                priority=_cost(plans["techstacks"].rows + plans["contacts"].rows // 20, "view"),
            )
            build.append(values_job)
    facility_jobs: list[str] = []
    if facility is not None:
        facility_job = Job(
            "view",
            "facility_search",
            _sql_job(*search_ddl.facility_view_sql(schema, facility)),
            after=copies,
            priority=_cost(plans["entities"].rows, "view"),
        )
        build.append(facility_job)
        facility_jobs.append(facility_job.name)
        build.append(
            Job(
                "vacuum",
                "facility_search",
                _sql_job(f"VACUUM (ANALYZE) {qualified(schema, 'facility_search')}"),
                after=frozenset({facility_job.name}),
            )
        )
    # Keys take locks that conflict with index builds on the same tables (and the facility
    # view's build reads them): after those. Not after contact_search's and search_values'
    # builds, which read only their own tables: the audit trail's sync starts once the keys
    # are there (`keyed`, crmpipe.publish.early_swap), beside those builds.
    keys_job = Job(
        "constraints",
        "keys",
        _constraints_job(schema, plans, orphans),
        after=frozenset(table_index_jobs + facility_jobs) | copies,
        done=keyed,
    )
    build.append(keys_job)
    # Statistics for the planner (the tables' rows are frozen and all-visible from COPY FREEZE).
    build.append(
        Job(
            "analyze",
            "tables",
            _sql_job("ANALYZE " + ", ".join(qualified(schema, n) for n in plans)),
            after=frozenset({keys_job.name}),
        )
    )
    return build
