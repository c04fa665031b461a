"""`crmpipe report [RUN]`: one run's data-quality report as a self-contained HTML page or JSON.

`collect` reads the run registry and the data-quality tables of `meta` (DESIGN §10; the
contract is `warehouse.META_DDL`) into a plain dict of JSON values — the report's content;
`render_html` and `render_json` turn that same dict into a page or a document, so both always
say the same thing. The page has inline CSS and inline SVG charts (`svgcharts`), no script and
no external resource: it opens offline, and a Content-Security-Policy forbids it to fetch
anything. Sections whose tables are empty (or absent, in a warehouse made by an older version)
say so in a sentence instead of disappearing.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

import crmpipe
from crmpipe.errors import CrmpipeError
from crmpipe.jsonvalues import json_value
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import connect, table_columns, table_exists

#: Quality dimensions, in the order the report shows them (meta.quality_scores.dimension).
DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "timeliness", "overall")

#: check/SLA status words → pass | warn | fail | skip (what the page colours them by).
STATUS_CLASS = {
    "pass": "pass",
    "passed": "pass",
    "ok": "pass",
    "success": "pass",
    "warn": "warn",
    "warned": "warn",
    "warning": "warn",
    "fail": "fail",
    "failed": "fail",
    "error": "fail",
    "skip": "skip",
    "skipped": "skip",
    # run statuses (meta.runs.status)
    "checks_failed": "fail",
    "interrupted": "fail",
    "running": "skip",
}

#: Columns of a quarantine table that name the check and the reason (first one present wins).
QUARANTINE_CHECK_COLUMNS = ("_check", "check_name", "_check_name")
QUARANTINE_RUN_COLUMNS = ("_quarantined_run", "_quarantine_run_id")

#: How many rejected lines of the run the report lists.
REJECT_SAMPLE = 20


class ReportError(CrmpipeError):
    """The report can't be made (no runs yet, unknown run id, bad output path): one line."""


def status_class(status: str | None) -> str:
    """pass | warn | fail | skip for a status word (unknown words count as skip)."""
    return STATUS_CLASS.get((status or "").strip().lower(), "skip")


def check_outcome(status: str | None, severity: str | None) -> str:
    """A check's outcome: a failing check of severity `warn` is a warning, not a failure."""
    outcome = status_class(status)
    if outcome == "fail" and (severity or "").strip().lower() in ("warn", "warning"):
        return "warn"
    return outcome


# --- reading the warehouse -------------------------------------------------------------------


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table_exists(con, "meta", table)


def _pick_run(con: duckdb.DuckDBPyConnection, run_id: int | None) -> int:
    """The run asked for, or the newest finished one; ReportError saying what to do."""
    if not _has(con, "runs"):
        raise ReportError("no runs yet: run 'crmpipe run' first")
    first, last = con.execute("SELECT min(run_id), max(run_id) FROM meta.runs").fetchone()
    if last is None:
        raise ReportError("no runs yet: run 'crmpipe run' first")
    if run_id is None:
        row = con.execute(
            "SELECT max(run_id) FROM meta.runs WHERE status IS DISTINCT FROM 'running'"
        ).fetchone()
        return int(row[0] if row[0] is not None else last)
    if not con.execute("SELECT count(*) FROM meta.runs WHERE run_id = ?", [run_id]).fetchone()[0]:
        raise ReportError(
            f"no run {run_id}: runs go from {first} to {last} (see 'crmpipe runs'); "
            "leave RUN out for the latest"
        )
    return run_id


def _run(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, Any]:
    cols = set(table_columns(con, "meta", "runs"))
    extra = ", ".join(
        c if c in cols else f"NULL::BIGINT AS {c}" for c in ("checks_failed", "checks_warned")
    )
    (row,) = _records(
        con,
        "SELECT run_id, started_at, finished_at, "
        "date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, status, "
        "config_path, coalesce(files_loaded, 0) AS files_loaded, "
        "coalesce(files_skipped, 0) AS files_skipped, coalesce(rows_read, 0) AS rows_read, "
        "coalesce(rows_loaded, 0) AS rows_loaded, coalesce(rows_rejected, 0) AS rows_rejected, "
        "coalesce(rows_quarantined, 0) AS rows_quarantined, "
        f"coalesce(rows_merged, 0) AS rows_merged, {extra}, message "
        "FROM meta.runs WHERE run_id = ?",
        [run_id],
    )
    return row


