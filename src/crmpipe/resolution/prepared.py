"""Prepared features kept between resolutions: only new or changed records are prepared again.

Preparing the matching input (names normalised and looked up in the nicknames list, email
lists filtered, the local parts a name makes) is SQL over every record, seconds at a million.
A resolution keeps each record's features in `resolved.<x>_fingerprints`, beside its key, its
number (`_rid`) and the hash of its *raw* record (every canonical column, lineage aside).

The next resolution builds on them in one of two ways:

- **in place**, when the stored rows still carry the records' numbers (the records were
  updated in place or not at all: resolution/records.py): the rows of records gone are
  deleted, the new records (numbers not stored yet) are prepared and inserted (both as listed
  in `resolved.<x>_record_changes` when that list adds up, else found by comparing numbers),
  and the matching input `_rin` is a view of the stored table. Nothing is read or hashed for
  the records that stayed: at 4.5M records, hashing and copying every record's features took
  26 s of a 50k-record drop's resolution.
- **by content**, after the records were numbered again: every record is hashed; a record
  whose key and hash are stored takes its stored features, the others are prepared; the
  table is then written again with the new numbers.

When nothing can be reused (the first resolution, `--full`, other settings) every record is
prepared straight into the stored table, and `_rin` is a view of it, as in place.

The hash is also what `incremental.changed_records` compares: a record is changed when its
content is (in place: when it is new). The stored features are reused only when they were made
by the same settings and features (`spec_hash`, in `meta.resolve_models`) and have the columns
this version prepares; otherwise every record is prepared, as in a full resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import create_table_as, table_columns, table_exists


@dataclass(frozen=True)
class Prepared:
    """What `prepare` did: records prepared now, whether the stored table was updated in
    place, and whether it was written anew with every record's features (in both cases `_rin`
    is a view of it and nothing is left to save; written anew, nothing was reused either)."""

    count: int
    in_place: bool
    saved: bool = False


def raw_fingerprints(con: duckdb.DuckDBPyConnection, records: str, key: str) -> None:
    """Temp table `_fp` (k, _rid, _fp): each record's key and raw hash (`_hash_sql`)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _fp AS SELECT CAST({quote_ident(key)} AS VARCHAR) AS k, "
        f"_rid, {_hash_sql(con, records)} AS _fp FROM {records}"
    ).fetchall()


def _hash_sql(con: duckdb.DuckDBPyConnection, records: str) -> str:
    """The raw hash of a record of `records` (lineage and bookkeeping columns, named with a
    leading `_`, left out: the same contact re-exported in a newer file is unchanged).

    DuckDB's 64-bit `hash` of the record's struct: 0.07 s at 712k records against 0.43 s for
    the md5 of its JSON text it replaced (the spec hash's matching version says which one a
    stored table holds). A DuckDB release that hashed otherwise would make every record look
    changed once: prepared again, the same features."""
    cols = [c for c in con.table(records).columns if not c.startswith("_")]
    packed = ", ".join(quote_ident(c) for c in cols)
    return f"hash(struct_pack({packed}))"


def _stored_columns(
    con: duckdb.DuckDBPyConnection, t: ResolvedTables, table: str, names: list[str], digest: str
) -> list[str] | None:
    """The stored table's columns when its features were made by these settings and have
    these columns (with or without `_rid`); None when they cannot be reused."""
    schema, name = t.fingerprints.split(".")
    if not table_exists(con, schema, name):
        return None
    cols = table_columns(con, schema, name)
    if [c for c in cols if c != "_rid"] != ["k", "_fp", *names]:
        return None
    row = con.execute(
        "SELECT spec_hash FROM meta.resolve_models WHERE table_name = ? "
        "ORDER BY created_at DESC LIMIT 1",
        [table],
    ).fetchall()
    return cols if row and row[0][0] == digest else None


