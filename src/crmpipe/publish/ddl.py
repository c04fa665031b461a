"""PostgreSQL DDL derived from the canonical model: tables, COPY, keys, constraints, indexes.

Pure SQL text, no connection: `postgres.py` runs it. Everything follows `model.py` (plus the
extension columns of crmpipe.yml) so the published schema can't drift from the DuckDB build;
the search layer's DDL (contact_search, search_values) is in `search_ddl.py`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crmpipe.model import LINEAGE_COLUMNS, Role, Table, physical_columns
from crmpipe.sqltext import quote_ident

#: The canonical tables published, referenced tables first.
PUBLISHED_TABLES: tuple[str, ...] = ("entities", "contacts", "techstacks", "external_ids")
#: The childcare case's 3NF tables (docs/childcare.md): facility, contact, license, address,
#: schedule. A facility-list project publishes all of them (empty ones too), so the published
#: schema doesn't depend on which lists happen to feed which table.
FACILITY_TABLES: tuple[str, ...] = ("entities", "contacts", "licenses", "addresses", "schedules")
#: Tables whose foreign keys must hold: every row was fed by a facility's own source row, so a
#: row naming no facility is a broken build, and the publish fails rather than serve it with a
#: NOT VALID key. (Contacts, tech stacks and CRM ids may legitimately name a place the places
#: file lacks: their orphans are kept, the key NOT VALID, as before.)
STRICT_FK_TABLES: frozenset[str] = frozenset(
    {"licenses", "addresses", "schedules", "leads", "lead_provenance"}
)


@dataclass(frozen=True)
class MartKeys:
    """The keys of a mart published with them: its primary key and its references, each a
    (column, referenced table) naming the referenced table's one-column key."""

    key: tuple[str, ...]
    references: tuple[tuple[str, str], ...] = ()


#: Marts published with keys (the leads product; the mover case's per-customer and per-job
#: marts, read by customer or job id); any other mart is a plain table.
MART_KEYS: dict[str, MartKeys] = {
    "leads": MartKeys(("entity_id",), (("entity_id", "entities"),)),
    "lead_provenance": MartKeys(("entity_id", "column_name"), (("entity_id", "entities"),)),
    "customer_lifetime": MartKeys(("customer_id",), (("customer_id", "customers"),)),
    "jobs_duplicates": MartKeys(("job_id",), (("job_id", "jobs"), ("customer_id", "customers"))),
}

#: Lineage columns kept in PostgreSQL (the ones `build_core` carries into core.*).
LINEAGE_KEPT: tuple[str, ...] = ("_source", "_file", "_row", "_run_id", "_loaded_at")

#: DuckDB type → PostgreSQL type.
PG_TYPES: dict[str, str] = {
    "VARCHAR": "text",
    "VARCHAR[]": "text[]",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
}

#: Searched text columns of the normalized tables that get a trigram GIN index: the entity
#: ones serve entity-level searches of the view (`entity_id IN (SELECT entity_id FROM entities
#: WHERE display_name ILIKE ...)`) and cost little (150k rows)...
TABLE_TRIGRAM: dict[str, tuple[str, ...]] = {
    "entities": ("display_name",),
    "techstacks": ("name",),
}
#: ...while these duplicate the view's own (for SQL written against the tables) and cost ~44 s
#: of build time at 4.5M contacts: `publish(table_text_indexes=False)` leaves them out.
CONTACT_TRIGRAM: dict[str, tuple[str, ...]] = {"contacts": ("title", "emails")}

#: Roles whose extension columns get a B-tree (range filters such as `pop>10000`).
BTREE_ROLES = frozenset({Role.INTEGER, Role.NUMBER, Role.DATE, Role.TIMESTAMP})

#: Name of the helper that joins a text[] with spaces; IMMUTABLE so indexes can use it
#: (array_to_string itself is only STABLE). Searches must call it the same way to use them.
LIST_TEXT = "list_text"

_NUMERIC_DUCK = (
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "DOUBLE",
    "FLOAT",
    "REAL",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
)


def pg_type(duck_type: str) -> str:
    """The PostgreSQL type for a DuckDB type of the model (ValueError for one it doesn't use)."""
    try:
        return PG_TYPES[duck_type.upper()]
    except KeyError:
        raise ValueError(f"no PostgreSQL mapping for DuckDB type {duck_type!r}") from None


