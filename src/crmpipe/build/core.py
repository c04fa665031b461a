"""Build: staging → `core.<table>` (one row per key) → the search tables.

Duplicates of a key are resolved by the latest file, then the latest row in it, and counted;
rows without a key go to `quarantine.<table>` with the reason, so nothing is lost. The search
table is created as `search.table` declares it (contacts with their entity, its tech names, the
customers that map it and their CRM ids, a free-text `document`); `meta.search_fields` records
each searchable column's kind for the query language, per table (`table_name`).
`build_searches` builds every search table the project has: contact_search and/or
facility_search (search.catalog.planned_tables, search.facilities).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.model import Table, duckdb_ddl, physical_columns
from crmpipe.search import entities, hashed, refresh, tokens
from crmpipe.search.catalog import SEARCH_TABLES, duckdb_inputs, planned_tables
from crmpipe.search.selects import duckdb_select
from crmpipe.search.table import (
    CONTACT_SEARCH,
    DUCKDB_FIELDS_TABLE,
    SEARCH_TABLE,
    EntityList,
    SearchColumn,
    SearchTable,
    field_rows,
)
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import create_table_as, table_exists


@dataclass(frozen=True)
class Delta:
    """Temp tables holding copies of the rows an incremental build took out of core.<table>
    (`left`) and put in (`came`), with core's columns (what quality.incremental counts)."""

    left: str
    came: str


@dataclass
class CoreResult:
    table: str
    staged: int
    loaded: int
    merged: int  # rows superseded by a later version of the same key
    quarantined: int  # rows without a key
    #: merged into the last build (build/incremental.merge_core): the temp table listing the
    #: keys whose rows it replaced, added or brought back from quarantine (None: built anew)
    merged_keys: str | None = None
    #: merged into the last build: copies of the rows taken out of core and put in (checks)
    delta: Delta | None = None


def build_core(
    con: duckdb.DuckDBPyConnection, tbl: Table, run_id: int, plain: Collection[str] = ()
) -> CoreResult:
    """core.<table>: the latest version of each key; keyless rows quarantined with a reason.
    The columns named in `plain` are stored without compression (build/plain.py)."""
    name = quote_ident(tbl.name)
    keys = [quote_ident(k) for k in tbl.key]
    has_key = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    con.execute(
        f"CREATE OR REPLACE TABLE quarantine.{name} AS SELECT *, "
        f"'key_not_null' AS _check, 'missing key: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote_ident(k)} IS NULL THEN '{k}' END" for k in tbl.key)
        + f") AS _reason, {int(run_id)}::BIGINT AS _quarantined_run "
        f"FROM staging.{name} WHERE NOT ({has_key})"
    )
    cols = ", ".join(quote_ident(n) for n, _ in physical_columns(tbl))
    key_list = ", ".join(keys)
    # Duplicated keys are rare: find them with a narrow GROUP BY, rank only their rows, and
    # anti-join the losers by rowid, instead of windowing every (wide) row of the table.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _superseded AS SELECT _rid FROM ("
        f"SELECT s.rowid AS _rid, row_number() OVER (PARTITION BY {key_list} "
        "ORDER BY _file_mtime DESC, _file DESC, _row DESC) AS _rank "
        f"FROM staging.{name} s SEMI JOIN (SELECT {key_list} FROM staging.{name} "
        f"WHERE {has_key} GROUP BY ALL HAVING count(*) > 1) d USING ({key_list})"
        ") WHERE _rank > 1"
    )
    ((superseded,),) = con.execute("SELECT count(*) FROM _superseded").fetchall()
    # without superseded rows (the usual case) the copy needs no rowid filter (1.1M entities:
    # ~0.4 s of a 2 s copy)
    keep = " AND s.rowid NOT IN (SELECT _rid FROM _superseded)" if superseded else ""
    create_table_as(
        con,
        f"core.{name}",
        f"SELECT {cols}, _source, _file, _row, _run_id, _loaded_at FROM staging.{name} s "
        f"WHERE {has_key}{keep}",
        plain,
    )
    con.execute("DROP TABLE _superseded")
    staged = con.execute(f"SELECT count(*) FROM staging.{name}").fetchone()[0]
    loaded = con.execute(f"SELECT count(*) FROM core.{name}").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM quarantine.{name}").fetchone()[0]
    return CoreResult(tbl.name, staged, loaded, staged - loaded - quarantined, quarantined)


@dataclass
class SearchBuild:
    """What the index step did to one search table: its `rows`, and `changed` keys when it was
    updated in place (search.refresh; None: rebuilt in full)."""

    rows: int
    changed: int | None = None


