"""Golden ids that stay put across runs.

A cluster that holds most (more than half) of the members of a previous golden record keeps that
record's id; when it could keep several, the one it holds most members of wins. Any other
cluster is named after its smallest member key, so a record alone keeps its own id and a new
duplicate folds into the older record's id.
"""

from __future__ import annotations

import duckdb

from crmpipe.resolution.prepared import write_plain


def assign_golden_ids(
    con: duckdb.DuckDBPyConnection,
    records: str,
    key: str,
    components: str,
    previous: str | None,
    out: str,
    *,
    taken: str | None = None,
) -> None:
    """Create `out` (_rid, _cluster, _size, golden_id) for every record.

    `components` (_rid, _cluster) lists the records of multi-record clusters; `previous`
    (key, golden_id), when given, is the last run's lineage. `taken` (golden_id), when only
    some records are named again (resolution/touched.py), lists the ids the others keep.
    """
    prev = (
        f"SELECT DISTINCT {key} AS k, golden_id AS prev FROM {previous}"
        if previous
        else "SELECT NULL::VARCHAR AS k, NULL::VARCHAR AS prev WHERE false"
    )
    # `_alone`: a record of no multi-record cluster (most of them): its own cluster of one,
    # named without grouping or joining every record with its cluster's row
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _members AS
        SELECT r._rid, coalesce(c._cluster, r._rid) AS _cluster, c._cluster IS NULL AS _alone,
          CAST(r.{key} AS VARCHAR) AS k, p.prev
        FROM {records} r LEFT JOIN {components} c USING (_rid)
        LEFT JOIN ({prev}) p ON p.k = CAST(r.{key} AS VARCHAR)
        """
    )

    def taken_by(name: str) -> str:
        also = f" OR {name} IN (SELECT golden_id FROM {taken})" if taken else ""
        return f"{name} IN (SELECT prev FROM kept){also}"

    # the golden ids (one a record) stored without compression: its analysis was most of the
    # write (resolution/survivorship.py's `_write`)
    write_plain(
        con,
        out,
        f"""
        WITH size AS (SELECT _cluster, count(*) AS _size, min(k) AS min_key
                      FROM _members WHERE NOT _alone GROUP BY _cluster),
        old AS (SELECT prev, count(*) AS old_size FROM _members WHERE prev IS NOT NULL
                GROUP BY prev),
        cand AS (SELECT _cluster, prev, count(*) AS n FROM _members WHERE prev IS NOT NULL
                 GROUP BY ALL),
        kept AS (
          SELECT _cluster, prev FROM (
            SELECT c._cluster, c.prev, row_number() OVER (
              PARTITION BY c._cluster ORDER BY c.n DESC, c.prev) AS pick
            FROM cand c JOIN old o USING (prev) WHERE 2 * c.n > o.old_size)
          WHERE pick = 1),
        named AS (
          SELECT s._cluster, s._size, coalesce(k.prev, CASE
              WHEN {taken_by("s.min_key")} THEN s.min_key || '~' || s._cluster
              ELSE s.min_key END) AS golden_id
          FROM size s LEFT JOIN kept k USING (_cluster))
        SELECT m._rid, m._cluster, n._size, n.golden_id
        FROM _members m JOIN named n USING (_cluster) WHERE NOT m._alone
        UNION ALL
        SELECT m._rid, m._cluster, 1::BIGINT AS _size, coalesce(k.prev, CASE
            WHEN {taken_by("m.k")} THEN m.k || '~' || m._cluster ELSE m.k END) AS golden_id
        FROM _members m LEFT JOIN kept k USING (_cluster) WHERE m._alone
        """,
        lambda name: name == "golden_id",
    )
    con.execute("DROP TABLE _members")