#: DuckDB types a mart may have beyond the model's, and their PostgreSQL types.
_MART_TYPES: dict[str, str] = {
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric",
    "HUGEINT": "numeric",
    "UHUGEINT": "numeric",
    "FLOAT": "real",
    "REAL": "real",
    "TIME": "time",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "jsonb",
}


def mart_pg_type(duck_type: str) -> str:
    """The PostgreSQL type for any column type a mart (a SELECT over the warehouse) produced:
    the model's types, DECIMAL(p,s) as numeric(p,s), lists as arrays, and text for what has no
    counterpart (structs, maps, blobs: sent as DuckDB renders them)."""
    t = duck_type.upper().strip()
    if t.endswith("[]"):
        inner = mart_pg_type(t[:-2])
        return f"{inner}[]" if not inner.endswith("[]") else "text"
    if t in PG_TYPES:
        return PG_TYPES[t]
    if t.startswith("DECIMAL") or t.startswith("NUMERIC"):
        return "numeric" + t[t.index("(") :].lower() if "(" in t else "numeric"
    return _MART_TYPES.get(t, "text")


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def object_name(*parts: str) -> str:
    """An index/constraint name from parts, kept within PostgreSQL's 63-byte identifier limit."""
    name = "_".join(parts)
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[:54].decode(errors="ignore") + "_" + digest


@dataclass(frozen=True)
class PgColumn:
    """A published column: its name, the DuckDB type it comes from, its PostgreSQL type."""

    name: str
    duck_type: str
    pg_type: str
    not_null: bool = False


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    references: str
    ref_column: str

    @property
    def name(self) -> str:
        return object_name(self.table, self.column, "fkey")


@dataclass(frozen=True)
class IndexSpec:
    """One index to build: its name, the table (or view) it's on, the statement, what it's for."""

    name: str
    table: str
    sql: str
    kind: str  # primary key | unique | foreign key | trigram | btree | fulltext | array


def table_columns(tbl: Table) -> list[PgColumn]:
    """Every published column of `tbl`: the model's physical columns, then the kept lineage."""
    lineage = dict(LINEAGE_COLUMNS)
    cols = [PgColumn(n, t, pg_type(t), n in tbl.key) for n, t in physical_columns(tbl)]
    return cols + [PgColumn(n, lineage[n], pg_type(lineage[n])) for n in LINEAGE_KEPT]


def create_table_of(schema: str, name: str, columns: list[PgColumn]) -> str:
    """CREATE TABLE `name` with `columns` (a model table's, or a mart's as DuckDB has them)."""
    cols = ",\n  ".join(
        f"{quote_ident(c.name)} {c.pg_type}{' NOT NULL' if c.not_null else ''}" for c in columns
    )
    return f"CREATE TABLE {qualified(schema, name)} (\n  {cols}\n)"


def copy_statement(schema: str, name: str, columns: list[str]) -> str:
    """COPY in text format with FREEZE: rows are written frozen, so a reader whose snapshot is
    older than this load still sees them once the schema is swapped in (see docs/postgres.md)."""
    cols = ", ".join(quote_ident(c) for c in columns)
    return f"COPY {qualified(schema, name)} ({cols}) FROM STDIN WITH (FORMAT text, FREEZE true)"


# --- DuckDB side: rows as COPY text-format lines --------------------------------------------

_BS = "\\"


def _escape_text(expr: str) -> str:
    """DuckDB SQL escaping a VARCHAR for COPY text format (backslash, tab, newline, CR).

    NUL characters are dropped: PostgreSQL text cannot hold them (DuckDB's can).
    """
    out = f"replace(replace({expr}, chr(0), ''), '{_BS}', '{_BS}{_BS}')"
    for code, letter in ((9, "t"), (10, "n"), (13, "r")):
        out = f"replace({out}, chr({code}), '{_BS}{letter}')"
    return out


def _array_literal(expr: str, element_type: str) -> str:
    """DuckDB SQL turning a list into a PostgreSQL array literal: {"a","b\\"c",NULL}."""
    elem = "e" if element_type.upper() == "VARCHAR" else "CAST(e AS VARCHAR)"
    quoted = (
        f"CASE WHEN e IS NULL THEN 'NULL' ELSE '\"' || replace(replace({elem}, '{_BS}', "
        f"'{_BS}{_BS}'), '\"', '{_BS}\"') || '\"' END"
    )
    return f"'{{' || array_to_string(list_transform({expr}, lambda e: {quoted}), ',') || '}}'"


