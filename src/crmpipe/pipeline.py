"""`crmpipe run`: ingest → clean → build → resolve → index, as one transaction, reconciled.

The run is registered in `meta.runs` first; every step's timing and row count goes to
`meta.run_steps`. All warehouse changes of a run commit together, so a run that fails or is
killed leaves the previous build serving. A run with no new files and an unchanged project file
rebuilds nothing (the build fingerprint in `meta.build_state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from crmpipe.build.core import CoreResult, build_core, build_searches, search_table_names
from crmpipe.build.gender import infer_gender
from crmpipe.build.incremental import (
    basis,
    build_fingerprint,
    drop_delta,
    forget_built,
    keep_built,
    merge_core,
    plan,
    save_basis,
    stage_new,
    stored_fingerprint,
    stored_verdict,
)
from crmpipe.build.plain import configured_plain
from crmpipe.build.staging import StageResult, stage_table
from crmpipe.build.written import Written
from crmpipe.clean import install_macros
from crmpipe.config.load import load_config
from crmpipe.config.schema import RESOLVABLE, Config
from crmpipe.errors import CrmpipeError
from crmpipe.ingest.drops import feeding
from crmpipe.ingest.read import FileResult, ingest_source
from crmpipe.marts.build import build_marts
from crmpipe.marts.pii import masked_tables
from crmpipe.quality import alerts
from crmpipe.quality.engine import EXIT_CHECKS_FAILED, Checker, CheckOutcome, record_checks
from crmpipe.quality.incremental import forget as forget_checks
from crmpipe.quality.scores import record_quality
from crmpipe.quality.slas import SlaOutcome, evaluate_slas, record_slas
from crmpipe.quality.specs import all_checks, all_slas
from crmpipe.reporter import Reporter
from crmpipe.resolution.records import snapshot_records
from crmpipe.resolution.references import remap_references
from crmpipe.resolution.run import resolve_table, update_counts
from crmpipe.resolution.tables import built_meanwhile, drop_resolution
from crmpipe.warehouse.compact import SCHEMAS, bloated, compact
from crmpipe.warehouse.connection import (
    WarehouseError,
    commit_without_vacuum,
    connect,
    table_exists,
)
from crmpipe.warehouse.runs import finish_run, record_step, start_run

__all__ = ["EXIT_CHECKS_FAILED", "RunError", "RunSummary", "run"]


class RunError(CrmpipeError):
    """A run failed; the message is one line saying what and where."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass
class StepTiming:
    step: str
    target: str
    seconds: float
    rows: int
    detail: str = ""


@dataclass
class TableCounts:
    """Reconciliation for one canonical table: read = loaded + merged + quarantined + rejected."""

    table: str
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    quarantined: int = 0
    merged: int = 0
    issues: int = 0

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.merged + self.quarantined + self.rejected


@dataclass
class RunSummary:
    run_id: int
    status: str
    seconds: float
    files: list[FileResult] = field(default_factory=list)
    steps: list[StepTiming] = field(default_factory=list)
    tables: list[TableCounts] = field(default_factory=list)
    up_to_date: bool = False
    search_rows: int = 0
    checks: list[CheckOutcome] = field(default_factory=list)
    slas: list[SlaOutcome] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    checks_failed: int = 0  # error checks and SLAs that failed (exit status 3)
    checks_warned: int = 0
    alerts: list[alerts.Delivery] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0, or EXIT_CHECKS_FAILED when an `error` check or SLA failed."""
        return EXIT_CHECKS_FAILED if self.checks_failed else 0

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if f.status == "loaded")

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.status == "skipped")

    def totals(self) -> TableCounts:
        t = TableCounts("total")
        for c in self.tables:
            t.read += c.read
            t.loaded += c.loaded
            t.rejected += c.rejected
            t.quarantined += c.quarantined
            t.merged += c.merged
            t.issues += c.issues
        return t


class _Steps:
    """Times steps, records them in meta.run_steps and tells the reporter."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: int, reporter: Reporter) -> None:
        self.con, self.run_id, self.reporter = con, run_id, reporter
        self.timings: list[StepTiming] = []

    @contextmanager
    def step(self, step: str, target: str) -> Iterator[StepTiming]:
        self.reporter.start(step, target)
        began, t0 = datetime.now(UTC).replace(tzinfo=None), time.perf_counter()
        timing = StepTiming(step, target, 0.0, 0)
        yield timing
        timing.seconds = time.perf_counter() - t0
        self.timings.append(timing)
        record_step(
            self.con, self.run_id, step, target, began, timing.seconds, timing.rows, timing.detail
        )
        self.reporter.end(step, target, timing.rows, timing.seconds, timing.detail)