def _build_run(con: duckdb.DuckDBPyConnection, run_id: int) -> int | None:
    """The run whose build the warehouse had after `run_id` (an up-to-date run builds nothing)."""
    if not _has(con, "table_counts"):
        return None
    (found,) = con.execute(
        "SELECT max(run_id) FROM meta.table_counts WHERE run_id <= ?", [run_id]
    ).fetchone()
    return int(found) if found is not None else None


def _latest_build(con: duckdb.DuckDBPyConnection) -> int | None:
    if not _has(con, "table_counts"):
        return None
    (found,) = con.execute("SELECT max(run_id) FROM meta.table_counts").fetchone()
    return int(found) if found is not None else None


def _source_tables(
    con: duckdb.DuckDBPyConnection, tables: list[str], sources: dict[str, str] | None
) -> dict[str, str]:
    """source → canonical table: from the project file when given, else from staging rows."""
    if sources:
        return dict(sources)
    out: dict[str, str] = {}
    for table in tables:
        if "_source" not in table_columns(con, "staging", table):
            continue
        rows = con.execute(
            f"SELECT DISTINCT _source FROM staging.{quote_ident(table)} WHERE _source IS NOT NULL"
        ).fetchall()
        out.update({r[0]: table for r in rows})
    return out


def _rejected_by_source(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, int]:
    """Rejected lines per source over every file loaded up to this run (as meta.runs counts)."""
    if not _has(con, "manifest"):
        return {}
    rows = con.execute(
        "SELECT source, coalesce(sum(rows_rejected), 0) FROM meta.manifest "
        "WHERE run_id <= ? GROUP BY source ORDER BY source",
        [run_id],
    ).fetchall()
    return {s: int(n) for s, n in rows}


def _table_counts(
    con: duckdb.DuckDBPyConnection,
    build: int | None,
    rejected: dict[str, int],
    source_table: dict[str, str],
) -> list[dict[str, Any]]:
    """Per table: read = loaded + merged + quarantined + rejected, as of the run's build."""
    if build is None:
        return []
    rows = _records(
        con,
        "SELECT table_name AS table, coalesce(staged, 0) AS staged, coalesce(loaded, 0) AS loaded, "
        "coalesce(merged, 0) AS merged, coalesce(quarantined, 0) AS quarantined, "
        "coalesce(issues, 0) AS issues FROM meta.table_counts WHERE run_id = ? "
        "ORDER BY table_name",
        [build],
    )
    out = []
    for r in rows:
        rej = sum(n for s, n in rejected.items() if source_table.get(s) == r["table"])
        read = r["staged"] + rej
        out.append(
            {
                "table": r["table"],
                "read": read,
                "loaded": r["loaded"],
                "merged": r["merged"],
                "quarantined": r["quarantined"],
                "rejected": rej,
                "value_issues": r["issues"],
                "balanced": read == r["loaded"] + r["merged"] + r["quarantined"] + rej,
            }
        )
    return out


