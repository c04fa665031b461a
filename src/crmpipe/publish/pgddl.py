"""PostgreSQL DDL derived from the canonical model: tables, keys, indexes and the search view.

Pure SQL text, no connection: `postgres.py` runs it. Everything follows `model.py` (plus the
extension columns of crmpipe.yml) so the published schema can't drift from the DuckDB build; the
search view mirrors `build.build_search` column for column, with `document` as a `tsvector`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from crmpipe.build import ENTITY_SEARCH_COLUMNS, SEARCH_KINDS, _safe_name
from crmpipe.config import Config
from crmpipe.model import LINEAGE_COLUMNS, Role, Table, physical_columns, quote_ident

#: The canonical tables published, referenced tables first.
PUBLISHED_TABLES: tuple[str, ...] = ("entities", "contacts", "techstacks", "external_ids")

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

#: Fields of contact_search with a trigram GIN index (substring search: `title: finance`).
#: A trigram GIN over 4.5M rows costs 10-35 s of single-core build time (PostgreSQL < 18
#: builds GIN serially), so only the contact-level fields the seed queries search get one.
#: Entity-level text (display_name, tech_names) repeats per contact: searching it through the
#: small entity tables is cheaper than indexing it 30 times over (docs/postgres.md).
SEARCH_TRIGRAM: tuple[str, ...] = ("title", "emails")

#: Roles whose extension columns get a B-tree (range filters such as `pop>10000`).
BTREE_ROLES = frozenset({Role.INTEGER, Role.NUMBER, Role.DATE, Role.TIMESTAMP})

#: Search field kinds that get a B-tree (plus entity_id, for entity-level searches), and the
#: list kinds that get a GIN array index (`crm @> '{a}'`, `tech_names && '{accela}'`).
BTREE_KINDS = frozenset({"number", "date", "timestamp"})
BTREE_FIELDS = ("entity_id",)
ARRAY_KINDS = frozenset({"code_list", "text_list"})

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


def literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in our sessions)."""
    return "'" + value.replace("'", "''") + "'"


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


def create_table(schema: str, tbl: Table) -> str:
    """CREATE TABLE without constraints (they come after the load; key columns are NOT NULL
    from the start so adding the primary key later needs no extra scan)."""
    return create_table_of(schema, tbl.name, table_columns(tbl))


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


def copy_field(name: str, duck_type: str) -> str:
    """DuckDB SQL for one COPY text field of column `name` (actual DuckDB type `duck_type`)."""
    col = quote_ident(name)
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


def copy_query(source: str, columns: list[PgColumn], duck_types: dict[str, str]) -> str:
    """DuckDB query yielding one VARCHAR `line` per row: the row in COPY text format with its
    newline, so a batch's string data buffer is exactly the bytes to send.

    Columns absent from the DuckDB table (`duck_types` lacks them) are sent as NULL.
    """
    fields = [
        copy_field(c.name, duck_types[c.name]) if c.name in duck_types else f"'{_BS}N'"
        for c in columns
    ]
    return f"SELECT concat({', chr(9), '.join(fields)}, chr(10)) AS line FROM {source}"


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


def _trigram(
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


def _btree(
    schema: str,
    table: str,
    cols: tuple[str, ...],
    kind: str,
    *,
    unique: bool = False,
    name: str | None = None,
) -> IndexSpec:
    name = name or object_name(table, *cols, "idx")
    return IndexSpec(
        name,
        table,
        f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote_ident(name)} ON "
        f"{qualified(schema, table)} ({', '.join(quote_ident(c) for c in cols)})",
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
        _btree(
            schema, tbl.name, tbl.key, "primary key", unique=True, name=primary_key_index_name(tbl)
        )
    ]
    for fk in foreign_keys(tbl, tables):
        if tbl.key[0] != fk.column:
            out.append(_btree(schema, tbl.name, (fk.column,), "foreign key"))
    trigram = TABLE_TRIGRAM.get(tbl.name, ()) + (
        CONTACT_TRIGRAM.get(tbl.name, ()) if contact_text else ()
    )
    for col in trigram:
        if col in tbl.column_names:
            is_list = tbl.column(col).role is Role.EMAIL_LIST
            out.append(_trigram(schema, tbl.name, col, is_list, trgm_ops))
    for col in tbl.extensions:
        if col.role in BTREE_ROLES:
            out.append(_btree(schema, tbl.name, (col.name,), "btree"))
    if tbl.name == "external_ids":
        out.append(_btree(schema, tbl.name, ("external_id",), "btree"))
    return out


