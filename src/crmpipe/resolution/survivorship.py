"""Golden records and lineage.

Each column of a multi-record cluster is chosen by a survivorship rule among the members'
non-null values: `most_recent` (the newest file, then the latest row: the default),
`most_frequent`, `most_complete` (the longest), `source_priority` (the configured order of
sources). Lists (emails) are unioned, newest first. A phone keeps its extension and a URL its
domain from the same record. Records alone in their cluster pass through untouched.

Field-level provenance (`core.<x>_field_sources`): for each golden record of several members
and each column with a value, the member record that gave it, chosen by the very same rule.
Lists (emails) are a union of the members and have no single origin; a record alone in its
cluster is the origin of all its values (its lineage row says which).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from crmpipe.build.plain import plain_columns
from crmpipe.config.schema import ResolveSpec
from crmpipe.model import Role, Table, physical_columns
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import create_table_as

#: Companion columns chosen together with their column (from the same record).
COMPANIONS = {Role.PHONE: "_ext", Role.URL: "_domain"}
#: Lineage columns a core row carries (those of the golden record's newest member).
CORE_LINEAGE = ("_source", "_file", "_row", "_run_id", "_loaded_at")
#: The files loaded more than once: changed in place, each version kept in raw and staging.
CHANGED_IN_PLACE = "SELECT file FROM meta.manifest GROUP BY file HAVING count(*) > 1"


def _subset(records: str, clusters: str, only: str | None) -> tuple[str, str]:
    """(records, clusters) as relations limited to the clusters of the golden ids in `only`
    (a relation with a `golden_id` column), or unchanged when `only` is None."""
    if only is None:
        return records, clusters
    clusters = f"(SELECT * FROM {clusters} WHERE golden_id IN (SELECT golden_id FROM {only}))"
    return f"(SELECT * FROM {records} WHERE _rid IN (SELECT _rid FROM {clusters}))", clusters


def _write(
    con: duckdb.DuckDBPyConnection,
    out: str,
    select: str,
    only: str | None,
    id_col: str,
    plain: Collection[str] = (),
) -> int:
    """`out` := `select`, its columns named in `plain` stored without compression
    (build/plain.py); or, with `only`, its rows whose `id_col` is one of those golden ids
    replaced by `select`'s (computed for them alone). Returns the row count of `out`."""
    if only is None:
        create_table_as(con, out, select, plain)
    else:
        con.execute(
            f"DELETE FROM {out} WHERE CAST({id_col} AS VARCHAR) IN (SELECT golden_id FROM {only})"
        ).fetchall()
        con.execute(f"INSERT INTO {out} BY NAME {select}").fetchall()
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


def _score(rule: str, col: str, spec: ResolveSpec) -> str:
    """The ordering value whose arg_max picks the surviving value of `col` under `rule`."""
    if rule == "most_frequent":
        return f"{quote_ident('_freq_' + col)} * 1000000000000000 + _rec"
    if rule == "most_complete":
        return f"length(CAST({quote_ident(col)} AS VARCHAR)) * 1000000000000000 + _rec"
    if rule == "source_priority" and spec.source_priority:
        n = len(spec.source_priority)
        whens = " ".join(
            f"WHEN '{s.replace(chr(39), chr(39) * 2)}' THEN {n - i}"
            for i, s in enumerate(spec.source_priority)
        )
        return f"(CASE _source {whens} ELSE 0 END) * 1000000000000000 + _rec"
    return "_rec"


def _members(records: str, clusters: str, spec: ResolveSpec) -> str:
    """The members of multi-record clusters with their cluster, golden id and, for each
    `most_frequent` column, how often its value occurs in the cluster (what `_score` reads):
    the one input of golden records and of their field-level provenance."""
    freq = "".join(
        f", count(*) OVER (PARTITION BY _cluster, {quote_ident(c)}) AS {quote_ident('_freq_' + c)}"
        for c, r in spec.survivorship.items()
        if r == "most_frequent"
    )
    return (
        f"(SELECT r.*, c._cluster, c.golden_id{freq} "
        f"FROM {records} r JOIN {clusters} c USING (_rid) WHERE c._size > 1)"
    )