def _quarantine(
    con: duckdb.DuckDBPyConnection, build: int | None, latest_build: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Quarantined rows per table, source and check, and a note when they can't be known.

    Quarantine tables hold the latest build's rows; for an older build only rows stamped with
    that build's run id (when the tables carry one) can be counted.
    """
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine' "
            "ORDER BY table_name"
        ).fetchall()
    ]
    if not names:
        return [], None
    current = build is not None and build == latest_build
    out: list[dict[str, Any]] = []
    note = None
    for name in names:
        cols = table_columns(con, "quarantine", name)
        run_col = next((c for c in QUARANTINE_RUN_COLUMNS if c in cols), None)
        if current:
            where, params = "", []
        elif run_col is not None and build is not None:
            where, params = f" WHERE {quote_ident(run_col)} = ?", [build]
        else:
            note = "quarantined rows are kept for the latest build only"
            continue
        source = "_source" if "_source" in cols else "NULL"
        check_col = next((c for c in QUARANTINE_CHECK_COLUMNS if c in cols), None)
        check = quote_ident(check_col) if check_col else "NULL"
        out += _records(
            con,
            f'SELECT ? AS "table", {source}::VARCHAR AS "source", {check}::VARCHAR AS "check", '
            f'count(*) AS "rows" FROM quarantine.{quote_ident(name)}{where} '
            'GROUP BY ALL ORDER BY "rows" DESC, "source", "check"',
            [name, *params],
        )
    return out, note


def _checks(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    if not _has(con, "check_results"):
        return []
    rows = _records(
        con,
        "SELECT table_name AS table, column_name AS column, check_name AS check, "
        "check_type AS type, severity, status, failed_rows, total_rows, measured, threshold, "
        "message, origin, seconds FROM meta.check_results WHERE run_id = ? "
        "ORDER BY table_name, column_name NULLS FIRST, check_name",
        [run_id],
    )
    order = {"fail": 0, "warn": 1, "skip": 2, "pass": 3}
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])
    rows.sort(key=lambda r: order[r["outcome"]])  # stable: failures first, then by table
    return rows


def _slas(con: duckdb.DuckDBPyConnection, run_id: int) -> list[dict[str, Any]]:
    if not _has(con, "sla_results"):
        return []
    severity = "severity" if "severity" in table_columns(con, "meta", "sla_results") else "NULL"
    rows = _records(
        con,
        "SELECT sla_name AS name, table_name AS table, column_name AS column, metric, measured, "
        f"target, comparison, unit, {severity}::VARCHAR AS severity, status, message "
        "FROM meta.sla_results WHERE run_id = ? ORDER BY sla_name",
        [run_id],
    )
    for r in rows:
        r["outcome"] = check_outcome(r["status"], r["severity"])
    return rows


def _check_counts(run: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, int]:
    """Checks failed/warned: meta.runs' figures, else counted from the check results."""
    counted = {k: sum(1 for c in checks if c["outcome"] == k) for k in ("pass", "warn", "fail")}
    failed = run.get("checks_failed")
    warned = run.get("checks_warned")
    return {
        "total": len(checks),
        "passed": counted["pass"],
        "failed": int(failed) if failed is not None else counted["fail"],
        "warned": int(warned) if warned is not None else counted["warn"],
    }


def _history(con: duckdb.DuckDBPyConnection, run_id: int, n: int) -> list[dict[str, Any]]:
    cols = set(table_columns(con, "meta", "runs"))
    extra = ", ".join(
        c if c in cols else f"NULL::BIGINT AS {c}" for c in ("checks_failed", "checks_warned")
    )
    return _records(
        con,
        "SELECT * FROM (SELECT run_id, started_at, "
        "date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, status, "
        "coalesce(rows_read, 0) AS rows_read, coalesce(rows_loaded, 0) AS rows_loaded, "
        "coalesce(rows_rejected, 0) AS rows_rejected, "
        f"coalesce(rows_quarantined, 0) AS rows_quarantined, {extra}, message "
        "FROM meta.runs WHERE run_id <= ? ORDER BY run_id DESC LIMIT ?) ORDER BY run_id",
        [run_id, n],
    )


def _quality(con: duckdb.DuckDBPyConnection, run_id: int, runs: list[int]) -> dict[str, Any]:
    """Scores per table and dimension for this run, and each table's overall score per run."""
    empty: dict[str, Any] = {"run_id": None, "latest": {}, "runs": runs, "overall": {}}
    if not _has(con, "quality_scores") or not runs:
        return empty
    (scored,) = con.execute(
        "SELECT max(run_id) FROM meta.quality_scores WHERE run_id <= ?", [run_id]
    ).fetchone()
    latest: dict[str, dict[str, float]] = {}
    if scored is not None:
        for table, dim, score in con.execute(
            "SELECT table_name, dimension, avg(score) FROM meta.quality_scores WHERE run_id = ? "
            "GROUP BY ALL ORDER BY table_name, dimension",
            [scored],
        ).fetchall():
            latest.setdefault(table, {})[dim] = json_value(score)
    placeholders = ", ".join("?" for _ in runs)
    # A table's overall score, else the mean of the dimensions it was scored on.
    rows = con.execute(
        "SELECT run_id, table_name, coalesce(avg(score) FILTER (WHERE dimension = 'overall'), "
        "avg(score)) FROM meta.quality_scores "
        f"WHERE run_id IN ({placeholders}) GROUP BY ALL ORDER BY table_name, run_id",
        runs,
    ).fetchall()
    overall: dict[str, list[float | None]] = {}
    index = {r: i for i, r in enumerate(runs)}
    for run, table, score in rows:
        overall.setdefault(table, [None] * len(runs))[index[run]] = json_value(score)
    return {
        "run_id": int(scored) if scored is not None else None,
        "latest": latest,
        "runs": runs,
        "overall": overall,
    }


def _null_rates(
    con: duckdb.DuckDBPyConnection, run_id: int, current: bool, tables: list[str]
) -> dict[str, Any]:
    """Null share per column: meta.column_profiles of the run, else measured on core now.

    Measuring is only honest for the build the core tables hold, so older runs without
    profiles get none.
    """
    if _has(con, "column_profiles"):
        (profiled,) = con.execute(
            "SELECT max(run_id) FROM meta.column_profiles WHERE run_id <= ?", [run_id]
        ).fetchone()
        if profiled is not None:
            out: dict[str, list[dict[str, Any]]] = {}
            for r in _records(
                con,
                "SELECT table_name AS table, column_name AS column, row_count AS rows, "
                "null_count AS nulls FROM meta.column_profiles WHERE run_id = ? "
                "ORDER BY table_name, column_name",
                [profiled],
            ):
                out.setdefault(r.pop("table"), []).append(_rate(r))
            return {"origin": "meta.column_profiles", "run_id": int(profiled), "tables": out}
    if not current:
        return {"origin": None, "run_id": None, "tables": {}}
    out = {}
    for table in tables:
        cols = [c for c in table_columns(con, "core", table) if not c.startswith("_")]
        if not cols:
            continue
        counts = ", ".join(f"count({quote_ident(c)})" for c in cols)
        total, *present = con.execute(
            f"SELECT count(*), {counts} FROM core.{quote_ident(table)}"
        ).fetchone()
        out[table] = [
            _rate({"column": c, "rows": int(total), "nulls": int(total) - int(p)})
            for c, p in zip(cols, present, strict=True)
        ]
    return {"origin": "core tables (measured now)", "run_id": run_id, "tables": out}


def _rate(r: dict[str, Any]) -> dict[str, Any]:
    rows, nulls = r.get("rows") or 0, r.get("nulls") or 0
    r["null_rate"] = round(100.0 * nulls / rows, 4) if rows else None
    return r


def _sources(
    rejected: dict[str, int], quarantine: list[dict[str, Any]], source_table: dict[str, str]
) -> list[dict[str, Any]]:
    per: dict[str, dict[str, Any]] = {}
    for s, n in rejected.items():
        per.setdefault(s, {"source": s, "table": source_table.get(s), "rejected": 0})
        per[s]["rejected"] = n
    for q in quarantine:
        s = q["source"] if q["source"] is not None else f"({q['table']})"
        entry = per.setdefault(s, {"source": s, "table": q["table"], "rejected": 0})
        entry["quarantined"] = entry.get("quarantined", 0) + q["rows"]
    for entry in per.values():
        entry.setdefault("quarantined", 0)
    return sorted(per.values(), key=lambda e: e["source"])


def collect(
    con: duckdb.DuckDBPyConnection,
    run_id: int | None = None,
    history: int = 10,
    *,
    sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report's content for one run (default: the newest finished) as plain JSON values.

    `history` is how many runs (up to and including this one) the history table and the
    quality chart cover; `sources` maps source names to canonical tables (from the project
    file) and is read from the staging tables when left out.
    """
    rid = _pick_run(con, run_id)
    run = _run(con, rid)
    build = _build_run(con, rid)
    latest_build = _latest_build(con)
    counts_tables = (
        [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT table_name FROM meta.table_counts WHERE run_id = ? ORDER BY 1",
                [build],
            ).fetchall()
        ]
        if build is not None
        else []
    )
    source_table = _source_tables(con, counts_tables, sources)
    rejected = _rejected_by_source(con, rid)
    quarantine, quarantine_note = _quarantine(con, build, latest_build)
    checks = _checks(con, rid)
    hist = _history(con, rid, max(1, history))
    steps = _records(
        con,
        "SELECT step, target, started_at, seconds, rows, detail FROM meta.run_steps "
        "WHERE run_id = ? ORDER BY started_at, step, target",
        [rid],
    )
    schema_changes = (
        _records(
            con,
            "SELECT source, file, change, column_name AS column, detected_at "
            "FROM meta.schema_changes WHERE run_id = ? ORDER BY source, file, column_name",
            [rid],
        )
        if _has(con, "schema_changes")
        else []
    )
    alerts = (
        _records(
            con,
            "SELECT sent_at, url, event, status, attempts, message FROM meta.alerts "
            "WHERE run_id = ? ORDER BY sent_at",
            [rid],
        )
        if _has(con, "alerts")
        else []
    )
    reject_lines = (
        _records(
            con,
            "SELECT source, file, line, column_name AS column, error_type, message "
            "FROM meta.rejects WHERE run_id = ? ORDER BY source, file, line LIMIT ?",
            [rid, REJECT_SAMPLE],
        )
        if _has(con, "rejects")
        else []
    )
    return {
        "crmpipe_version": crmpipe.__version__,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "run": run,
        "build_run_id": build,
        "checks_summary": _check_counts(run, checks),
        "steps": steps,
        "tables": _table_counts(con, build, rejected, source_table),
        "checks": checks,
        "slas": _slas(con, rid),
        "schema_changes": schema_changes,
        "alerts": alerts,
        "sources": _sources(rejected, quarantine, source_table),
        "quarantine": quarantine,
        "quarantine_note": quarantine_note,
        "rejected_lines": reject_lines,
        "quality": _quality(con, rid, [h["run_id"] for h in hist]),
        "null_rates": _null_rates(
            con, rid, build is not None and build == latest_build, counts_tables
        ),
        "history": hist,
    }


# --- rendering -------------------------------------------------------------------------------


def render_json(content: dict[str, Any]) -> str:
    """The content as a JSON document (the same dict `collect` returned)."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def render_html(content: dict[str, Any]) -> str:
    """The content as one self-contained HTML page (see `crmpipe.report.html`)."""
    from crmpipe.report.html import page

    return page(content)


# --- writing ---------------------------------------------------------------------------------


def default_path(warehouse: Path, run_id: int, as_json: bool) -> Path:
    """reports/run-<id>.html (or .json) beside the warehouse file."""
    return warehouse.parent / "reports" / f"run-{run_id}.{'json' if as_json else 'html'}"


def write_report(
    content: dict[str, Any], output: Path | str | None, *, warehouse: Path, as_json: bool = False
) -> Path | None:
    """Write the rendered report; None when `output` is '-' (written to standard output).

    `output` may be a file, an existing directory (or one named with a trailing slash) to put
    run-<id>.html in, or None for the default path beside the warehouse.
    """
    text = render_json(content) if as_json else render_html(content)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    run_id = content["run"]["run_id"]
    name = default_path(warehouse, run_id, as_json).name
    if output is None:
        path = default_path(warehouse, run_id, as_json)
    elif Path(output).is_dir() or str(output).endswith(("/", "\\")):
        path = Path(output) / name
    else:
        path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    return path


def report(
    config: Any,
    run: int | None = None,
    output: Path | str | None = None,
    *,
    as_json: bool = False,
    history: int = 10,
) -> tuple[Path | None, dict[str, Any]]:
    """Collect and write one run's report; return (path or None for '-', content).

    `config` is a loaded `Config` (its warehouse, and its sources' tables) or a warehouse path.
    """
    from crmpipe.config.schema import Config

    if isinstance(config, Config):
        warehouse = config.warehouse_path
        sources = {name: spec.table for name, spec in config.sources.items()}
    else:
        warehouse, sources = Path(config), None
    con = connect(warehouse, read_only=True)
    try:
        content = collect(con, run, history, sources=sources)
    finally:
        con.close()
    return write_report(content, output, warehouse=warehouse, as_json=as_json), content