def add_primary_key(schema: str, tbl: Table) -> str:
    """Turn the already-built unique index into the primary key (no second index build)."""
    name = primary_key_index_name(tbl)
    return (
        f"ALTER TABLE {qualified(schema, tbl.name)} ADD CONSTRAINT {quote_ident(name)} "
        f"PRIMARY KEY USING INDEX {quote_ident(name)}"
    )


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


# --- the search layer ------------------------------------------------------------------------


@dataclass
class SearchView:
    """The contact_search materialized view: its query, and its fields in order as
    (name, kind, match column): a text list's match column holds its elements joined by
    chr(31), a character no value has, for substring tests and their trigram index."""

    sql: str
    fields: list[tuple[str, str, str | None]]
    #: Text fields whose values come from a smaller table, searched there by the PostgreSQL
    #: dialect (crmpipe.search.compiler.Lookup): field → (table, column, key or None). An
    #: entity's text is matched back by `entity_id`; the tech names (lower-cased) by value.
    lookups: dict[str, tuple[str, str, str | None]] = dataclasses.field(default_factory=dict)

    @property
    def kinds(self) -> dict[str, str]:
        return {name: kind for name, kind, _ in self.fields}

    @property
    def match_columns(self) -> dict[str, str]:
        return {name: m for name, _, m in self.fields if m}


def _agg(expr: str, *, filter_: str = "") -> str:
    # DISTINCT + ORDER BY in the C collation: the same order as DuckDB's list(... ORDER BY).
    # The result goes back to the default collation: "C" would leak into every expression
    # using the list (lower() and regex classes would turn ASCII-only).
    c = f'{expr} COLLATE "C"'
    return f'(array_agg(DISTINCT {c} ORDER BY {c}){filter_}) COLLATE "default"'


def search_view(schema: str, cfg: Config, systems: list[str]) -> SearchView:
    """contact_search as PostgreSQL builds it from the normalized tables.

    The same columns, in the same order, as DuckDB's `search.contact_search` (build.py), except
    that `document` is a `tsvector` ('simple' configuration: no stemming, no stop words, so
    `fin:*` finds finance) of the words of DuckDB's document: lower-cased emails, their parts,
    title and tech names.
    """
    tables = cfg.tables()
    contacts, entities = tables["contacts"], tables["entities"]
    select: list[str] = []
    fields: list[tuple[str, str, str | None]] = []
    lookups: dict[str, tuple[str, str, str | None]] = {}

    def add(expr: str, name: str, kind: str) -> None:
        select.append(f"{expr} AS {quote_ident(name)}")
        match_column = None
        if kind == "text_list":
            match_column = f"_{name}_joined"
            select.append(f"array_to_string({expr}, chr(31)) AS {quote_ident(match_column)}")
        fields.append((name, kind, match_column))

    for col in contacts.all_columns:
        expr = f"c.{quote_ident(col.name)}"
        if col.name == "full_name":
            expr = "coalesce(c.full_name, nullif(concat_ws(' ', c.first_name, c.last_name), ''))"
        elif col.role is Role.BOOLEAN:
            expr = f"CAST({expr} AS text)"
        add(expr, col.name, SEARCH_KINDS[col.role])
    taken = {f[0] for f in fields}
    for col in [entities.column(n) for n in ENTITY_SEARCH_COLUMNS] + list(entities.extensions):
        out = col.name if col.name not in taken else f"entity_{col.name}"
        expr = f"e.{quote_ident(col.name)}"
        if col.role is Role.BOOLEAN:
            expr = f"CAST({expr} AS text)"
        add(expr, out, SEARCH_KINDS[col.role])
        if SEARCH_KINDS[col.role] == "text":
            lookups[out] = ("entities", col.name, "entity_id")
        taken.add(out)
    add("e.url", "entity_url", "text")
    lookups["entity_url"] = ("entities", "url", "entity_id")
    add("e.url_domain", "domain", "code")
    add("t.tech_names", "tech_names", "text_list")
    lookups["tech_names"] = ("techstacks", "name", None)
    add("t.tech_types", "tech_types", "code_list")
    add("x.crm", "crm", "code_list")
    for i, system in enumerate(systems):
        add(f"x.ids_{i}", f"{_safe_name(system)}_ids", "code_list")
    # DuckDB's document text, built the same way, then cut into
    # DuckDB's words (maximal runs of letters and digits) before PostgreSQL's parser sees it:
    # the lexemes and their positions are then exactly the words the DuckDB search matches
    # (`fin` as a word prefix, phrases as consecutive words), and no whole-address token (one
    # distinct key per contact) bloats the GIN index.
    text = (
        "lower(concat_ws(' ', array_to_string(c.emails, ' '), c.title, "
        "array_to_string(t.tech_names, ' ')))"
    )
    document = f"to_tsvector('simple', regexp_replace({text}, '[^[:alnum:]]+', ' ', 'g'))"
    add(document, "document", "document")
    id_lists = "".join(
        f", {_agg('lower(external_id)', filter_=f' FILTER (WHERE lower(system) = {literal(s)})')} "
        f"AS ids_{i}"
        for i, s in enumerate(systems)
    )
    s = lambda name: qualified(schema, name)  # noqa: E731 - local shorthand
    sql = (
        f"WITH t AS (SELECT entity_id, {_agg('lower(name)')} AS tech_names, "
        f"{_agg('lower(type)', filter_=' FILTER (WHERE type IS NOT NULL)')} AS tech_types "
        f"FROM {s('techstacks')} GROUP BY entity_id), "
        f"x AS (SELECT entity_id, {_agg('lower(customer)')} AS crm{id_lists} "
        f"FROM {s('external_ids')} WHERE entity_id IS NOT NULL GROUP BY entity_id) "
        f"SELECT {', '.join(select)} FROM {s('contacts')} c "
        f"LEFT JOIN {s('entities')} e ON e.entity_id = c.entity_id "
        "LEFT JOIN t ON t.entity_id = c.entity_id LEFT JOIN x ON x.entity_id = c.entity_id"
    )
    return SearchView(sql, fields, lookups)


