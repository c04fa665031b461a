"""Connected components in SQL: iterative minimum-label propagation with pointer jumping.

Every node takes the smallest label among itself and its neighbours, then its label's label,
until nothing changes; clusters of duplicates are small, so this ends in a few set-based
rounds even on millions of records (no per-row Python).
"""

from __future__ import annotations

import duckdb

from crmpipe.warehouse.connection import fetch_all


def connected_components(
    con: duckdb.DuckDBPyConnection, edges: str, out: str, *, max_rounds: int = 64
) -> int:
    """Create table `out` (_rid, _cluster) for every node of `edges` (_rid_l, _rid_r).

    `_cluster` is the smallest `_rid` of the node's component; nodes without an edge are not
    listed (they are their own cluster). Returns the number of rounds taken.
    """
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _cc_edges AS "
        f"SELECT _rid_l AS a, _rid_r AS b FROM {edges} WHERE _rid_l <> _rid_r "
        f"UNION SELECT _rid_r, _rid_l FROM {edges} WHERE _rid_l <> _rid_r",
    )
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _cc AS SELECT a AS _rid, least(a, min(b)) AS c "
        "FROM _cc_edges GROUP BY a",
    )
    rounds = 0
    while rounds < max_rounds:
        rounds += 1
        fetch_all(
            con,
            "CREATE OR REPLACE TEMP TABLE _cc_next AS "
            "WITH hop AS (SELECT e.a AS _rid, min(n.c) AS c FROM _cc_edges e "
            "JOIN _cc n ON n._rid = e.b GROUP BY e.a) "
            "SELECT x._rid, least(x.c, coalesce(h.c, x.c), coalesce(j.c, x.c)) AS c "
            "FROM _cc x LEFT JOIN hop h USING (_rid) LEFT JOIN _cc j ON j._rid = x.c",
        )
        changed = fetch_all(
            con, "SELECT count(*) FROM _cc_next n JOIN _cc o USING (_rid) WHERE n.c <> o.c"
        )[0][0]
        fetch_all(con, "DROP TABLE _cc")
        fetch_all(con, "ALTER TABLE _cc_next RENAME TO _cc")
        if not changed:
            break
    fetch_all(con, f"CREATE OR REPLACE TABLE {out} AS SELECT _rid, c AS _cluster FROM _cc")
    fetch_all(con, "DROP TABLE _cc")
    fetch_all(con, "DROP TABLE _cc_edges")
    return rounds