def _table_counts(con: duckdb.DuckDBPyConnection, cfg: Config) -> list[TableCounts]:
    """Cumulative reconciliation per table from the manifest, staging, core and quarantine."""
    out: list[TableCounts] = []
    for name in cfg.fed_tables():
        sources = cfg.sources_for(name)
        c = TableCounts(name)
        for source, spec in sources.items():
            # Rows of the feeding files only: older dated drops are history, not input.
            hashes = feeding(con, source, spec).hashes
            read, rejected = con.execute(
                "SELECT coalesce(sum(rows_loaded + rows_rejected), 0), "
                "coalesce(sum(rows_rejected), 0) FROM meta.manifest WHERE source = ? "
                "AND (? OR list_contains(?, file_hash))",
                [source, hashes is None, hashes or []],
            ).fetchone()
            c.read, c.rejected = c.read + int(read), c.rejected + int(rejected)
        row = con.execute(
            "SELECT staged, loaded, merged, quarantined, issues FROM meta.table_counts "
            "WHERE table_name = ? ORDER BY run_id DESC LIMIT 1",
            [name],
        ).fetchone()
        if row:
            staged, c.loaded, c.merged, c.quarantined, c.issues = (int(v) for v in row)
            if not sources:  # fed only by other tables' rows: its input is what was staged
                c.read = staged
        out.append(c)
    return out


def run(
    cfg: Config,
    *,
    reporter: Reporter | None = None,
    force: bool = False,
    checks: bool = True,
    full: bool = False,
) -> RunSummary:
    """Run the pipeline for a project; raise RunError (one line) when it fails.

    `full` rebuilds even when nothing changed and resolves every table in full (scoring every
    pair, retraining) instead of building on the last resolution (docs/resolve.md).

    With `checks` (the default) every table is checked right after it is built (rows failing
    `error` checks go to quarantine), then the SLAs and quality scores are measured; a run whose
    `error` checks or SLAs fail ends with status 'checks_failed' (`summary.exit_code` 3).
    """
    reporter = reporter or Reporter()
    t_start = time.perf_counter()
    try:
        con = connect(cfg.warehouse_path)
    except WarehouseError as exc:
        raise RunError(str(exc)) from None
    run_id = start_run(con, str(cfg.path) if cfg.path else None)
    steps = _Steps(con, run_id, reporter)
    summary = RunSummary(run_id, "running", 0.0)
    try:
        con.execute("BEGIN TRANSACTION")
        install_macros(con)
        for name in cfg.sources:
            with steps.step("ingest", name) as s:
                results = ingest_source(con, cfg, name, run_id)
                summary.files += results
                s.rows = sum(r.rows_loaded for r in results)
                loaded = [r for r in results if r.status == "loaded"]
                rejected = sum(r.rows_rejected for r in results)
                s.detail = f"{len(loaded)} new, {len(results) - len(loaded)} already loaded"
                if rejected:
                    s.detail += f", {rejected:,} rejected lines"
                notes = feeding(con, name, cfg.sources[name], run_id).notes
                if notes:
                    s.detail += "; " + "; ".join(notes)
        fingerprint = build_fingerprint(con, cfg, checks)
        if not (force or full) and fingerprint == stored_fingerprint(con):
            summary.up_to_date = True
            summary.checks_failed, summary.checks_warned = stored_verdict(con)
        else:
            _rebuild(con, cfg, run_id, steps, summary, checks, full=full, force=force)
            con.execute(
                "DELETE FROM meta.build_state WHERE key IN "
                "('fingerprint', 'checks_failed', 'checks_warned')"
            )
            con.execute(
                "INSERT INTO meta.build_state VALUES ('fingerprint', ?), ('checks_failed', ?), "
                "('checks_warned', ?)",
                [fingerprint, str(summary.checks_failed), str(summary.checks_warned)],
            )
        commit_without_vacuum(con)
    except (CrmpipeError, duckdb.Error) as exc:
        con.execute("ROLLBACK")
        message = str(exc).splitlines()[0]
        finish_run(con, run_id, "failed", message)
        alerts.notify(con, cfg, run_id, [alerts.run_failed(cfg, run_id, message)], "failed")
        con.close()
        raise RunError(message, run_id) from None
    except BaseException:
        con.execute("ROLLBACK")
        finish_run(con, run_id, "failed", "interrupted")
        alerts.notify(con, cfg, run_id, [alerts.run_failed(cfg, run_id, "interrupted")], "failed")
        con.close()
        raise
    summary.steps = steps.timings
    summary.tables = _table_counts(con, cfg)
    if table_exists(con, "search", "contact_search"):
        summary.search_rows = con.execute("SELECT count(*) FROM search.contact_search").fetchone()[
            0
        ]
    summary.seconds = time.perf_counter() - t_start
    summary.status = "checks_failed" if summary.checks_failed else "success"
    totals = summary.totals()
    message = "up to date" if summary.up_to_date else None
    if summary.checks_failed:
        failed = [o.check.name for o in summary.checks if o.status == "fail"]
        failed += [o.sla.name for o in summary.slas if o.status == "fail"]
        message = (message + "; " if message else "") + (
            f"{summary.checks_failed} error check(s)/SLA(s) failed"
            + (": " + ", ".join(failed[:5]) if failed else "")
        )
    finish_run(
        con,
        run_id,
        summary.status,
        message,
        files_loaded=summary.files_loaded,
        files_skipped=summary.files_skipped,
        rows_read=totals.read,
        rows_loaded=totals.loaded,
        rows_rejected=totals.rejected,
        rows_quarantined=totals.quarantined,
        rows_merged=totals.merged,
    )
    con.execute(
        "UPDATE meta.runs SET checks_failed = ?, checks_warned = ? WHERE run_id = ?",
        [summary.checks_failed, summary.checks_warned, run_id],
    )
    pending = [
        alerts.checks_failed(cfg, run_id, summary.checks, summary.slas, totals.quarantined),
        alerts.schema_changed(con, cfg, run_id),
    ]
    summary.alerts = alerts.notify(con, cfg, run_id, [a for a in pending if a], summary.status)
    con.close()
    return summary


