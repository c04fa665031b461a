"""Incremental runs: a run whose only change is new files stages and merges just their rows.

A full run re-cleans every raw row and rebuilds every core table; a daily drop adds a few
percent of rows to millions. When the project file, crmpipe's version and the checks switch are
those of the last build and every file that fed it still feeds (`basis`, kept in
`meta.build_state`), the run

- cleans only the new files' rows (`stage_table(files=...)`) and appends them to
  `staging.<table>` (cleaning is row by row, so the rows are those a full clean makes);
- merges them into the table's pre-resolution core (`merge_core`): for each key the new rows
  carry, the winner is chosen among all its staged versions by the full build's rule (newest
  file, then latest row); where a new row wins it replaces the old winner, which becomes a
  merged version; keyless new rows go to quarantine. A resolved table's core holds golden
  rows, so its built rows are kept aside as `core.<table>__unresolved` (a rename before
  resolution) and merged into; the keys merged are handed to resolution's snapshot, which
  compares only their records (resolution/records.py);
- puts the rows the checks had quarantined back into core, so the pipeline's checks run on the
  whole table exactly as after a full build (figures, quarantine and reasons the same).

Anything else falls back to the full rebuild, and `plan()` says why: `--full`, no basis yet,
another version or project file, a source whose feeding files changed (a newer dated drop),
a source with a processor, new columns that change which header a mapping reads, or a resolved
table that another table references (its references are rewritten to golden ids).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import duckdb

import crmpipe
from crmpipe.build.core import CoreResult, Delta
from crmpipe.build.staging import StageResult, stage_table
from crmpipe.config.schema import Config
from crmpipe.ingest.drops import feeding
from crmpipe.ingest.headers import mapped_headers, resolve_header
from crmpipe.model import LINEAGE_COLUMNS, Table, physical_columns
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_columns, table_exists

BASIS_KEY = "basis"
#: Key check name the build gives rows without a key (crmpipe.build.core).
KEY_CHECK = "key_not_null"


@dataclass
class Plan:
    """What this run rebuilds: `incremental`, with the new files per source, or full and why."""

    incremental: bool
    reason: str
    new_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def new_file_count(self) -> int:
        return sum(len(h) for h in self.new_files.values())


def basis(con: duckdb.DuckDBPyConnection, cfg: Config, checks: bool) -> dict:
    """What the build stands on: version, project file digest, checks, and per source the
    feeding file hashes and the raw table's columns."""
    doc = cfg.model_dump(mode="json", exclude={"path", "publish", "warehouse", "alerts"})
    sources: dict[str, dict] = {}
    for name, spec in cfg.sources.items():
        hashes = feeding(con, name, spec).hashes
        if hashes is None:
            hashes = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT file_hash FROM meta.manifest WHERE source = ?", [name]
                ).fetchall()
            ]
        sources[name] = {
            "hashes": sorted(hashes),
            "columns": table_columns(con, "raw", name),
        }
    return {
        "version": crmpipe.__version__,
        "config": hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(),
        "checks": checks,
        "sources": sources,
    }


def save_basis(con: duckdb.DuckDBPyConnection, current: dict) -> None:
    con.execute("DELETE FROM meta.build_state WHERE key = ?", [BASIS_KEY])
    con.execute("INSERT INTO meta.build_state VALUES (?, ?)", [BASIS_KEY, json.dumps(current)])