def build_golden(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    spec: ResolveSpec,
    records: str,
    clusters: str,
    out: str,
    *,
    only: str | None = None,
) -> int:
    """Create `out` (core.<table>): one row per cluster; return its row count. With `only`
    (golden ids), rebuild just those golden records' rows in the existing `out`."""
    key = tbl.key[0]
    records, clusters = _subset(records, clusters, only)
    phys = [n for n, _ in physical_columns(tbl)]
    companions = {
        f"{c.name}{COMPANIONS[c.role]}": c.name for c in tbl.all_columns if c.role in COMPANIONS
    }
    members = _members(records, clusters, spec)
    aggs: list[str] = [f"any_value(golden_id) AS {quote_ident(key)}"]
    for col in tbl.all_columns:
        name = quote_ident(col.name)
        if col.name == key:
            continue
        if col.role is Role.EMAIL_LIST and col.name not in spec.survivorship:
            aggs.append(
                f"nullif(list_distinct(flatten(list({name} ORDER BY _rec DESC) "
                f"FILTER (WHERE {name} IS NOT NULL))), []) AS {name}"
            )
            continue
        score = _score(spec.survivorship.get(col.name, "most_recent"), col.name, spec)
        comp = f"{col.name}{COMPANIONS[col.role]}" if col.role in COMPANIONS else None
        if comp:
            aggs.append(
                f"arg_max(struct_pack(v := {name}, c := {quote_ident(comp)}), {score}) "
                f"FILTER (WHERE {name} IS NOT NULL) AS {quote_ident('_pair_' + col.name)}"
            )
        else:
            aggs.append(f"arg_max({name}, {score}) FILTER (WHERE {name} IS NOT NULL) AS {name}")
    aggs.append(f"arg_max(struct_pack({', '.join(CORE_LINEAGE)}), _rec) AS _lineage")
    select = []
    for n in phys:
        if n in companions:
            select.append(f"_pair_{companions[n]}.c AS {quote_ident(n)}")
        elif tbl.column(n).role in COMPANIONS:
            select.append(f"_pair_{n}.v AS {quote_ident(n)}")
        else:
            select.append(quote_ident(n))
    select += [f"_lineage.{c} AS {c}" for c in CORE_LINEAGE]
    golden = ", ".join(
        quote_ident(n) if n != key else f"c.golden_id AS {quote_ident(key)}" for n in phys
    )
    select = f"""
        SELECT {golden}, {", ".join("r." + c for c in CORE_LINEAGE)}
        FROM {records} r JOIN {clusters} c USING (_rid) WHERE c._size = 1
        UNION ALL BY NAME
        SELECT {", ".join(select)} FROM (
          SELECT _cluster, {", ".join(aggs)}
          FROM {members}
          GROUP BY _cluster)
        """
    return _write(con, out, select, only, quote_ident(key), plain_columns(tbl, spec))


def build_field_sources(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    spec: ResolveSpec,
    records: str,
    clusters: str,
    out: str,
    *,
    only: str | None = None,
) -> int:
    """Create `out` (core.<x>_field_sources): golden id, column, and the member record (key,
    source, file, row) whose value survived, for golden records of more than one member.

    The member is picked by `arg_max` over the same ordering `build_golden` uses, so the two
    always agree; one row per column that has a value. Returns the row count. With `only`,
    as `build_golden`.

    Sorted by golden id alone: `explain` reads one golden record's rows (`WHERE golden_id =`),
    which the sort lets DuckDB find in one row group (0.8 ms against 27 ms unsorted at 1M
    facility rows); the column order within a golden id served nothing, and sorting 3M rows by
    both keys took 8.3 s against 5.3 s by the golden id alone (medians of 3, load ~7)."""
    key = tbl.key[0]
    records, clusters = _subset(records, clusters, only)
    cols = [
        c.name
        for c in tbl.all_columns
        if c.name != key and not (c.role is Role.EMAIL_LIST and c.name not in spec.survivorship)
    ]
    members = _members(records, clusters, spec)
    picks = ", ".join(
        f"arg_max(_rid, {_score(spec.survivorship.get(c, 'most_recent'), c, spec)}) "
        f"FILTER (WHERE {quote_ident(c)} IS NOT NULL) AS {quote_ident(c)}"
        for c in cols
    )
    k = quote_ident(key)
    if not cols:  # nothing but the key: no value has an origin to record
        if only is None:
            con.execute(
                f"CREATE OR REPLACE TABLE {out} (golden_id VARCHAR, column_name VARCHAR, "
                'record_id VARCHAR, source VARCHAR, file VARCHAR, "row" BIGINT)'
            )
        return 0
    select = f"""
        WITH picked AS (
          SELECT golden_id, {picks}
          FROM {members}
          GROUP BY golden_id),
        long AS (UNPIVOT picked ON {", ".join(quote_ident(c) for c in cols)}
                 INTO NAME column_name VALUE _rid)
        SELECT l.golden_id, l.column_name, CAST(r.{k} AS VARCHAR) AS record_id,
          r._source AS source, r._file AS file, r._row AS "row"
        FROM long l JOIN {records} r USING (_rid)
        ORDER BY l.golden_id
        """
    return _write(con, out, select, only, "golden_id")