def prepare(
    con: duckdb.DuckDBPyConnection,
    t: ResolvedTables,
    table: str,
    key: str,
    cols: list[tuple[str, str]],
    source_of: Callable[[str], str],
    digest: str,
    *,
    reuse: bool,
    gone_columns: list[str] | None = None,
) -> Prepared:
    """`_rin` (_rid, key, features…) of every record: the features `cols`, selected from
    `source_of(records)` (features.feature_source over a records relation). With `reuse`, the
    last resolution's are taken where they hold (module docstring); `_stale` then lists the
    records prepared now, and in place `_gone` has the `gone_columns` (default: all) of the
    records gone. By content, also `_fp` (raw_fingerprints); with nothing to reuse, the
    stored table is written anew (`Prepared.saved`)."""
    for name in ("_stale", "_rin", "_gone"):
        drop_relation(con, name)
    k = quote_ident(key)
    names = [key, *(n for n, _ in cols)]
    feats = ", ".join(f"{expr} AS {quote_ident(name)}" for name, expr in cols)
    stored = _stored_columns(con, t, table, names, digest) if reuse else None
    listed = ", ".join(quote_ident(n) for n in ["_rid", *names])
    if stored is not None and "_rid" in stored:  # in place
        changes = _listed_changes(con, t)
        if changes:
            gone, new = f"WHERE _rid IN {changes[0]}", changes[1]
        else:  # found by number: the new ones are those not stored once the gone are deleted
            gone = f"WHERE _rid NOT IN (SELECT _rid FROM {t.records})"
            new = f"(SELECT _rid FROM {t.records} EXCEPT SELECT _rid FROM {t.fingerprints})"
        # the gone records' features the pre-pass groups by (`gone_columns`): it links those
        # groups again (a few columns: reading them all for every record took 1.8 s at 4.5M)
        keep = ", ".join(quote_ident(c) for c in ["_rid", *(gone_columns or names)])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT {keep} FROM {t.fingerprints} {gone}"
        ).fetchall()
        con.execute(f"DELETE FROM {t.fingerprints} {gone}").fetchall()
        con.execute(f"CREATE TEMP TABLE _stale AS SELECT _rid FROM {new}").fetchall()
        stale = f"(SELECT * FROM {t.records} WHERE _rid IN (SELECT _rid FROM _stale))"
        con.execute(
            f"INSERT INTO {t.fingerprints} BY NAME SELECT CAST({k} AS VARCHAR) AS k, "
            f"{_hash_sql(con, t.records)} AS _fp, _rid, {k}, {feats} FROM {source_of(stale)}"
        ).fetchall()
        con.execute(f"CREATE TEMP VIEW _rin AS SELECT {listed} FROM {t.fingerprints}").fetchall()
        n = con.execute("SELECT count(*) FROM _stale").fetchall()[0][0]
        return Prepared(n, True)
    if stored is None:  # every record prepared, straight into the stored table
        # (into a work table first, then joined with the raw hashes and copied out at the end
        # of the resolution: 10 s of a 45 s full resolution at 1M records)
        write_stored(
            con,
            t.fingerprints,
            f"SELECT CAST({k} AS VARCHAR) AS k, {_hash_sql(con, t.records)} AS _fp, _rid, {k}, "
            f"{feats} FROM {source_of(t.records)}",
        )
        con.execute(f"CREATE TEMP VIEW _rin AS SELECT {listed} FROM {t.fingerprints}").fetchall()
        n = con.execute(f"SELECT count(*) FROM {t.fingerprints}").fetchall()[0][0]
        return Prepared(n, in_place=False, saved=True)
    raw_fingerprints(con, t.records, key)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _stale AS SELECT f._rid FROM _fp f "
        f"ANTI JOIN {t.fingerprints} s ON s.k = f.k AND s._fp = f._fp"
    ).fetchall()
    kept = ", ".join(f"s.{quote_ident(n)}" for n in names)
    # the records filtered first: DuckDB would compute the features of all before the filter
    stale = f"(SELECT * FROM {t.records} WHERE _rid IN (SELECT _rid FROM _stale))"
    fresh = f"SELECT _rid, {k}, {feats} FROM {source_of(stale)}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rin AS SELECT f._rid, {kept} FROM _fp f "
        f"JOIN {t.fingerprints} s ON s.k = f.k AND s._fp = f._fp "
        f"UNION ALL {fresh}"
    ).fetchall()
    return Prepared(con.execute("SELECT count(*) FROM _stale").fetchall()[0][0], False)


