"""The golden records an incremental resolution changes: only their rows are written again.

A full resolution rewrites the golden rows, their lineage and their field provenance (at 4.5M
records, 11 s and most of the transaction's commit). When the records kept their numbers
(resolution/records.py) and the last resolution's clusters, pairs and golden tables are there,
a golden record stays exactly as it was unless:

- a record joined, left or moved between golden ids (clusters old and new, by `_rid`: a kept
  record keeps its number, a changed one is a new record);
- one of its records gained, lost or changed a link (rule or probability: lineage says
  which link made each member join, and stored links are scored again each time);
- one of its keys has a staged row of this run (a superseded version is a lineage row).

`_touched` lists those golden ids, old and new; survivorship rebuilds their rows alone.
"""

from __future__ import annotations

import duckdb

from crmpipe.resolution.ids import assign_golden_ids
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import fetch_all, table_exists


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return table_exists(con, schema, name.strip('"'))


def keep_previous(con: duckdb.DuckDBPyConnection, t: ResolvedTables, golden: str) -> bool:
    """Before pairs are made again: copy the last resolution's pairs aside (`_old_pairs`) when
    every table a partial rewrite needs exists; returns whether it does. `golden` is
    core.<table>. The last clusters stay where they are until `assign_in_place` updates them."""
    needed = (t.clusters, t.pairs, t.sources, t.field_sources, golden)
    if not all(_exists(con, n) for n in needed):
        return False
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _old_pairs AS "
        f"SELECT _rid_l, _rid_r, rule, match_probability FROM {t.pairs}",
    )
    return True