def copy_field(name: str, duck_type: str, *, expr: bool = False) -> str:
    """DuckDB SQL for one COPY text field of column `name` (actual DuckDB type `duck_type`);
    of the SQL expression `name` when `expr`."""
    col = name if expr else quote_ident(name)
    t = duck_type.upper()
    if t.endswith("[]"):
        value = _escape_text(_array_literal(col, t[:-2]))
    elif t == "BOOLEAN":
        value = f"CASE WHEN {col} THEN 't' WHEN NOT {col} THEN 'f' END"
    elif t == "VARCHAR":
        value = _escape_text(col)
    elif t in _NUMERIC_DUCK or t.startswith("DECIMAL"):
        value = f"CAST({col} AS VARCHAR)"
    else:
        value = _escape_text(f"CAST({col} AS VARCHAR)")
    return f"coalesce({value}, '{_BS}N')"


def copy_query(
    source: str,
    columns: list[PgColumn],
    duck_types: dict[str, str],
    order_by: str | None = None,
) -> str:
    """DuckDB query yielding one VARCHAR `line` per row: the row in COPY text format with its
    newline, so a batch's string data buffer is exactly the bytes to send; in `order_by`'s order
    (a column of `source`) when given (COPY_ORDER).

    Columns absent from the DuckDB table (`duck_types` lacks them) are sent as NULL.
    """
    fields = [
        copy_field(c.name, duck_types[c.name]) if c.name in duck_types else f"'{_BS}N'"
        for c in columns
    ]
    order = ""
    if order_by is not None and order_by in duck_types:
        order = f" ORDER BY {quote_ident(order_by)} NULLS LAST"
    return f"SELECT concat({', chr(9), '.join(fields)}, chr(10)) AS line FROM {source}{order}"


#: The physical order tables are loaded in (and so the search view built in): contacts by
#: their emails. A search on emails (`email: bob`, the most common search: people by name)
#: then finds its matches on a few neighbouring pages instead of one page each: at 4.5M
#: contacts 83% of the 13.8k addresses containing "bob" start with it, and checking them read
#: 13.5k pages in contact_id order. Pages in key order don't need it: they walk the key index.
COPY_ORDER: dict[str, str] = {"contacts": "emails"}


# --- constraints and indexes of the normalized tables --------------------------------------


def list_text_function(schema: str) -> str:
    """IMMUTABLE text[] → text joiner for expression indexes on lists (emails, tech names).

    PL/pgSQL rather than SQL: an IMMUTABLE SQL wrapper around a STABLE function is not inlined
    and runs through the slow SQL-function executor (2 µs a call against 0.9 µs measured here).
    """
    return (
        f"CREATE FUNCTION {qualified(schema, LIST_TEXT)}(text[]) RETURNS text "
        "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS "
        "$$ BEGIN RETURN array_to_string($1, ' '); END $$"
    )


def foreign_keys(tbl: Table, tables: dict[str, Table]) -> list[ForeignKey]:
    """The foreign keys of `tbl`: each `ref` column to the key of the table it references."""
    out = []
    for col in tbl.columns:
        if col.role is Role.REF and col.references in tables:
            ref = tables[col.references]
            out.append(ForeignKey(tbl.name, col.name, ref.name, ref.key[0]))
    return out


def trigram_index(
    schema: str, table: str, col: str, is_list: bool, trgm_ops: str, label: str | None = None
) -> IndexSpec:
    expr = f"{qualified(schema, LIST_TEXT)}({quote_ident(col)})" if is_list else quote_ident(col)
    name = object_name(table, label or col, "trgm")
    return IndexSpec(
        name,
        table,
        f"CREATE INDEX {quote_ident(name)} ON {qualified(schema, table)} "
        f"USING gin (({expr}) {trgm_ops})",
        "trigram",
    )


def btree_index(
    schema: str,
    table: str,
    cols: tuple[str, ...],
    kind: str,
    *,
    unique: bool = False,
    name: str | None = None,
    include: tuple[str, ...] = (),
) -> IndexSpec:
    name = name or object_name(table, *cols, "idx")
    covering = f" INCLUDE ({', '.join(quote_ident(c) for c in include)})" if include else ""
    return IndexSpec(
        name,
        table,
        f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote_ident(name)} ON "
        f"{qualified(schema, table)} ({', '.join(quote_ident(c) for c in cols)}){covering}",
        kind,
    )


def primary_key_index_name(tbl: Table) -> str:
    return object_name(tbl.name, "pkey")