def build_lineage(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    records: str,
    clusters: str,
    pairs: str,
    out: str,
    *,
    self_names: bool = False,
    only: str | None = None,
) -> int:
    """Create `out` (core.<x>_sources): golden id → every staged source row with a key.

    Each row says how its record joined the golden record (`matched_by`: `self` for a record
    alone — with `self_names`, also for the record whose key names the golden record —, the
    pre-pass rule or `splink`, `same key` for an older version of the same record superseded
    at build) and the match probability of its strongest link (1 for `self`); where several
    rules link a record at that probability (two pre-pass rules at 1), the first rule name in
    alphabetical order, so two runs write the same lineage. With `only`, as `build_golden`.

    A file changed in place is loaded again and staging keeps both versions under one path: a
    record at the same place in both is listed once (a record only the old version holds keeps
    its row: its values still come from there).
    """
    key = quote_ident(tbl.key[0])
    records, clusters = _subset(records, clusters, only)
    alone = "c._size = 1"
    if self_names:
        alone += f" OR CAST(r.{key} AS VARCHAR) = c.golden_id"
    select = f"""
        WITH links AS (
          SELECT _rid, arg_min(rule, (-match_probability, rule)) AS rule,
            max(match_probability) AS p
          FROM (SELECT _rid_l AS _rid, rule, match_probability FROM {pairs}
                UNION ALL SELECT _rid_r, rule, match_probability FROM {pairs})
          GROUP BY _rid),
        rec AS (
          SELECT r.{key}, r._source, r._file, r._row, c.golden_id, c._size,
            CASE WHEN {alone} THEN 'self' ELSE coalesce(l.rule, 'splink') END AS via,
            CASE WHEN {alone} THEN 1.0 ELSE coalesce(l.p, 1.0) END AS p
          FROM {records} r JOIN {clusters} c USING (_rid) LEFT JOIN links l USING (_rid))
        SELECT {{distinct}} rec.golden_id, s.{key} AS record_id, s._source AS source,
          s._file AS file, s._row AS "row",
          CASE WHEN s._file = rec._file AND s._row = rec._row THEN rec.via ELSE 'same key' END
            AS matched_by,
          rec.p AS match_probability
        FROM staging.{quote_ident(tbl.name)} s JOIN rec USING ({tbl.key[0]})
        """
    # a record at the same place in both versions of a file changed in place gives two equal
    # rows; only then is the lineage made distinct (a hash of every row, ~1 s at 4.7M)
    changed = con.execute(f"SELECT count(*) FROM ({CHANGED_IN_PLACE})").fetchall()[0][0]
    select = select.replace("{distinct}", "DISTINCT" if changed else "")
    return _write(con, out, select, only, "golden_id")


def prefer_mixed_case(
    con: duckdb.DuckDBPyConnection, tbl: Table, records: str, clusters: str, out: str, column: str
) -> int:
    """Where golden row `column` of `out` is all upper or all lower case (`ACME LOGISTICS 4
    INC`, `acme logistics 4 inc`) and one of the golden record's staged rows — merged
    duplicates of its records included — spells it in mixed case (`Acme Logistics 4 Inc.`),
    take the newest such spelling; return the rows changed. A CRM export typed in capitals
    should not name the golden company when another spells it properly.

    Only the staged rows of the golden records that need it are read."""
    c, key = quote_ident(column), quote_ident(tbl.key[0])

    def mixed(v: str) -> str:
        return f"({v} <> upper({v}) AND {v} <> lower({v}))"

    return con.execute(
        f"""
        UPDATE {out} g SET {c} = b.spelling
        FROM (
          WITH need AS (
            SELECT CAST(r.{key} AS VARCHAR) AS k, cl.golden_id
            FROM {out} o JOIN {clusters} cl ON cl.golden_id = CAST(o.{key} AS VARCHAR)
              JOIN {records} r ON r._rid = cl._rid
            WHERE o.{c} IS NOT NULL AND NOT {mixed("o." + c)})
          SELECT n.golden_id, s.{c} AS spelling
          FROM staging.{quote_ident(tbl.name)} s JOIN need n ON n.k = CAST(s.{key} AS VARCHAR)
          WHERE s.{c} IS NOT NULL AND {mixed("s." + c)}
          QUALIFY row_number() OVER (PARTITION BY n.golden_id
            ORDER BY s._file_mtime DESC, s._file DESC, s._row DESC) = 1) b
        WHERE CAST(g.{key} AS VARCHAR) = b.golden_id
        """
    ).fetchall()[0][0]