def assign_in_place(
    con: duckdb.DuckDBPyConnection,
    t: ResolvedTables,
    key: str,
    components: str,
    staging: str,
    run_id: int | None,
    *,
    new: str | None = None,
    gone: str | None = None,
    gone_key: bool = False,
) -> int:
    """Name the clusters of the records affected by this resolution again, keep every other
    record's cluster and golden id, and list in `_touched` (golden_id) the golden ids whose
    rows change, and in `_tclusters` (the clusters' columns) their members; returns how many.
    Drops what `keep_previous` set aside.

    The affected records are the new ones, those of a link gained, lost or changed, and the
    other members of a golden record that lost one, closed over new components and last
    golden records: every record outside keeps its component's links, hence its cluster and
    (holding all of its last golden record's members) its golden id, as a full naming would
    give it (resolution/ids.py).

    `new` and `gone` (relations of `_rid`), when known, list the records appended and deleted
    since the last clusters; otherwise both are found by comparing every record's number.
    `gone_key`: `gone` has the gone records' keys too (`key`)."""
    prev = t.clusters  # the last resolution's, until updated at the end
    k = quote_ident(key)
    new = new or f"(SELECT _rid FROM {t.records} WHERE _rid NOT IN (SELECT _rid FROM {prev}))"
    gone = gone or f"(SELECT _rid FROM {prev} WHERE _rid NOT IN (SELECT _rid FROM {t.records}))"
    fetch_all(con, f"CREATE OR REPLACE TEMP TABLE _gone_rids AS SELECT _rid FROM {gone}")
    # the members of the last golden records with more than one (`_size`, the cluster's count):
    # a record alone in its golden record adds only itself to the closure, so the closure
    # reads these (~5% of the records at 4.5M) instead of every record's golden id each round
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _multi AS SELECT _rid, golden_id FROM {prev} "
        "WHERE _size > 1",
    )
    fetch_all(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _affected AS
        SELECT _rid FROM {new}
        UNION SELECT unnest([_rid_l, _rid_r]) FROM (
          (SELECT _rid_l, _rid_r, rule, match_probability FROM {t.pairs}
           EXCEPT SELECT * FROM _old_pairs)
          UNION ALL
          (SELECT * FROM _old_pairs
           EXCEPT SELECT _rid_l, _rid_r, rule, match_probability FROM {t.pairs}))
        UNION SELECT _rid FROM _multi WHERE golden_id IN (SELECT golden_id FROM _multi
          WHERE _rid IN (SELECT _rid FROM _gone_rids))
        """,
    )
    while True:  # closed over this run's components and the last golden records
        added = fetch_all(
            con,
            f"""
            INSERT INTO _affected
            SELECT _rid FROM {components} WHERE _cluster IN (SELECT c._cluster FROM
              {components} c JOIN _affected USING (_rid))
            UNION SELECT _rid FROM _multi WHERE golden_id IN (SELECT p.golden_id FROM _multi p
              JOIN _affected USING (_rid))
            EXCEPT SELECT _rid FROM _affected
            """,
        )[0][0]
        if not added:
            break
    fetch_all(con, "DELETE FROM _affected WHERE _rid IN (SELECT _rid FROM _gone_rids)")
    mine = f"(SELECT * FROM {t.records} WHERE _rid IN (SELECT _rid FROM _affected))"
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _keys AS SELECT _rid, CAST({k} AS VARCHAR) AS k FROM {mine}",
    )
    # the last clusters' rows of the affected and gone records: their golden ids are touched
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _was AS SELECT _rid, golden_id FROM {prev} "
        "WHERE _rid IN (SELECT _rid FROM _affected) OR _rid IN (SELECT _rid FROM _gone_rids)",
    )
    # each affected key's last golden id (the lineage's record id → golden id): a kept record's
    # from its own cluster row, a new record's from that of the gone record of its key, when
    # `gone_key` says `gone` has the keys (otherwise the lineage is probed for them, 0.25 s at
    # 4.5M)
    previous = (
        f"SELECT w.golden_id, c.k FROM _was w JOIN _keys c USING (_rid) UNION ALL "
        f"SELECT w.golden_id, CAST(g.{k} AS VARCHAR) FROM _was w JOIN {gone} g USING (_rid)"
        if gone_key
        else f"SELECT golden_id, record_id AS k FROM {t.sources}"
    )
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _previous AS SELECT DISTINCT k AS {k}, golden_id "
        f"FROM ({previous}) WHERE k IN (SELECT k FROM _keys)",
    )
    # the ids the other records keep that a renamed cluster could want: its smallest key, as
    # the key of an affected record (not every kept id: 4.5M strings to look up)
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _taken AS SELECT DISTINCT golden_id FROM "
        f"{prev} WHERE golden_id IN (SELECT k FROM _keys) "
        "AND _rid NOT IN (SELECT _rid FROM _affected) "
        "AND _rid NOT IN (SELECT _rid FROM _gone_rids)",
    )
    taken = "_taken"
    assign_golden_ids(
        con,
        mine,
        k,
        f"(SELECT * FROM {components} WHERE _rid IN (SELECT _rid FROM _affected))",
        "_previous",
        "_assigned",
        taken=taken,
    )
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _staged_ids (golden_id VARCHAR)"
        if run_id is None  # keys with a row staged by this run: their lineage grows
        else "CREATE OR REPLACE TEMP TABLE _staged_ids AS SELECT DISTINCT c.golden_id FROM "
        f"{prev} c JOIN {t.records} r USING (_rid) WHERE CAST(r.{k} AS VARCHAR) IN "
        f"(SELECT CAST({k} AS VARCHAR) FROM {staging} WHERE _run_id = {int(run_id)})",
    )
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _touched AS SELECT golden_id FROM _assigned "
        "UNION SELECT golden_id FROM _was UNION SELECT golden_id FROM _staged_ids",
    )
    # the touched golden records' members (`_tclusters`, what survivorship reads): the
    # affected records as named again, and every member of a golden record touched only for
    # its staged keys. A golden id the closure reached has only affected members (the closure
    # holds every member of an affected record's last golden record, and no kept record's id
    # is given to a renamed cluster), so only those staged-only ids are looked up in every
    # cluster row, when there are any (the lookup of every golden id: 0.13–0.24 s at 4.5M)
    fetch_all(
        con,
        "CREATE OR REPLACE TEMP TABLE _staged_ids AS SELECT golden_id FROM _staged_ids "
        "EXCEPT SELECT golden_id FROM _assigned EXCEPT SELECT golden_id FROM _was",
    )
    cols = ", ".join(quote_ident(c) for c in con.table(prev).columns)
    fetch_all(
        con,
        f"CREATE OR REPLACE TEMP TABLE _tclusters AS SELECT {cols} FROM _assigned"
        + (
            f" UNION ALL SELECT {cols} FROM {prev} WHERE golden_id IN "
            "(SELECT golden_id FROM _staged_ids)"
            if fetch_all(con, "SELECT count(*) FROM _staged_ids")[0][0]
            else ""
        ),
    )
    fetch_all(
        con,
        f"DELETE FROM {prev} WHERE _rid IN (SELECT _rid FROM _affected) "
        "OR _rid IN (SELECT _rid FROM _gone_rids)",
    )
    fetch_all(con, f"INSERT INTO {prev} BY NAME SELECT * FROM _assigned")
    for tmp in (
        "_old_pairs",
        "_assigned",
        "_affected",
        "_gone_rids",
        "_keys",
        "_taken",
        "_multi",
        "_staged_ids",
        "_was",
    ):
        fetch_all(con, f"DROP TABLE IF EXISTS {tmp}")
    return fetch_all(con, "SELECT count(*) FROM _touched")[0][0]