def _listed_changes(con: duckdb.DuckDBPyConnection, t: ResolvedTables) -> tuple[str, str] | None:
    """(gone, new): the numbers of the records deleted and appended since the stored features
    were saved, as listed by the in-place snapshots (resolution/records.py), when the list
    accounts for every record; None when the numbers must be compared instead (anti-joins of
    every record: 1.2 s at 4.5M)."""
    schema, name = t.changes.split(".")
    if not table_exists(con, schema, name):
        return None
    gone = f"(SELECT _rid FROM {t.changes} WHERE gone)"
    new = (
        f"(SELECT _rid FROM {t.changes} WHERE NOT gone "
        f"EXCEPT SELECT _rid FROM {t.changes} WHERE gone)"
    )
    ((records, stored, dropped, added),) = con.execute(
        f"SELECT (SELECT count(*) FROM {t.records}), (SELECT count(*) FROM {t.fingerprints}), "
        f"(SELECT count(*) FROM {t.fingerprints} WHERE _rid IN {gone}), "
        f"(SELECT count(*) FROM {new} n WHERE n._rid > (SELECT max(_rid) FROM {t.fingerprints}))"
    ).fetchall()
    return (gone, new) if stored - dropped + added == records else None


def save_prepared(
    con: duckdb.DuckDBPyConnection, t: ResolvedTables, source: str, prepared: Prepared
) -> None:
    """Keep every record's raw hash, number and features (from `source`, the matching input
    with `_rid`) for the next resolution to compare with and reuse. Updated in place already
    when `prepared.in_place`; otherwise written whole (the numbers changed)."""
    if prepared.in_place or prepared.saved:
        return
    write_stored(
        con,
        t.fingerprints,
        f"SELECT f.k, f._fp, r.* EXCLUDE (_pg) FROM _fp f JOIN {source} r USING (_rid)",
    )


#: Stored without compression: the text features with nearly one value per record (a key
#: as text, e-mail keys and parts, phones, entity ids), and the e-mail lists (`emails`,
#: `emails_own`: a record's addresses, as near-unique). A drop's resolution reads them for a
#: few percent of the records (the pre-pass's touched groups and the blocked pairs probe the
#: keys of every record, Splink's input fetches ~120k records' features), and DuckDB
#: decompressed every record's values to do so: at 4.7M records, Splink's input took 3.5–4.3
#: s compressed against 0.95 s uncompressed (load ~7). Writing them is cheaper too: DuckDB
#: analyses each column's values for a compression before it writes them, and the two e-mail
#: lists took about 1.4 s of the 5.2 s write of 1M records' features compressed (3.8 s
#: uncompressed, docs/benchmarks.md, branch `fullres1m`). The names, titles, nickname lists and
#: other columns with few distinct values stay dictionary-compressed: as fast to write and
#: read, several times smaller.
UNCOMPRESSED = ("k", "entity_id", "phone", "phone_key", "emails")
UNCOMPRESSED_PREFIX = "emails_"
#: The column types written uncompressed when named so (a list's strings uncompressed too).
UNCOMPRESSED_TYPES = ("VARCHAR", "VARCHAR[]")


def write_stored(con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
    """(Re)create the stored features `table` with the rows of `select`, the `UNCOMPRESSED`
    text and text-list columns (and those named `UNCOMPRESSED_PREFIX`…) stored without
    compression."""
    create_table_as(con, table, select, _uncompressed)


def _uncompressed(name: str, kind: str) -> bool:
    return kind in UNCOMPRESSED_TYPES and (
        name in UNCOMPRESSED or name.startswith(UNCOMPRESSED_PREFIX)
    )


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the work table or view `name` (temp, or in the default schema) if there is one:
    DuckDB's DROP TABLE refuses a view."""
    kind = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE schema_name = 'main' AND view_name = ? "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name = ?",
        [name, name],
    ).fetchall()
    for (what,) in kind:
        con.execute(f"DROP {what} {quote_ident(name)}").fetchall()