def _rebuild(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    run_id: int,
    steps: _Steps,
    summary: RunSummary,
    checks: bool = True,
    full: bool = False,
    force: bool = False,
) -> None:
    """clean → build (→ check) → resolve → SLAs → index → marts for every table with a source.

    Clean and build are incremental when the run only brings new files (build/incremental.py):
    their rows are cleaned and merged into the last build; the steps' details say which."""
    tables = cfg.fed_tables()
    current = basis(con, cfg, checks)
    resolved = cfg.resolved_tables()
    how = plan(con, cfg, current, full=full or force, resolved=resolved)
    # tables whose deleted rows have piled up (no run's commit vacuums them), written anew
    # before this run reads them (warehouse/compact.py: measured before the run writes
    # anything); a full run writes core and resolved anew anyway, so it looks at meta alone
    piled = bloated(con, SCHEMAS if how.incremental else ("meta",))
    if piled:
        with steps.step("compact", ", ".join(t.table for t in piled)) as s:
            s.rows = sum(t.live for t in piled)
            s.detail = f"{compact(con, piled):,} deleted rows dropped"
    staged: dict[str, StageResult] = {}
    deltas: dict[str, str] = {}
    for name, tbl in tables.items():
        with steps.step("clean", name) as s:
            if how.incremental:
                staged[name], deltas[name] = stage_new(con, cfg, tbl, run_id, how.new_files)
            else:
                staged[name] = stage_table(con, cfg, tbl, run_id)
            s.rows = staged[name].rows
            s.detail = f"{staged[name].issues:,} value issues; {how.reason}"
    built: dict[str, CoreResult] = {}
    written = Written()  # what the run's writers of core say they changed (the index step's)
    specs = all_checks(cfg)
    checker = Checker(specs, run_id) if checks else None

    def build(name: str) -> None:
        """Build and check one table (rows failing `error` checks leave core)."""
        tbl = tables[name]
        with steps.step("build", name) as s:
            if how.incremental:
                quarantining = {c.name for c in specs if c.table == name and c.quarantines}
                r = merge_core(
                    con,
                    tbl,
                    run_id,
                    deltas[name],
                    resolved=name in resolved,
                    check_names=quarantining if checks else set(),
                )
            else:
                r = build_core(con, tbl, run_id, configured_plain(cfg, tbl))
            built[name] = r
            s.rows = r.loaded
            s.detail = f"{r.merged:,} merged duplicates, {r.quarantined:,} quarantined"
            s.detail += "; merged into the last build" if how.incremental else ""
        moved = 0
        if checker is not None:
            # Checked before the next table is built: relationships see final tables, and rows
            # failing `error` checks leave core before anything reads it.
            with steps.step("check", name) as s:
                moved = checker.check_table(con, tbl, r.delta)
                r.loaded, r.quarantined = r.loaded - moved, r.quarantined + moved
                mine = [o for o in checker.outcomes if o.check.table == name]
                s.rows = r.loaded
                bad = sum(o.status != "pass" for o in mine)
                s.detail = f"{len(mine)} checks, {bad} not passing, {moved:,} quarantined"
        written.built(con, r, moved)
        drop_delta(con, r)
        con.execute(
            "INSERT INTO meta.table_counts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, name, r.staged, r.loaded, r.merged, r.quarantined, staged[name].issues],
        )

    later = built_meanwhile(cfg, tables)
    pending: list[Callable[[], object]] = []  # a resolution's provenance, built in the next's
    for name in tables:
        if name not in later:
            build(name)
    for name in RESOLVABLE:
        if name in tables and name not in cfg.resolved_tables():
            drop_resolution(con, name)  # resolution off: no stale golden ids or lineage
            forget_built(con, name)
    for name in cfg.resolved_tables():
        if name not in tables:
            continue
        with steps.step("resolve", name) as s:
            snapshot_records(
                con, tables[name], full=full, merged=built[name].merged_keys,
                plain=configured_plain(cfg, tables[name]),
            )  # fmt: skip

            def meanwhile(name: str = name) -> None:
                """While Splink scores on its own connection: the tables built after this
                one (their checks still see it as built), the last resolution's field-level
                provenance, then this table set aside."""
                while later:
                    build(later.pop(0))
                while pending:
                    pending.pop(0)()
                keep_built(con, name)  # the next incremental run merges into these rows

            res = resolve_table(
                con, tables[name], cfg.resolve_spec(name), run_id, full=full,
                meanwhile=meanwhile, provenance_later=True,
            )  # fmt: skip
            if res.provenance is not None:
                pending.append(res.provenance)
            update_counts(con, name, res)
            written.resolved(con, name, res.touched_keys)
            # what referenced a merged record (contacts an entity, jobs a customer) now
            # points at its golden record
            if remap_references(con, tables, name):
                written.rewritten()
            s.rows = res.golden
            s.detail = (
                f"{res.merged:,} records merged ({res.prepass_pairs:,} pre-pass, "
                f"{res.splink_pairs:,} Splink links)"
            )
            if res.mode == "incremental":
                s.detail += f"; incremental: {res.changed:,} new or changed records scored"
            if res.touched is not None:
                s.detail += f", {res.touched:,} golden records rewritten"
    while pending:  # the last resolution's field-level provenance
        pending.pop(0)()
    for name in cfg.enrich.gender.tables:  # after resolution: the golden rows' first names
        if name in tables:
            with steps.step("gender", name) as s:
                g = infer_gender(con, tables[name], cfg.enrich.gender)
                written.rewritten(name)
                forget_checks(con, name)  # rows rewritten after their checks
                s.rows = g.considered
                s.detail = f"{g.inferred:,} inferred male/female from {g.names:,} first names"
    if checker is not None:
        with steps.step("slas", "all") as s:
            build = {n: (r.staged, r.merged) for n, r in built.items()}
            summary.checks = checker.outcomes
            summary.slas = evaluate_slas(con, cfg, all_slas(cfg), checker.stats, build)
            summary.scores = record_quality(
                con, cfg, run_id, checker.stats, build, summary.checks, summary.slas
            )
            record_checks(con, run_id, summary.checks)
            record_slas(con, run_id, summary.slas)
            statuses = [o.status for o in summary.checks] + [o.status for o in summary.slas]
            summary.checks_failed = statuses.count("fail")
            summary.checks_warned = statuses.count("warn")
            s.rows = len(summary.slas)
            s.detail = (
                f"{len(summary.slas)} SLAs; {summary.checks_failed} failed, "
                f"{summary.checks_warned} warned (checks and SLAs)"
            )
    if search_table_names(cfg):
        with steps.step("index", ", ".join(search_table_names(cfg))) as s:
            for name in masked_tables(cfg):  # masked after the index step (marts)
                written.rewritten(name)
            hint = written.hint() if how.incremental else None
            indexed = build_searches(con, cfg, full=not how.incremental, hint=hint)
            s.rows = sum(b.rows for b in indexed.values())
            s.detail = "; ".join(
                f"{name}: " + ("rebuilt" if b.changed is None else f"{b.changed:,} keys updated")
                for name, b in indexed.items()
            )
    written.drop(con)
    with steps.step("marts", "all") as s:
        marts = build_marts(con, cfg, run_id=run_id)
        for name in masked_tables(cfg):  # rows rewritten after their checks
            forget_checks(con, name)
        s.rows = sum(n for _, n in marts)
        s.detail = f"{len(marts)} models" if marts else "no mart inputs"
    save_basis(con, current)


def run_path(config_path: Path | str | None, **kwargs) -> RunSummary:
    """Load the project file and run it (convenience for scripts)."""
    return run(load_config(config_path), **kwargs)
