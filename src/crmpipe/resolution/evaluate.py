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
from crmpipe.sqltext import quote_ident

TRUE_ID_COLUMNS = (
    "person_id", "facility_id", "true_customer_id", "true_id", "entity_id", "cluster_id",
)  # fmt: skip
#: The columns that key a truth by source row.
SOURCE_ROW = ("source", "file", "row")
#: A truth file's flag of rows that are expected in rejects (never in a table): left out.
MALFORMED = "malformed"
#: A true-id column that says which table the truth is about.
TRUTH_TABLES = {
    "person_id": "contacts", "facility_id": "entities", "true_customer_id": "customers",
}  # fmt: skip


def truth_tables(truth: Path, names: list[str]) -> list[str]:
    """The resolved tables `names` a truth file is about: those its true-id column names
    (`person_id` → contacts, `facility_id` → entities), else all of them."""
    if not truth.is_file():
        return names
    with truth.open(encoding="utf-8", errors="replace") as f:
        header = [c.strip().strip('"') for c in f.readline().strip().split(",")]
    wanted = {TRUTH_TABLES[c] for c in header if c in TRUTH_TABLES}
    picked = [n for n in names if n in wanted]
    if wanted and not picked:
        raise EvaluationError(
            f"{truth}: a truth for {', '.join(sorted(wanted))}, which resolution does not cover"
        )
    return picked or names


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
    rel = con.sql("SELECT * FROM read_csv(?, header = true, all_varchar = true) LIMIT 0",
                  params=[str(truth)])  # fmt: skip
    columns = [c for c in rel.columns if c != MALFORMED]
    read = "FROM read_csv(?, header = true, all_varchar = true)"
    if MALFORMED in rel.columns:  # rows meant to be rejected are in no table
        read += f" WHERE lower(coalesce({MALFORMED}, '')) NOT IN ('1', 'true', 't', 'yes', 'y')"
    if "row" in columns and ("file" in columns or "source" in columns):
        true_id = quote_ident(_true_id_column([c for c in columns if c not in SOURCE_ROW]))
        base = "regexp_replace(file, '^.*[/\\\\]', '')" if "file" in columns else "NULL"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _truth AS SELECT *, {true_id} AS _true, "
            f"{base} AS _base, CAST(row AS BIGINT) AS _r {read}",
            [str(truth)],
        )
        on = "t._r = s.row"
        if "file" in columns:
            on += " AND t._base = regexp_replace(s.file, '^.*[/\\\\]', '')"
        if "source" in columns:
            on += " AND s.source = t.source"
        return _score(con, tbl, on)
    id_col = _id_column(tbl, columns)
    if id_col is None or len(columns) < 2:
        keys = ", ".join((*tbl.key, "record_id", "id"))
        raise EvaluationError(
            f"{truth}: needs columns file, row and a true id, or a record id ({keys}) and a true id"
        )
    true_id = quote_ident(_true_id_column([c for c in columns if c != id_col]))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _truth AS SELECT {quote_ident(id_col)} AS _id, "
        f"any_value({true_id}) AS _true {read} GROUP BY ALL",
        [str(truth)],
    )
    return _score(con, tbl, "t._id = CAST(s.record_id AS VARCHAR)")


def _score(con: duckdb.DuckDBPyConnection, tbl: Table, on: str) -> Evaluation:
    """Figures for the records of `tbl`'s lineage matched to the temp table `_truth` by `on`
    (a join condition of code's own, over `s` the lineage and `t` the truth), and the count
    of truth rows that match no record."""
    t = ResolvedTables(tbl.name)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _labels AS "
        "SELECT s.record_id, any_value(s.golden_id) AS pred, any_value(t._true) AS truth "
        f"FROM {t.sources} s JOIN _truth t ON {on} GROUP BY s.record_id"
    )
    unmatched = con.execute(
        f"SELECT count(*) FROM _truth t ANTI JOIN {t.sources} s ON {on}"
    ).fetchone()[0]
    ev = pairwise_metrics(con, "SELECT pred, truth FROM _labels", tbl.name)
    ev.unmatched_truth_rows = int(unmatched)
    con.execute("DROP TABLE _truth")
    con.execute("DROP TABLE _labels")
    return ev
