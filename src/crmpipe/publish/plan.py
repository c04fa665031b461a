"""What a publish will copy and build, read from the DuckDB warehouse before PostgreSQL is
touched (`read_plan`): the tables and their columns, row counts, whether the contact search
view is built and its fields, the build's fingerprint; and the checks that fail early (a
column crmpipe.yml declares but the warehouse lacks, NULL or repeated keys, a mart named like
a published table, search fields that differ from the warehouse's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from crmpipe.config.schema import Config
from crmpipe.ingest.drops import drop_date
from crmpipe.marts import leads
from crmpipe.marts.build import mart_tables
from crmpipe.publish import ddl, search_ddl
from crmpipe.publish.ddl import FACILITY_TABLES, MART_KEYS, PUBLISHED_TABLES, PgColumn
from crmpipe.publish.errors import PublishError
from crmpipe.search.catalog import LINEAGE, duckdb_inputs
from crmpipe.search.facilities import FACILITY_SEARCH
from crmpipe.search.table import SEARCH_KINDS, SEARCH_TABLE, SearchInputs, crm_systems
from crmpipe.sqltext import quote_ident

#: The label prefix of a version publishing the leads product (`leads_20241101`).
LEADS_LABEL = "leads"


@dataclass
class TablePlan:
    name: str
    table: Any  # crmpipe.model.Table; None for a mart (published as DuckDB has it)
    columns: list[PgColumn]
    duck_types: dict[str, str]
    exists: bool
    rows: int
    source: str = ""  # the DuckDB relation to copy from

    @property
    def is_mart(self) -> bool:
        """A plain table published as DuckDB has it (a mart, or the facilities' lineage)."""
        return self.table is None

    @property
    def warehouse_schema(self) -> str:
        """The warehouse schema it is copied from (`core`, `marts`)."""
        return self.source.split(".", 1)[0]


#: A search field as published: (name, kind, position, match column, lookup table, lookup
#: column, lookup key, lookup field, narrow table) — the lookup columns tell the PostgreSQL
#: dialect where a field is searched when not in the view itself (crmpipe.search.dialects.
#: Lookup); the narrow table, which smaller table holds it too (crmpipe.search.narrow).
FieldRow = tuple[
    str, str, int, str | None, str | None, str | None, str | None, str | None, str | None
]


@dataclass
class PublishPlan:
    """What a publish will copy and build, decided from the warehouse before PostgreSQL is
    touched: the tables, whether the contact search view is built, its fields."""

    plans: dict[str, TablePlan]
    search: bool  # build contact_search (the warehouse has contacts)
    systems: list[str]
    fields: list[FieldRow]
    build: str | None  # the warehouse build's fingerprint (meta.build_state), if recorded
    vocabulary: tuple[str, ...] = ()  # text fields searched through their vocabulary
    #: facility_search's inputs (the tables it reads, as published), when the warehouse has it.
    facility: SearchInputs | None = None
    #: The version's dated label, `leads_20241101` (`version_label`).
    label: str | None = None
    #: Column → DuckDB type of the warehouse's search.contact_search, COPYed as the published
    #: contact_search (search_ddl.search_copy_source).
    search_types: dict[str, str] = field(default_factory=dict)

    @property
    def model_tables(self) -> dict[str, Any]:
        return {n: p.table for n, p in self.plans.items() if not p.is_mart}


def _duck_columns(duck: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    rows = duck.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return {n: t for n, t in rows}


def _plain_plan(duck: duckdb.DuckDBPyConnection, schema: str, name: str) -> TablePlan:
    """The plan of plain table `schema.name`, published as DuckDB has it (its keys checked
    when ddl.MART_KEYS gives it some)."""
    types = _duck_columns(duck, schema, name)
    cols = [PgColumn(c, t, ddl.mart_pg_type(t)) for c, t in types.items()]
    if name in MART_KEYS:
        _check_key_columns(duck, f"{schema}.{name}", MART_KEYS[name].key)
    rows = _table_rows(duck, schema, name)
    return TablePlan(name, None, cols, types, True, rows, f"{schema}.{quote_ident(name)}")


def _table_rows(duck: duckdb.DuckDBPyConnection, schema: str, name: str) -> int:
    return int(duck.execute(f"SELECT count(*) FROM {schema}.{quote_ident(name)}").fetchone()[0])


def read_plan(duck: duckdb.DuckDBPyConnection, cfg: Config) -> PublishPlan:
    """What to publish, checked against the warehouse before PostgreSQL is touched.

    The public-sector tables and the contact search view when the warehouse has contacts (the
    four tables always, empty when a source is missing, since the view reads them all); the
    facility search view and the tables it reads (facilities, licenses, addresses, contacts,
    empty ones too, and the facilities' lineage when it reads it) when the warehouse built
    facility_search; every other canonical table that has rows (the sales funnel's users,
    deals, ...); and every table of the `marts` schema, as a plain table beside them.
    """
    tables = cfg.tables()
    search = bool(_duck_columns(duck, "core", "contacts"))
    # A facility-list project publishes its 3NF tables whole (empty ones too).
    facilities = leads.wanted(cfg)
    # facility_search, when the warehouse built it: the tables it reads are published (empty
    # ones too), so the view has the warehouse's columns.
    facility = duckdb_inputs(duck) if _duck_columns(duck, "search", FACILITY_SEARCH.name) else None
    names = [
        n
        for n in tables
        if (search and n in PUBLISHED_TABLES)
        or (facility is not None and n in facility.tables)
        or (facilities and n in FACILITY_TABLES)
        or (_duck_columns(duck, "core", n) and _table_rows(duck, "core", n) > 0)
    ]
    plans: dict[str, TablePlan] = {}
    for name in names:
        tbl = tables[name]
        types = _duck_columns(duck, "core", name)
        exists = bool(types)
        cols = ddl.table_columns(tbl)
        if exists:
            missing = [
                c.name for c in cols[: len(cols) - len(ddl.LINEAGE_KEPT)] if c.name not in types
            ]
            if missing:
                raise PublishError(
                    f"core.{name} in the warehouse has no column {missing[0]!r} (crmpipe.yml "
                    "declares it); rebuild with 'crmpipe run --force', then publish"
                )
        rows = 0
        if exists:
            rows = _table_rows(duck, "core", name)
            _check_keys(duck, tbl)
        source = f"core.{quote_ident(name)}"
        plans[name] = TablePlan(name, tbl, cols, types, exists, rows, source)
    if facility is not None and LINEAGE in facility.tables:
        # facility_search's sources are the lineage's: published beside the tables it links.
        plans[LINEAGE] = _plain_plan(duck, "core", LINEAGE)
    for name in mart_tables(duck):
        if name in plans or name in ("search_fields", "contact_search", FACILITY_SEARCH.name):
            raise PublishError(
                f"marts.{name} has the name of a published table; rename the mart (its SQL "
                "file) so both can be published"
            )
        plans[name] = _plain_plan(duck, "marts", name)
    if not plans:
        raise PublishError(
            "the warehouse has nothing to publish (no core table has rows); run 'crmpipe run' first"
        )
    build = build_fingerprint(duck)
    published = None
    if facility is not None:
        # Read from the published tables.
        published = SearchInputs(facility.systems, frozenset(facility.tables & set(plans)))
    label = version_label(duck, plans)
    if not search:
        return PublishPlan(plans, False, [], [], build, facility=published, label=label)
    systems = crm_systems(duck) if plans["external_ids"].exists else []
    vocabulary = _vocabulary_fields(duck, cfg)
    view = search_ddl.search_view("s", cfg, systems, vocabulary)
    fields: list[FieldRow] = [
        (n, k, i, m, *view.lookups.get(n, (None, None, None, None)), view.narrow.get(n))
        for i, (n, k, m) in enumerate(view.fields)
    ]
    stored = _duck_columns(duck, "meta", "search_fields")
    rows = (
        duck.execute(
            "SELECT name, kind, position, "
            + ("match_column" if "match_column" in stored else "NULL")
            + " FROM meta.search_fields"
            + (
                f" WHERE coalesce(table_name, '{SEARCH_TABLE}') = '{SEARCH_TABLE}'"
                if "table_name" in stored
                else ""
            )
            + " ORDER BY position"
        ).fetchall()
        if stored
        else []
    )
    if rows and [tuple(r) for r in rows] != [f[:4] for f in fields]:
        if "match_column" not in stored:  # an older warehouse: compare what it records
            same = [(r[0], r[1]) for r in rows] == [(n, k) for n, k, _ in view.fields]
        else:
            same = False
        if not same:
            diff = sorted({r[0] for r in rows} ^ {f[0] for f in fields}) or ["(order or kinds)"]
            raise PublishError(
                f"the warehouse's search table doesn't match crmpipe.yml (fields differ: "
                f"{', '.join(diff[:5])}); rebuild with 'crmpipe run --force', then publish"
            )
    search_types = _duck_columns(duck, "search", SEARCH_TABLE)
    return PublishPlan(
        plans, True, systems, fields, build, vocabulary, published, label, search_types
    )


def _vocabulary_fields(duck: duckdb.DuckDBPyConnection, cfg: Config) -> tuple[str, ...]:
    """The indexed contact text fields (search_ddl.SEARCH_TRIGRAM) with few enough distinct values
    to be searched through their vocabulary (search_ddl.VOCABULARY_MAX_RATIO), measured on the
    warehouse's contacts."""
    contacts = cfg.tables()["contacts"]
    names = [
        c.name
        for c in contacts.all_columns
        if c.name in search_ddl.SEARCH_TRIGRAM and SEARCH_KINDS[c.role] == "text"
    ]
    if not names or not _duck_columns(duck, "core", "contacts"):
        return ()
    stats = duck.execute(
        "SELECT "
        + ", ".join(
            f"approx_count_distinct({quote_ident(n)}), count({quote_ident(n)})" for n in names
        )
        + " FROM core.contacts"
    ).fetchone()
    return tuple(
        n
        for i, n in enumerate(names)
        if stats[2 * i + 1] and stats[2 * i] <= search_ddl.VOCABULARY_MAX_RATIO * stats[2 * i + 1]
    )


def build_fingerprint(duck: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint `crmpipe run` recorded for the build (files + project file + version),
    kept in the registry so a run that changed nothing needn't publish again."""
    if not _duck_columns(duck, "meta", "build_state"):
        return None
    row = duck.execute("SELECT value FROM meta.build_state WHERE key = 'fingerprint'").fetchone()
    return str(row[0]) if row else None


def _check_keys(duck: duckdb.DuckDBPyConnection, tbl: Any) -> None:
    """Fail before PostgreSQL is touched when a key is NULL or repeated (the primary key would
    fail after minutes of index builds otherwise)."""
    _check_key_columns(duck, f"core.{tbl.name}", tbl.key)


def _check_key_columns(duck: duckdb.DuckDBPyConnection, name: str, key: tuple[str, ...]) -> None:
    """`_check_keys` for relation `name` (schema.table) and its key columns."""
    schema, table = name.split(".", 1)
    relation = f"{schema}.{quote_ident(table)}"
    keys = ", ".join(quote_ident(k) for k in key)
    nulls = " OR ".join(f"{quote_ident(k)} IS NULL" for k in key)
    (dups, null_keys) = duck.execute(
        f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {relation} "
        f"GROUP BY {keys} HAVING count(*) > 1)), "
        f"(SELECT count(*) FROM {relation} WHERE {nulls})"
    ).fetchone()
    if dups or null_keys:
        what = f"{dups:,} repeated" if dups else f"{null_keys:,} missing"
        raise PublishError(
            f"{name} has {what} keys ({', '.join(key)}); rebuild the warehouse with "
            "'crmpipe run --force', then publish (nothing was changed in PostgreSQL)"
        )


def data_date(duck: duckdb.DuckDBPyConnection, plans: dict[str, TablePlan]) -> date | None:
    """The date of the newest drop feeding the published tables: the newest date a feeding
    file's name carries (`source_1_20241101.csv`); when no feeding file's name has one, the
    newest modification day of the feeding files (meta.manifest); None when neither is known.

    The feeding files are those the published core tables' rows came from (their `_file`), so
    an older drop kept in `raw` as history doesn't count.
    """
    selects = [
        f"SELECT DISTINCT _file FROM {p.source}"
        for p in plans.values()
        if not p.is_mart and p.exists and p.rows and "_file" in p.duck_types
    ]
    if not selects:
        return None
    files = [r[0] for r in duck.execute(" UNION ".join(selects)).fetchall() if r[0]]
    dated = [d for d in (drop_date(f) for f in files) if d is not None]
    if dated:
        return max(dated)
    if not files or not _duck_columns(duck, "meta", "manifest"):
        return None
    row = duck.execute(
        "SELECT max(file_mtime) FROM meta.manifest WHERE file IN (SELECT unnest(?))", [files]
    ).fetchone()
    return row[0].date() if row and row[0] is not None else None


def version_label(
    duck: duckdb.DuckDBPyConnection, plans: dict[str, TablePlan], today: date | None = None
) -> str:
    """A version's dated label: `leads_YYYYMMDD` when the leads product is published, else
    `build_YYYYMMDD`, dated by `data_date` (the publish day when no file date is known).
    The registry makes it unique (`leads_20241101_2` for a second version of one date)."""
    day = data_date(duck, plans) or today or date.today()
    prefix = LEADS_LABEL if "leads" in plans and plans["leads"].is_mart else "build"
    return f"{prefix}_{day:%Y%m%d}"