def _stored(con: duckdb.DuckDBPyConnection) -> dict | None:
    rows = con.execute("SELECT value FROM meta.build_state WHERE key = ?", [BASIS_KEY]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def plan(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    current: dict,
    *,
    full: bool,
    resolved: list[str],
) -> Plan:
    """Incremental when only new files came since the last build; else full, with the reason.

    `resolved`: the tables resolution rewrites (their built rows are kept aside, `keep_built`).
    """
    if full:
        return Plan(False, "full rebuild (asked)")
    old = _stored(con)
    if old is None:
        return Plan(False, "full rebuild: no earlier build to add to")
    for what in ("version", "config", "checks"):
        if old.get(what) != current[what]:
            label = {"version": "crmpipe's version", "config": "the project file"}.get(
                what, "the checks switch"
            )
            return Plan(False, f"full rebuild: {label} changed")
    fed = cfg.fed_tables()
    for name in fed:
        if not all(table_exists(con, s, name) for s in ("staging", "core", "quarantine")):
            return Plan(False, f"full rebuild: {name} has not been built yet")
        expected = [n for n, _ in physical_columns(fed[name])] + [n for n, _ in LINEAGE_COLUMNS]
        if table_columns(con, "staging", name) != expected:
            return Plan(False, f"full rebuild: the columns of staging.{name} changed")
        if name in resolved and not table_exists(con, "core", built_name(name)):
            return Plan(False, f"full rebuild: {name} has no kept build")
        referring = [t for t in fed.values() if any(c.references == name for c in t.all_columns)]
        if name in resolved and referring:
            return Plan(
                False,
                f"full rebuild: {referring[0].name} references resolved {name} (its references "
                "are rewritten to golden ids)",
            )
    new: dict[str, list[str]] = {}
    for source, now in current["sources"].items():
        before = old["sources"].get(source, {"hashes": [], "columns": now["columns"]})
        gone = set(before["hashes"]) - set(now["hashes"])
        if gone:
            return Plan(False, f"full rebuild: the files feeding {source} changed")
        added = sorted(set(now["hashes"]) - set(before["hashes"]))
        if not added:
            continue
        spec = cfg.sources[source]
        if spec.processor:
            return Plan(False, f"full rebuild: {source} has a processor")
        if before["columns"] != now["columns"] and before["columns"]:
            for header in mapped_headers(spec) + [spec.local_ids.by if spec.local_ids else ""]:
                if header and resolve_header(before["columns"], header) != resolve_header(
                    now["columns"], header
                ):
                    return Plan(
                        False, f"full rebuild: new columns of {source} change what {header!r} reads"
                    )
        new[source] = added
    files = sum(len(h) for h in new.values())
    return Plan(True, f"incremental: {files} new file(s)", new)


def built_name(table: str) -> str:
    """The table keeping a resolved table's built rows (before resolution) between runs."""
    return f"{table}__unresolved"


def golden_name(table: str) -> str:
    """Where a resolved table's golden rows wait while an incremental build uses core.<table>
    for the built rows: resolution updates them in place (resolution/touched.py)."""
    return f"{table}__golden"


def keep_built(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Set core.<table> (built and checked, about to be replaced by its golden rows) aside as
    core.<table>__unresolved, for the next incremental run to merge into: a rename, no copy.
    The last golden rows, set aside by `merge_core`, come back as core.<table>."""
    kept = quote_ident(built_name(table))
    con.execute(f"DROP TABLE IF EXISTS core.{kept}")
    con.execute(f"ALTER TABLE core.{quote_ident(table)} RENAME TO {kept}")
    if table_exists(con, "core", golden_name(table)):
        con.execute(
            f"ALTER TABLE core.{quote_ident(golden_name(table))} RENAME TO {quote_ident(table)}"
        )


def forget_built(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop the kept rows of a table no longer resolved (its core is its built rows)."""
    con.execute(f"DROP TABLE IF EXISTS core.{quote_ident(built_name(table))}")
    con.execute(f"DROP TABLE IF EXISTS core.{quote_ident(golden_name(table))}")


def stage_new(
    con: duckdb.DuckDBPyConnection, cfg: Config, tbl: Table, run_id: int, new: dict[str, list[str]]
) -> tuple[StageResult, str]:
    """Clean the new files' rows of `tbl` and append them to staging.<table>; return the result
    (rows: the new rows; issues: the table's) and the temp table holding just the new rows."""
    name = quote_ident(tbl.name)
    delta = f"_crm_delta_{tbl.name}"
    if not any(f.source in new for f in cfg.feeds_for(tbl.name)):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(delta)} AS "
            f"SELECT * FROM staging.{name} LIMIT 0"
        )
        ((issues,),) = con.execute(
            "SELECT count(*) FROM meta.row_issues WHERE table_name = ?", [tbl.name]
        ).fetchall()
        return StageResult(tbl.name, 0, int(issues)), delta
    aside = quote_ident(f"{tbl.name}__crm_prev")
    # stage_table builds staging.<table> and the per-source steps (standardised values, parsed
    # addresses, split names) work on all of it: give it a fresh table holding only new rows.
    con.execute(f"ALTER TABLE staging.{name} RENAME TO {aside}")
    result = stage_table(con, cfg, tbl, run_id, files=new)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(delta)} AS SELECT * FROM staging.{name}"
    )
    con.execute(f"DROP TABLE staging.{name}")
    con.execute(f"ALTER TABLE staging.{aside} RENAME TO {name}")
    con.execute(f"INSERT INTO staging.{name} SELECT * FROM {quote_ident(delta)}")
    return result, delta


