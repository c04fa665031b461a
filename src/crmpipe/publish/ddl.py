"""PostgreSQL DDL derived from the canonical model: tables, keys, indexes and the search view.

Pure SQL text, no connection: `postgres.py` runs it. Everything follows `model.py` (plus the
extension columns of crmpipe.yml) so the published schema can't drift from the DuckDB build; the
search view mirrors `build.build_search` column for column, with `document` as a `tsvector`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from crmpipe.build.core import ENTITY_SEARCH_COLUMNS, SEARCH_KINDS, safe_name
from crmpipe.config.schema import Config
from crmpipe.model import LINEAGE_COLUMNS, Role, Table, physical_columns
from crmpipe.sqltext import quote_ident, sql_str

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

#: Contact-level text fields of contact_search that get an index for substring search
#: (`title: finance`, `email: bob`). A text field with few distinct values (job titles: a few
#: thousand among millions of contacts) is searched through its vocabulary in `search_values`
#: plus a B-tree (`VOCABULARY_MAX_RATIO`); any other (emails: one per contact) gets a trigram
#: GIN, which costs 10-45 s of single-core build time at 4.5M rows (PostgreSQL < 18 builds GIN
#: serially). Entity-level text (display_name, tech names) repeats per contact: it is searched
#: through the small tables it comes from instead of being indexed 30 times over.
SEARCH_TRIGRAM: tuple[str, ...] = ("title", "emails")
#: A scalar text field whose distinct values are at most this share of its rows is searched
#: through its vocabulary: the matching values are found in `search_values` (trigram GIN over
#: thousands of rows, not millions), then their rows through a B-tree, which stops at the count
#: cap; a substring search on the field itself would check every row up to the cap
#: (`title: finance` at 4.5M contacts: count 85 ms that way, under 1 ms through the vocabulary).
VOCABULARY_MAX_RATIO = 0.2
#: The table holding the vocabularies (field, value, entity_id); docs/schema.md.
SEARCH_VALUES = "search_values"

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
    #: Fields searched in a smaller table by the PostgreSQL dialect (crmpipe.search.compiler.
    #: Lookup): field → (table, column, key or None, vocabulary field or None). An entity's text
    #: in `entities`, matched back by `entity_id`; the entity's lists (tech names, CRM
    #: mappings) in `search_values` by `entity_id`; a vocabulary field (title) in
    #: `search_values` by value.
    lookups: dict[str, tuple[str, str, str | None, str | None]] = dataclasses.field(
        default_factory=dict
    )
    #: The rows of `search_values`: (field, SELECT of (value, entity_id) from the tables).
    values: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: Scalar text fields searched through their vocabulary (they get a B-tree, not a trigram).
    vocabulary: tuple[str, ...] = ()

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


def search_view(
    schema: str, cfg: Config, systems: list[str], vocabulary: tuple[str, ...] = ()
) -> SearchView:
    """contact_search as PostgreSQL builds it from the normalized tables.

    The same columns, in the same order, as DuckDB's `search.contact_search` (build.py), except
    that `document` is a `tsvector` ('simple' configuration: no stemming, no stop words, so
    `fin:*` finds finance) of the words of DuckDB's document: lower-cased emails, their parts,
    title and tech names. `vocabulary` names the contact text fields searched through their
    vocabulary (see VOCABULARY_MAX_RATIO).
    """
    tables = cfg.tables()
    contacts, entities = tables["contacts"], tables["entities"]
    select: list[str] = []
    fields: list[tuple[str, str, str | None]] = []
    lookups: dict[str, tuple[str, str, str | None, str | None]] = {}
    values: list[tuple[str, str]] = []
    s = lambda name: qualified(schema, name)  # noqa: E731 - local shorthand

    def by_entity(field: str, select: str) -> None:
        """An entity-level list searched in search_values, matched back by entity_id."""
        lookups[field] = (SEARCH_VALUES, "value", "entity_id", field)
        values.append((field, select))

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
        if col.name in vocabulary and SEARCH_KINDS[col.role] == "text":
            lookups[col.name] = (SEARCH_VALUES, "value", None, col.name)
            values.append(
                (
                    col.name,
                    f"SELECT DISTINCT {quote_ident(col.name)}, NULL::text FROM {s('contacts')} "
                    f"WHERE {quote_ident(col.name)} IS NOT NULL",
                )
            )
    taken = {f[0] for f in fields}
    for col in [entities.column(n) for n in ENTITY_SEARCH_COLUMNS] + list(entities.extensions):
        out = col.name if col.name not in taken else f"entity_{col.name}"
        expr = f"e.{quote_ident(col.name)}"
        if col.role is Role.BOOLEAN:
            expr = f"CAST({expr} AS text)"
        add(expr, out, SEARCH_KINDS[col.role])
        if SEARCH_KINDS[col.role] == "text":
            lookups[out] = ("entities", col.name, "entity_id", None)
        taken.add(out)
    add("e.url", "entity_url", "text")
    lookups["entity_url"] = ("entities", "url", "entity_id", None)
    add("e.url_domain", "domain", "code")
    # The entity's lists: each element as the view has it (lower-cased), with its entity.
    add("t.tech_names", "tech_names", "text_list")
    by_entity("tech_names", f"SELECT DISTINCT lower(name), entity_id FROM {s('techstacks')}")
    add("t.tech_types", "tech_types", "code_list")
    by_entity(
        "tech_types",
        f"SELECT DISTINCT lower(type), entity_id FROM {s('techstacks')} WHERE type IS NOT NULL",
    )
    add("x.crm", "crm", "code_list")
    by_entity(
        "crm",
        f"SELECT DISTINCT lower(customer), entity_id FROM {s('external_ids')} "
        "WHERE entity_id IS NOT NULL",
    )
    for i, system in enumerate(systems):
        name = f"{safe_name(system)}_ids"
        add(f"x.ids_{i}", name, "code_list")
        by_entity(
            name,
            f"SELECT DISTINCT lower(external_id), entity_id FROM {s('external_ids')} "
            f"WHERE entity_id IS NOT NULL AND lower(system) = {sql_str(system)}",
        )
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
        f", {_agg('lower(external_id)', filter_=f' FILTER (WHERE lower(system) = {sql_str(s)})')} "
        f"AS ids_{i}"
        for i, s in enumerate(systems)
    )
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
    return SearchView(sql, fields, lookups, values, tuple(vocabulary))


def create_search_values(schema: str, view: SearchView) -> list[str]:
    """`search_values` (field, value, entity_id), a materialized view: the vocabulary of each
    field searched through it, written in (field, value) order so the rows of one value are
    neighbours, then its index: UNIQUE (field, value, entity_id) answers "the entities holding
    `a`" from the index alone, already distinct; the trigram GIN (`search_values_trigram`) finds
    values by substring. (No index by entity_id: with one, the planner probes it once per
    candidate of another condition, 12,000 times for `email:bob tech:accela`, where hashing the
    lookup's entities once is five times faster.)"""
    table = qualified(schema, SEARCH_VALUES)
    parts = " UNION ALL ".join(
        f"SELECT {sql_str(field)}::text AS field, v.* FROM ({select}) v(value, entity_id)"
        for field, select in view.values
    )
    # A materialized view filled by REFRESH, like contact_search: its rows are written frozen,
    # so VACUUM can mark every page all-visible (index-only scans) even while the other build
    # connection's transactions are still open, and old snapshots see it whole after the swap.
    return [
        f"CREATE MATERIALIZED VIEW {table} AS SELECT field, value, entity_id FROM ({parts}) u "
        "ORDER BY 1, 2, 3 WITH NO DATA",
        f"REFRESH MATERIALIZED VIEW {table}",
        f"CREATE UNIQUE INDEX search_values_key ON {table} (field, value, entity_id)",
        # A value belongs to one field ('a' is a customer, 'accela' a tech name): without
        # these statistics the planner multiplies the two selectivities and guesses a tenth
        # of the rows, and picks plans for a handful of entities where there are 30,000.
        f"CREATE STATISTICS {qualified(schema, 'search_values_field_value')} (mcv, "
        f"dependencies) ON field, value FROM {table}",
    ]


def search_values_trigram(schema: str, trgm_ops: str) -> list[str]:
    """Trigram GIN on search_values' values (a few hundred thousand rows: about a second),
    then VACUUM ANALYZE: statistics, and the visibility map its index-only scans need."""
    table = qualified(schema, SEARCH_VALUES)
    return [
        f"CREATE INDEX search_values_value_trgm ON {table} USING gin (value {trgm_ops})",
        f"VACUUM (ANALYZE) {table}",
    ]


def create_search_view(schema: str, view: SearchView) -> str:
    """WITH NO DATA: the rows come from a REFRESH, which (unlike CREATE ... AS) writes them
    frozen, visible to every snapshot once swapped in, like the COPY FREEZE tables."""
    return (
        f"CREATE MATERIALIZED VIEW {qualified(schema, 'contact_search')} AS {view.sql} WITH NO DATA"
    )


def search_indexes(schema: str, view: SearchView, trgm_ops: str) -> list[IndexSpec]:
    """Indexes of contact_search: UNIQUE contact_id (for REFRESH ... CONCURRENTLY), GIN on the
    document, trigram GIN on the searched contact text (emails) or a B-tree on a vocabulary
    field (title), B-tree on numbers, dates and entity_id (the entity-level fields and lists
    are searched in `entities` and `search_values` and matched back through it). A list the
    view has that nothing else searches gets a GIN.

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
    trigram = [
        f
        for f in SEARCH_TRIGRAM
        if kinds.get(f) in ("text", "text_list") and f not in view.vocabulary
    ]
    for field in trigram:
        # A list is indexed through its match column (plain text: no function call per row).
        column = view.match_columns.get(field, field)
        out.append(_trigram(schema, name, column, False, trgm_ops, label=field))
    for field, kind, _ in view.fields:
        if field in BTREE_FIELDS or field in view.vocabulary:
            # Covering the key: a search's first statement (the capped count and, when few
            # match, their keys) reads the index alone for a lookup (crmpipe.search.executor).
            out.append(_btree(schema, name, (field,), "btree", include=("contact_id",)))
        elif kind in BTREE_KINDS:
            out.append(_btree(schema, name, (field,), "btree"))
        elif kind in ARRAY_KINDS and field not in trigram and field not in view.lookups:
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