def create_search_view(schema: str, view: SearchView) -> str:
    """WITH NO DATA: the rows come from a REFRESH, which (unlike CREATE ... AS) writes them
    frozen, visible to every snapshot once swapped in, like the COPY FREEZE tables."""
    return (
        f"CREATE MATERIALIZED VIEW {qualified(schema, 'contact_search')} AS {view.sql} WITH NO DATA"
    )


def search_indexes(schema: str, view: SearchView, trgm_ops: str) -> list[IndexSpec]:
    """Indexes of contact_search: UNIQUE contact_id (for REFRESH ... CONCURRENTLY), GIN on the
    document, trigram GIN on the main searched text fields, B-tree on numbers, dates and
    entity_id, GIN on the lists (crm, tech names and types, external ids).

    The key index is in the "C" collation: searches return rows in DuckDB's order (text by
    bytes) with `ORDER BY contact_id COLLATE "C"`, which this index answers without a sort
    whatever the database's own collation is."""
    name = "contact_search"
    kinds = view.kinds
    out = [
        IndexSpec(
            "contact_search_contact_id_key",
            name,
            "CREATE UNIQUE INDEX contact_search_contact_id_key ON "
            f'{qualified(schema, name)} (contact_id COLLATE "C")',
            "unique",
        ),
        IndexSpec(
            "contact_search_document_idx",
            name,
            f"CREATE INDEX contact_search_document_idx ON {qualified(schema, name)} "
            "USING gin (document)",
            "fulltext",
        ),
    ]
    trigram = [f for f in SEARCH_TRIGRAM if kinds.get(f) in ("text", "text_list")]
    for field in trigram:
        # A list is indexed through its match column (plain text: no function call per row).
        column = view.match_columns.get(field, field)
        out.append(_trigram(schema, name, column, False, trgm_ops, label=field))
    for field, kind, _ in view.fields:
        if kind in BTREE_KINDS or field in BTREE_FIELDS:
            out.append(_btree(schema, name, (field,), "btree"))
        elif kind in ARRAY_KINDS and field not in trigram:
            idx = object_name(name, field, "idx")
            out.append(
                IndexSpec(
                    idx,
                    name,
                    f"CREATE INDEX {quote_ident(idx)} ON "
                    f"{qualified(schema, name)} USING gin ({quote_ident(field)})",
                    "array",
                )
            )
    return out