def merge_core(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    run_id: int,
    delta: str,
    *,
    resolved: bool,
    check_names: set[str],
) -> CoreResult:
    """core.<table> as build_core would make it from all staged rows, built from the last
    build's rows and the new ones in `delta`.

    A `resolved` table's core holds golden rows: its built rows kept aside (`keep_built`) come
    back in their place; the others merge in place. Rows quarantined by the checks named in
    `check_names` go back to core, to be checked again with the rest; keyless rows stay
    quarantined. `CoreResult.merged_keys` names the temp table of the keys whose rows changed
    (the new winners' and those back from quarantine)."""
    name = quote_ident(tbl.name)
    keys = [quote_ident(k) for k in tbl.key]
    key_list = ", ".join(keys)
    has_key = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    core_cols = [n for n, _ in physical_columns(tbl)] + [
        "_source",
        "_file",
        "_row",
        "_run_id",
        "_loaded_at",
    ]
    cols = ", ".join(quote_ident(c) for c in core_cols)
    d = quote_ident(delta)
    # the winner of each key the new rows carry, among all its staged versions; kept where it
    # is a new row (it replaces the key's old row)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _crm_win AS SELECT s.rowid AS _sid, {key_list}, "
        f"_source, _file_hash FROM staging.{name} s SEMI JOIN (SELECT DISTINCT {key_list} "
        f"FROM {d} WHERE {has_key}) k USING ({key_list}) QUALIFY row_number() OVER ("
        f"PARTITION BY {key_list} ORDER BY _file_mtime DESC, _file DESC, _row DESC) = 1"
    )
    con.execute(
        "DELETE FROM _crm_win WHERE (_source, _file_hash) NOT IN "
        f"(SELECT DISTINCT _source, _file_hash FROM {d})"
    )
    # the keys whose core rows this merge replaces, adds or brings back from quarantine: a
    # resolution's snapshot compares only their records (resolution/records.py), not every one
    merged_keys = f"_crm_merged_{tbl.name}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(merged_keys)} AS SELECT {key_list} "
        f"FROM _crm_win UNION SELECT {key_list} FROM quarantine.{name} "
        f"WHERE _check <> ? AND {has_key}",
        [KEY_CHECK],
    )
    if resolved:  # the golden rows wait aside for resolution (keep_built brings them back)
        con.execute(f"DROP TABLE IF EXISTS core.{quote_ident(golden_name(tbl.name))}")
        con.execute(f"ALTER TABLE core.{name} RENAME TO {quote_ident(golden_name(tbl.name))}")
        con.execute(f"ALTER TABLE core.{quote_ident(built_name(tbl.name))} RENAME TO {name}")
    # the rows taken out and put in are kept aside for the checks (quality.incremental)
    changes = Delta(quote_ident(f"_crm_left_{tbl.name}"), quote_ident(f"_crm_came_{tbl.name}"))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {changes.left} AS SELECT c.rowid AS _crm_rid, c.* "
        f"FROM core.{name} c SEMI JOIN _crm_win USING ({key_list})"
    )
    con.execute(f"DELETE FROM core.{name} WHERE rowid IN (SELECT _crm_rid FROM {changes.left})")
    # rows the checks quarantined return to core (checked again with the rest) unless a new
    # row replaces them; rows of other quarantines (a mart's repeats) are made again by their
    # step
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {changes.came} AS SELECT {cols} FROM quarantine.{name} "
        "WHERE _check <> ? AND list_has_all(?, string_split(_check, ', ')) "
        f"AND ({key_list}) NOT IN (SELECT ({key_list}) FROM _crm_win)",
        [KEY_CHECK, sorted(check_names)],
    )
    con.execute(f"DELETE FROM quarantine.{name} WHERE _check <> ?", [KEY_CHECK])
    con.execute(
        f"INSERT INTO {changes.came} SELECT {', '.join('s.' + quote_ident(c) for c in core_cols)} "
        f"FROM staging.{name} s WHERE s.rowid IN (SELECT _sid FROM _crm_win)"
    )
    con.execute(f"INSERT INTO core.{name} BY NAME SELECT * FROM {changes.came}")
    con.execute("DROP TABLE _crm_win")
    con.execute(
        f"INSERT INTO quarantine.{name} BY NAME SELECT *, '{KEY_CHECK}' AS _check, "
        "'missing key: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote_ident(k)} IS NULL THEN '{k}' END" for k in tbl.key)
        + f") AS _reason, {int(run_id)}::BIGINT AS _quarantined_run FROM {d} WHERE NOT ({has_key})"
    )
    # a full build stamps every quarantined row with the run that made it
    con.execute(f"UPDATE quarantine.{name} SET _quarantined_run = ?", [run_id])
    con.execute(f"DROP TABLE {d}")
    ((staged,),) = con.execute(f"SELECT count(*) FROM staging.{name}").fetchall()
    ((loaded,),) = con.execute(f"SELECT count(*) FROM core.{name}").fetchall()
    ((quarantined,),) = con.execute(f"SELECT count(*) FROM quarantine.{name}").fetchall()
    merged = staged - loaded - quarantined
    return CoreResult(
        tbl.name, staged, loaded, merged, quarantined, merged_keys=merged_keys, delta=changes
    )