def build_search(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    spec: SearchTable = CONTACT_SEARCH,
    *,
    full: bool = True,
) -> int:
    """Create `search.<spec.name>` (contact_search by default, as search.table declares it)
    and its rows of meta.search_fields; return the row count. Unless `full`, update the table in
    place when few of its rows changed (search.refresh)."""
    return index_search(con, cfg, spec, full=full).rows


def index_search(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    spec: SearchTable,
    *,
    full: bool,
    hint: refresh.Hint | None = None,
) -> SearchBuild:
    """build_search, saying whether the table was updated in place (`hint`: what the run
    changed, search.refresh.Hint)."""
    tables = cfg.tables()
    for needed in spec.needs:
        if not table_exists(con, "core", needed):  # a project without that source
            con.execute(duckdb_ddl(tables[needed], "core"))
    inputs = duckdb_inputs(con)
    columns = spec.columns(cfg, inputs)
    fields = field_rows(columns)
    signatures = [spec.signature_column(c) for c in columns]
    query, params = duckdb_select(columns, spec, inputs)
    target = spec.duckdb_table
    con.execute(f"CREATE OR REPLACE TEMP TABLE _search_shape AS {query} LIMIT 0", params)
    shape = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = '_search_shape' ORDER BY ordinal_position"
    ).fetchall()
    con.execute("DROP TABLE _search_shape")
    basis = refresh.digest(query, params, [tuple(r) for r in shape])
    if not full and table_exists(con, "search", spec.name):
        changed_only = duckdb_select(
            columns,
            spec,
            inputs,
            where=f"{spec.alias}.{quote_ident(spec.key)} IN (SELECT _key FROM _crm_changed)",
        )
        share = cfg.search.rebuild_share
        # the rows rewritten, where an entity table follows them
        follow = bool(spec.entity_columns(columns)) and entities.current(
            con, spec.name, _entity_id(spec)
        )
        touched = entities.KEY_COLUMN if follow else None
        keep = bool(spec.tokened) and all(tokens.current(con, spec.name, n) for n in spec.tokened)
        changed = refresh.refresh(
            con, spec, columns, inputs.tables, changed_only, basis, share, touched, hint, keep
        )
        if changed is not None:
            _token_tables(con, spec, columns, in_place=keep)
            made = _entity_table(con, spec, columns, in_place=follow)
            con.execute(f"DROP TABLE IF EXISTS {refresh.TOUCHED_NEW}")
            _hash_tables(con, spec, columns, made)
            ((rows,),) = con.execute(f"SELECT count(*) FROM {target}").fetchall()
            return SearchBuild(rows, changed)
    # The columns that searches scan in full (the contact's joined lists, the document) are
    # stored without compression: twice as fast to write and to scan, for a somewhat larger
    # file; so are the shown columns a page reads back row by row (spec.fetched). An entity's
    # joined list (tech names) repeats on each of its contacts: dictionary-compressed, a
    # `contains` is tested once per distinct text (`tech: accela` at 1M: 31 → 9 ms).
    per_contact = {c.match_column for c in columns if not isinstance(c.source, EntityList)}
    scanned = (per_contact - {None}) | {"document"} | set(spec.fetched)
    ddl = ", ".join(
        f"{quote_ident(n)} {t}" + (" USING COMPRESSION uncompressed" if n in scanned else "")
        for n, t in shape
    )
    con.execute(f"CREATE OR REPLACE TABLE {target} ({ddl})")
    sorted_rows, _ = duckdb_select(columns, spec, inputs, sorted_first=True)
    con.execute(f"INSERT INTO {target} {sorted_rows}", params)
    if refresh.supported(spec):
        refresh.record(con, spec, columns, inputs.tables, basis)
    _forget_fields(con, spec)
    hashes = [spec.hash_column(c) for c in columns]
    con.executemany(
        f"INSERT INTO {DUCKDB_FIELDS_TABLE} (name, kind, position, match_column, "
        "signature_column, hash_column, table_name) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(n, k, i, m, signatures[i], hashes[i], spec.name) for i, (n, k, m) in enumerate(fields)],
    )
    _hash_tables(con, spec, columns, _entity_table(con, spec, columns))
    _token_tables(con, spec, columns)
    ((rows,),) = con.execute(f"SELECT count(*) FROM {target}").fetchall()
    return SearchBuild(rows)


