"""One run's report content: the run's figures put together as a plain dict of JSON values.

`report_content` reads (through `report.collect` and `report.quality`) and assembles the one
dict that `report.html` draws as a page and `render_json` writes as a document, so both
always say the same thing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

import crmpipe
from crmpipe.report import collect, quality


def check_counts(run: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, int]:
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


def source_summary(
    rejected: dict[str, int], quarantine: list[dict[str, Any]], source_table: dict[str, str]
) -> list[dict[str, Any]]:
    """Rejected and quarantined rows per source (quarantine without a source: per table)."""
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


def report_content(
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
    rid = collect.pick_run(con, run_id)
    run = collect.run_record(con, rid)
    build = collect.build_run(con, rid)
    latest_build = collect.latest_build(con)
    counts_tables = collect.built_tables(con, build)
    source_table = collect.source_tables(con, counts_tables, sources)
    rejected = collect.rejected_by_source(con, rid)
    quarantine, quarantine_note = collect.quarantine_counts(con, build, latest_build)
    checks = quality.checks(con, rid)
    hist = collect.history(con, rid, max(1, history))
    return {
        "crmpipe_version": crmpipe.__version__,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "run": run,
        "build_run_id": build,
        "checks_summary": check_counts(run, checks),
        "steps": collect.steps(con, rid),
        "tables": collect.table_counts(con, build, rejected, source_table),
        "checks": checks,
        "slas": quality.slas(con, rid),
        "schema_changes": collect.schema_changes(con, rid),
        "alerts": collect.alerts(con, rid),
        "sources": source_summary(rejected, quarantine, source_table),
        "quarantine": quarantine,
        "quarantine_note": quarantine_note,
        "rejected_lines": collect.rejected_lines(con, rid),
        "quality": quality.scores(con, rid, [h["run_id"] for h in hist]),
        "null_rates": quality.null_rates(
            con, rid, build is not None and build == latest_build, counts_tables
        ),
        "history": hist,
    }


def render_json(content: dict[str, Any]) -> str:
    """The content as a JSON document (the same dict `report_content` returned)."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
