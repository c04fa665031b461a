"""Evaluation against a truth file: pairwise precision, recall and F1, and cluster figures.

The truth file is a CSV of records and their true ids, keyed either by source row — columns
`file` and `row` (as crmpipe numbers a file's data rows), optionally `source` — or by record id:
the table's key (`contact_id`), `record_id` or `id`. The true id is in `person_id`, `true_id`,
`entity_id` or `cluster_id` (else the last column). Pairs are counted over records (one per
key): a pair is predicted when two records share a golden id, true when they share a true id.
Counting is done with group sizes in SQL (n·(n−1)/2 per group), never by listing pairs, so the
time and memory are linear in the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from crmpipe.errors import CrmpipeError
from crmpipe.model import Table
from crmpipe.resolution.tables import ResolvedTables

TRUE_ID_COLUMNS = ("person_id", "true_id", "entity_id", "cluster_id")


class EvaluationError(CrmpipeError):
    """The truth file can't be used; one line."""


@dataclass
class Evaluation:
    """Pairwise and cluster-level figures of a clustering against the truth."""

    table: str
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    true_clusters: int
    predicted_clusters: int
    exact_clusters: int
    unmatched_truth_rows: int = 0

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def cluster_precision(self) -> float:
        """Share of predicted clusters that are exactly a true one."""
        return self.exact_clusters / self.predicted_clusters if self.predicted_clusters else 1.0

    @property
    def cluster_recall(self) -> float:
        """Share of true clusters found exactly."""
        return self.exact_clusters / self.true_clusters if self.true_clusters else 1.0


def pairwise_metrics(con: duckdb.DuckDBPyConnection, labels: str, table: str = "") -> Evaluation:
    """Figures for `labels`, a relation of one row per record with columns `pred` and `truth`."""
    row = con.execute(
        f"""
        WITH l AS MATERIALIZED (SELECT pred, truth FROM ({labels})),
        p AS (SELECT count(*) AS n FROM l GROUP BY pred),
        t AS (SELECT count(*) AS n FROM l GROUP BY truth),
        pt AS MATERIALIZED (SELECT count(*) AS n, pred, truth FROM l GROUP BY pred, truth),
        -- A cluster is reproduced exactly when its (pred, truth) block is the only block of
        -- its predicted cluster and the only block of its true cluster. Counted with window
        -- functions, not by joining cluster sizes: DuckDB plans an equality of sizes as a
        -- near cross product (most clusters have size 1), which filled 66 GB at 200k rows.
        blocks AS (SELECT count(*) OVER (PARTITION BY pred) AS of_pred,
          count(*) OVER (PARTITION BY truth) AS of_truth FROM pt)
        SELECT (SELECT count(*) FROM l),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM t),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM p),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM pt),
          (SELECT count(*) FROM t), (SELECT count(*) FROM p),
          (SELECT count(*) FROM blocks WHERE of_pred = 1 AND of_truth = 1)
        """
    ).fetchone()
    return Evaluation(table, *(int(v) for v in row))


def _true_id_column(columns: list[str]) -> str:
    for c in TRUE_ID_COLUMNS:
        if c in columns:
            return c
    return columns[-1]


def _id_column(tbl: Table, columns: list[str]) -> str | None:
    """The truth's record-id column, when it is keyed by record id rather than source row."""
    for c in (*tbl.key, "record_id", "id"):
        if c in columns:
            return c
    return None


def evaluate_truth(con: duckdb.DuckDBPyConnection, tbl: Table, truth: Path) -> Evaluation:
    """Evaluate the current resolution of `tbl` against the truth file `truth`."""
    if not truth.is_file():
        raise EvaluationError(f"{truth}: no such truth file")
    t = ResolvedTables(tbl.name)
    rel = con.sql("SELECT * FROM read_csv(?, header = true, all_varchar = true) LIMIT 0",
                  params=[str(truth)])  # fmt: skip
    columns = rel.columns
    if not ("file" in columns and "row" in columns):
        id_col = _id_column(tbl, columns)
        if id_col is None or len(columns) < 2:
            keys = ", ".join((*tbl.key, "record_id", "id"))
            raise EvaluationError(
                f"{truth}: needs columns file, row and a true id, or a record id ({keys}) "
                "and a true id"
            )
        true_col = _true_id_column([c for c in columns if c != id_col])
        return _evaluate_by_id(con, tbl, truth, id_col, true_col)
    true_id = _true_id_column([c for c in columns if c not in ("source", "file", "row")])
    by_source = "AND s.source = t.source " if "source" in columns else ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _truth AS SELECT *, "
        "regexp_replace(file, '^.*[/\\\\]', '') AS _base, CAST(row AS BIGINT) AS _r "
        "FROM read_csv(?, header = true, all_varchar = true)",
        [str(truth)],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _labels AS "
        f'SELECT s.record_id, any_value(s.golden_id) AS pred, any_value(t."{true_id}") AS truth '
        f"FROM {t.sources} s JOIN _truth t ON t._base = regexp_replace(s.file, '^.*[/\\\\]', '') "
        f"AND t._r = s.row {by_source}GROUP BY s.record_id"
    )
    unmatched = con.execute(
        f"SELECT count(*) FROM _truth t ANTI JOIN {t.sources} s ON "
        "t._base = regexp_replace(s.file, '^.*[/\\\\]', '') AND t._r = s.row"
    ).fetchone()[0]
    ev = pairwise_metrics(con, "SELECT pred, truth FROM _labels", tbl.name)
    ev.unmatched_truth_rows = int(unmatched)
    con.execute("DROP TABLE _truth")
    con.execute("DROP TABLE _labels")
    return ev


def _evaluate_by_id(
    con: duckdb.DuckDBPyConnection, tbl: Table, truth: Path, id_col: str, true_id: str
) -> Evaluation:
    """Evaluate against a truth keyed by record id (one row per record id)."""
    t = ResolvedTables(tbl.name)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _truth AS "
        f'SELECT "{id_col}" AS _id, any_value("{true_id}") AS _true '
        "FROM read_csv(?, header = true, all_varchar = true) GROUP BY ALL",
        [str(truth)],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _labels AS "
        "SELECT s.record_id, any_value(s.golden_id) AS pred, any_value(t._true) AS truth "
        f"FROM {t.sources} s JOIN _truth t ON t._id = CAST(s.record_id AS VARCHAR) "
        "GROUP BY s.record_id"
    )
    unmatched = con.execute(
        f"SELECT count(*) FROM _truth t ANTI JOIN {t.sources} s "
        "ON t._id = CAST(s.record_id AS VARCHAR)"
    ).fetchone()[0]
    ev = pairwise_metrics(con, "SELECT pred, truth FROM _labels", tbl.name)
    ev.unmatched_truth_rows = int(unmatched)
    con.execute("DROP TABLE _truth")
    con.execute("DROP TABLE _labels")
    return ev