def table_indexes(
    schema: str, tbl: Table, tables: dict[str, Table], trgm_ops: str, *, contact_text: bool = True
) -> list[IndexSpec]:
    """Indexes of a normalized table: the unique index that becomes its primary key, one per
    foreign key (unless the key's leading column already covers it), trigram GIN on searched
    text, B-tree on numeric/date extension columns and on external ids."""
    out = [
        btree_index(
            schema, tbl.name, tbl.key, "primary key", unique=True, name=primary_key_index_name(tbl)
        )
    ]
    for fk in foreign_keys(tbl, tables):
        if tbl.key[0] != fk.column:
            out.append(btree_index(schema, tbl.name, (fk.column,), "foreign key"))
    trigram = TABLE_TRIGRAM.get(tbl.name, ()) + (
        CONTACT_TRIGRAM.get(tbl.name, ()) if contact_text else ()
    )
    for col in trigram:
        if col in tbl.column_names:
            is_list = tbl.column(col).role is Role.EMAIL_LIST
            out.append(trigram_index(schema, tbl.name, col, is_list, trgm_ops))
    for col in tbl.extensions:
        if col.role in BTREE_ROLES:
            out.append(btree_index(schema, tbl.name, (col.name,), "btree"))
    if tbl.name == "external_ids":
        out.append(btree_index(schema, tbl.name, ("external_id",), "btree"))
    return out


def add_primary_key(schema: str, tbl: Table | str) -> str:
    """Turn the already-built unique index into the primary key (no second index build); `tbl`
    is a model table or a keyed mart's name."""
    table = tbl if isinstance(tbl, str) else tbl.name
    name = object_name(table, "pkey")
    return (
        f"ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {quote_ident(name)} "
        f"PRIMARY KEY USING INDEX {quote_ident(name)}"
    )


def mart_foreign_keys(name: str, tables: dict[str, Table]) -> list[ForeignKey]:
    """The foreign keys of keyed mart `name` to the published model tables."""
    keys = MART_KEYS.get(name)
    if keys is None:
        return []
    return [
        ForeignKey(name, col, ref, tables[ref].key[0])
        for col, ref in keys.references
        if ref in tables
    ]


def mart_indexes(schema: str, name: str, tables: dict[str, Table]) -> list[IndexSpec]:
    """Indexes of keyed mart `name`: the unique index that becomes its primary key, and one per
    foreign key its key's leading column doesn't cover."""
    keys = MART_KEYS[name]
    out = [
        btree_index(
            schema, name, keys.key, "primary key", unique=True, name=object_name(name, "pkey")
        )
    ]
    for fk in mart_foreign_keys(name, tables):
        if keys.key[0] != fk.column:
            out.append(btree_index(schema, name, (fk.column,), "foreign key"))
    return out


def add_foreign_key(schema: str, fk: ForeignKey) -> str:
    """NOT VALID: instant, and it still guards future writes; validated later when clean."""
    return (
        f"ALTER TABLE {qualified(schema, fk.table)} ADD CONSTRAINT {quote_ident(fk.name)} "
        f"FOREIGN KEY ({quote_ident(fk.column)}) REFERENCES {qualified(schema, fk.references)} "
        f"({quote_ident(fk.ref_column)}) NOT VALID"
    )


def orphan_count(schema: str, fk: ForeignKey) -> str:
    """Rows whose foreign key names no row of the referenced table."""
    return (
        f"SELECT count(*) FROM {qualified(schema, fk.table)} t WHERE t.{quote_ident(fk.column)} "
        f"IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {qualified(schema, fk.references)} r "
        f"WHERE r.{quote_ident(fk.ref_column)} = t.{quote_ident(fk.column)})"
    )


def strict_key_error(orphans: dict[str, int]) -> str | None:
    """The error when a table whose foreign keys must hold (STRICT_FK_TABLES: the childcare
    tables fed by a facility's own rows, and the leads product) has rows naming no facility
    (`orphans`: per `table.column`, what the keys job found): the version is not served with a
    NOT VALID key."""
    broken = {key: n for key, n in orphans.items() if key.split(".", 1)[0] in STRICT_FK_TABLES}
    if not broken:
        return None
    key, n = next(iter(broken.items()))
    table, column = key.split(".", 1)
    return (
        f"{table}: {n:,} row{'s' if n != 1 else ''} whose {column} names no facility "
        "in entities, so the foreign key doesn't hold (were their facilities "
        "quarantined? see quarantine.entities); fix the build and publish again "
        "(the previous version still serves)"
    )