def drop_delta(con: duckdb.DuckDBPyConnection, result: CoreResult) -> None:
    """Drop the copies of the rows `merge_core` took out of core and put in (once checked)."""
    if result.delta is not None:
        con.execute(f"DROP TABLE IF EXISTS {result.delta.left}")
        con.execute(f"DROP TABLE IF EXISTS {result.delta.came}")


def build_fingerprint(con: duckdb.DuckDBPyConnection, cfg: Config, checks: bool = True) -> str:
    """What the build depends on: the loaded files, the project file's mapping, the version."""
    files = con.execute(
        "SELECT source, file_hash FROM meta.manifest ORDER BY source, file_hash"
    ).fetchall()
    doc = {
        "version": crmpipe.__version__,
        "config": cfg.model_dump(mode="json", exclude={"path", "publish", "warehouse", "alerts"}),
        "checks": checks,
        "files": files,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def stored_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the build that serves (None before the first)."""
    row = con.execute("SELECT value FROM meta.build_state WHERE key = 'fingerprint'").fetchone()
    return row[0] if row else None


def stored_verdict(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """The checks verdict of the build that still serves (for a run that rebuilt nothing)."""
    rows = dict(
        con.execute(
            "SELECT key, value FROM meta.build_state "
            "WHERE key IN ('checks_failed', 'checks_warned')"
        ).fetchall()
    )
    return int(rows.get("checks_failed", 0)), int(rows.get("checks_warned", 0))