def _token_tables(
    con: duckdb.DuckDBPyConnection,
    spec: SearchTable,
    columns: list[SearchColumn],
    *,
    in_place: bool = False,
) -> None:
    """(Re)make the postings of the table's tokened lists (search.tokens) and record each in
    meta.search_fields (NULL: searched by the scan). `in_place`: only the rows search.refresh
    rewrote (its `TOUCHED_KEYS` and `TOUCHED_NEW` tables; the first is dropped here)."""
    ek = entities.KEY_COLUMN if spec.entity_table else None
    for col in columns:
        if col.name not in spec.tokened or not col.match_column:
            continue
        args = (con, spec.name, col.name, col.match_column, spec.key, ek)
        if in_place:
            made = tokens.update(*args, refresh.TOUCHED_KEYS, refresh.TOUCHED_NEW)
        else:
            made = tokens.refresh(*args)
        con.execute(
            f"UPDATE {DUCKDB_FIELDS_TABLE} SET token_table = ? WHERE name = ? AND table_name = ?",
            [made, col.name, spec.name],
        )
    con.execute(f"DROP TABLE IF EXISTS {refresh.TOUCHED_KEYS}")


def _hash_tables(
    con: duckdb.DuckDBPyConnection,
    spec: SearchTable,
    columns: list[SearchColumn],
    made: str | None = None,
) -> None:
    """(Re)make the tables of distinct (hash, text) pairs of the table's hashed lists and
    record each in meta.search_fields (NULL: searched by `contains`). From the entity table
    `made` when it holds the lists (an entity-level list is its entity's on each of its rows:
    145k rows to read instead of 4.5M), else from the table's rows (search.hashed)."""
    lists = [(c.name, c.match_column) for c in columns if spec.hash_column(c)]
    held = set(spec.entity_columns(columns)) if made else set()
    source = made if lists and all(joined in held for _, joined in lists) else None
    for name, pairs in hashed.refresh(con, spec.name, lists, source).items():
        con.execute(
            f"UPDATE {DUCKDB_FIELDS_TABLE} SET hash_table = ? WHERE name = ? AND table_name = ?",
            [pairs, name, spec.name],
        )


def _entity_id(spec: SearchTable) -> str:
    """The search table's column of the entity id (its rows' entity key is made from it)."""
    return spec.list_key.rpartition(".")[2]


def _entity_table(
    con: duckdb.DuckDBPyConnection,
    spec: SearchTable,
    columns: list[SearchColumn],
    *,
    in_place: bool = False,
) -> str | None:
    """(Re)make the table's entity table from its rows (search.entities) and record it in
    meta.search_fields on each entity-level field (NULL: terms written one by one). `in_place`:
    only the entity keys of the rows search.refresh rewrote are made again (its `TOUCHED_*`
    tables, dropped here). Returns the entity table (None: none made)."""
    held = spec.entity_columns(columns)
    if not held:
        return None
    if in_place:
        gone, new = refresh.TOUCHED_GONE, refresh.TOUCHED_NEW
        made = entities.update(con, spec.name, _entity_id(spec), held, gone, new)
        con.execute(f"DROP TABLE {gone}")
        con.execute(f"DROP TABLE {new}")
    else:
        made = entities.refresh(con, spec.name, _entity_id(spec), held)
    names = [c.name for c in columns if spec.entity_level(c)]
    marks = ", ".join("?" for _ in names)
    con.execute(
        f"UPDATE {DUCKDB_FIELDS_TABLE} SET entity_table = ? WHERE table_name = ? "
        f"AND name IN ({marks})",
        [made, spec.name, *names],
    )
    return made


def _forget_fields(con: duckdb.DuckDBPyConnection, spec: SearchTable) -> None:
    """Delete the search table's rows of meta.search_fields (rows of a warehouse built before
    the registry named its table are contact_search's)."""
    con.execute(
        f"DELETE FROM {DUCKDB_FIELDS_TABLE} WHERE coalesce(table_name, ?) = ?",
        [SEARCH_TABLE, spec.name],
    )


def search_table_names(cfg: Config) -> list[str]:
    """The search tables this project builds (search.catalog.planned_tables), by name."""
    return [spec.name for spec in planned_tables(cfg)]


def build_searches(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    *,
    full: bool = True,
    hint: refresh.Hint | None = None,
) -> dict[str, SearchBuild]:
    """Build every search table the project has (search.catalog.planned_tables) and drop the
    others with their fields; {table name: what was done}. Unless `full`, a table is updated in
    place where few of its rows changed (search.refresh; `hint`: what the run changed)."""
    planned = planned_tables(cfg)
    for spec in SEARCH_TABLES:
        if spec not in planned and table_exists(con, "search", spec.name):
            con.execute(f"DROP TABLE {spec.duckdb_table}")
            _forget_fields(con, spec)
            refresh.forget(con, spec)
            hashed.drop(con, spec.name, list(spec.hashed))
            entities.drop(con, spec.name)
            tokens.drop(con, spec.name, list(spec.tokened))
    return {spec.name: index_search(con, cfg, spec, full=full, hint=hint) for spec in planned}
