"""PostgreSQL DDL of the search layer: the contact_search table, `search_values` (the
vocabularies of fields searched in a smaller table) and their indexes; and the DuckDB queries
whose rows are COPYed into those two.

Pure SQL text, no connection: `postgres.py` runs it. The table's columns are those
`crmpipe.search.table` declares for both stores; this module adds how PostgreSQL indexes them.
Both tables are computed in DuckDB (vectorized, on every core) and COPYed rather than built by
PostgreSQL from the published tables: the document's words alone took 43 s of a 50-65 s
materialized-view build at 4.5M contacts (docs/postgres.md). Their rows are DuckDB's own, so
both stores search the same values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from crmpipe.config.schema import Config
from crmpipe.publish import ddl
from crmpipe.publish.ddl import (
    IndexSpec,
    PgColumn,
    btree_index,
    copy_field,
    copy_query,
    object_name,
    qualified,
    trigram_index,
)
from crmpipe.search.dialects import pg_month, pg_month_index
from crmpipe.search.facilities import FACILITY_SEARCH
from crmpipe.search.selects import postgres_elements, postgres_select
from crmpipe.search.table import (
    DUCKDB_SEARCH_TABLE,
    LIST_SOURCES,
    EntityList,
    Scalar,
    SearchInputs,
    field_rows,
    search_columns,
)
from crmpipe.sqltext import quote_ident, sql_str

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

#: Search field kinds that get a B-tree (plus entity_id, for entity-level searches), and the
#: list kinds that get a GIN array index (`crm @> '{a}'`, `tech_names && '{accela}'`).
BTREE_KINDS = frozenset({"number", "date", "timestamp"})
BTREE_FIELDS = ("entity_id",)
#: Of those, the kinds that also get a month index (month_index).
DATE_KINDS = frozenset({"date", "timestamp"})
ARRAY_KINDS = frozenset({"code_list", "text_list"})


@dataclass
class SearchView:
    """The contact_search materialized view: its query, and its fields in order as
    (name, kind, match column): a text list's match column holds its elements joined by
    chr(31), a character no value has, for substring tests and their trigram index."""

    sql: str
    fields: list[tuple[str, str, str | None]]
    #: Fields searched in a smaller table by the PostgreSQL dialect (crmpipe.search.dialects.
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
    #: The same rows as `values`, selected from the DuckDB warehouse's `core` tables.
    duck_values: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: The columns that are the entity's (its scalars, its lists and their match columns):
    #: the same for every contact of one entity_id.
    entity_columns: frozenset[str] = frozenset()

    @property
    def columns(self) -> list[str]:
        """The view's columns in order: each field, then its match column when it has one."""
        return [c for name, _, m in self.fields for c in (name, m) if c]

    @property
    def kinds(self) -> dict[str, str]:
        return {name: kind for name, kind, _ in self.fields}

    @property
    def match_columns(self) -> dict[str, str]:
        return {name: m for name, _, m in self.fields if m}


def search_view(
    schema: str, cfg: Config, systems: list[str], vocabulary: tuple[str, ...] = ()
) -> SearchView:
    """contact_search as PostgreSQL builds it from the normalized tables of `schema`: the
    columns search.table declares (the same as DuckDB's `search.contact_search`, `document` as
    a `tsvector`), with the lookups and vocabularies of the fields searched in smaller tables.
    `vocabulary` names the contact text fields searched through their vocabulary (see
    VOCABULARY_MAX_RATIO)."""
    columns = search_columns(cfg, systems)
    lookups: dict[str, tuple[str, str, str | None, str | None]] = {}
    values: list[tuple[str, str]] = []
    duck_values: list[tuple[str, str]] = []
    for col in columns:
        src = col.source
        entity_scalar = isinstance(src, Scalar) and src.table == "entities"
        if entity_scalar and (col.kind in BTREE_KINDS or (col.kind == "code" and not src.boolean)):
            # An entity's number (population, lat/long) or code (state): compared in the 150k
            # entities (numbers by their B-tree) and matched back by entity_id, instead of a
            # B-tree over 4.5M view rows or a scan of them.
            lookups[col.name] = ("entities", src.column, "entity_id", None)
        elif isinstance(src, Scalar) and col.kind == "text":
            if src.table == "entities":  # an entity's text, matched back by entity_id
                lookups[col.name] = ("entities", src.column, "entity_id", None)
            elif col.name in vocabulary:
                name = quote_ident(col.name)
                lookups[col.name] = (SEARCH_VALUES, "value", None, col.name)
                distinct = f"SELECT DISTINCT {name}, NULL::text FROM {{}} WHERE {name} IS NOT NULL"
                values.append((col.name, distinct.format(qualified(schema, "contacts"))))
                duck_values.append((col.name, distinct.format("core.contacts")))
        elif isinstance(src, EntityList):  # each element as the view has it, with its entity
            lookups[col.name] = (SEARCH_VALUES, "value", "entity_id", col.name)
            values.append((col.name, postgres_elements(schema, src)))
            duck_values.append((col.name, _duck_elements(src)))
    sql = postgres_select(schema, columns)
    entity_columns = frozenset(
        name
        for c in columns
        if (isinstance(c.source, Scalar) and c.source.table == "entities")
        or isinstance(c.source, EntityList)
        for name in (c.name, c.match_column)
        if name
    )
    return SearchView(
        sql,
        field_rows(columns),
        lookups,
        values,
        tuple(vocabulary),
        duck_values=duck_values,
        entity_columns=entity_columns,
    )


def _duck_elements(lst: EntityList) -> str:
    """DuckDB SELECT of (element, entity_id) for an entity list from `core`: the rows of
    search.selects.postgres_elements, with DuckDB's lower() (the one its search table used)."""
    conditions = [LIST_SOURCES[lst.table][1]]
    conditions.append(f"lower(system) = {sql_str(lst.system)}" if lst.system else lst.condition)
    where = [c for c in conditions if c]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT DISTINCT {lst.element}, entity_id FROM core.{quote_ident(lst.table)}{condition}"


#: A word of the document as DuckDB's search matches it (crmpipe.search.compiler: letters,
#: decimal digits, letter-like numerals), and the longest lexeme PostgreSQL accepts (bytes).
DOCUMENT_WORD = r"[\pL\p{Nd}\p{Nl}]+"
MAX_LEXEME_BYTES = 2047


def tsvector_literal(text: str) -> str:
    """DuckDB SQL turning document text into a `tsvector` literal of its words at their
    positions, `'bob':1 'smith':2 'bob':5` (PostgreSQL's input sorts the lexemes and merges a
    repeated word's positions): the tsvector to_tsvector('simple', ...) made of the same words,
    computed vectorized in DuckDB. The words hold only letters and digits, so none needs
    escaping; a word too long for a lexeme is left out (to_tsvector skips it too)."""
    quoted = "'''' || w || ''':' || i"
    return (
        f"array_to_string(list_transform(regexp_extract_all({text}, '{DOCUMENT_WORD}'), "
        f"lambda w, i: CASE WHEN strlen(w) <= {MAX_LEXEME_BYTES} THEN {quoted} END), ' ')"
    )


def search_copy_query(view: SearchView, duck_types: dict[str, str], keys: str | None = None) -> str:
    """DuckDB query of contact_search's rows as COPY text lines, from the warehouse's own
    search table, in email order (ddl.COPY_ORDER), the document as a tsvector literal.

    An entity's columns (its scalars, lists and their joined text) are the same for its ~30
    contacts, so each is rendered as COPY text once per entity (150k) rather than per contact
    (4.5M) and joined back by entity_id: the lists' array literals are most of the rendering.
    A contact without an entity (NULL or orphaned entity_id) has them all NULL, as in the view.
    `keys`: a relation of contact_id, whose contacts' rows only are selected (an in-place
    publish).
    """
    types = {**duck_types, "document": "VARCHAR"}
    table = DUCKDB_SEARCH_TABLE
    per_entity = [c for c in view.columns if c in view.entity_columns]
    picked = ", ".join(f"any_value({quote_ident(c)}) AS {quote_ident(c)}" for c in per_entity)
    rendered = ", ".join(
        f"{copy_field(c, types[c])} AS {quote_ident('_f_' + c)}" for c in per_entity
    )
    fields = []
    for c in view.columns:
        if c in view.entity_columns:
            fields.append(f"coalesce(ent_.{quote_ident('_f_' + c)}, '\\N')")
        elif c == "document":
            fields.append(copy_field(tsvector_literal("s.document"), "VARCHAR", expr=True))
        else:
            fields.append(copy_field(f"s.{quote_ident(c)}", types[c], expr=True))
    order = ddl.COPY_ORDER.get("contacts")
    order_by = f" ORDER BY s.{quote_ident(order)} NULLS LAST" if order in types else ""
    with_ = (
        f"WITH ent_ AS (SELECT entity_id, {rendered} FROM (SELECT entity_id, {picked} FROM {table} "
        "WHERE entity_id IS NOT NULL GROUP BY entity_id)) "
        if per_entity
        else ""
    )
    join = " LEFT JOIN ent_ ON ent_.entity_id = s.entity_id" if per_entity else ""
    where = f" WHERE s.contact_id IN (SELECT contact_id FROM {keys})" if keys else ""
    if keys and per_entity:  # the entities of those contacts only
        with_ = with_.replace(
            "WHERE entity_id IS NOT NULL",
            f"WHERE entity_id IS NOT NULL AND entity_id IN (SELECT t.entity_id FROM {table} t "
            f"WHERE t.contact_id IN (SELECT contact_id FROM {keys}))",
        )
    return (
        f"{with_}SELECT concat({', chr(9), '.join(fields)}, chr(10)) AS line "
        f"FROM {table} s{join}{where}{order_by}"
    )


def create_search_table(schema: str, view: SearchView) -> str:
    """contact_search, empty, with exactly the column types of the SELECT over the published
    tables; its rows come from DuckDB by COPY FREEZE (frozen: an older snapshot sees the whole
    table once it is swapped in; COPY FREEZE also sets the visibility map)."""
    return f"CREATE TABLE {qualified(schema, 'contact_search')} AS {view.sql} WITH NO DATA"


def create_values_table(schema: str, view: SearchView) -> str:
    """search_values (field, value, entity_id), empty, typed as its SELECT over the tables."""
    parts = " UNION ALL ".join(
        f"SELECT {sql_str(field)}::text AS field, v.* FROM ({select}) v(value, entity_id)"
        for field, select in view.values
    )
    return (
        f"CREATE TABLE {qualified(schema, SEARCH_VALUES)} AS SELECT field, value, entity_id "
        f"FROM ({parts}) u WITH NO DATA"
    )


def values_rows_query(view: SearchView) -> str:
    """DuckDB query of search_values' rows (field, value, entity_id), all VARCHAR."""
    return " UNION ALL ".join(
        f"SELECT {sql_str(field)} AS field, CAST(v.value AS VARCHAR) AS value, "
        f"CAST(v.entity_id AS VARCHAR) AS entity_id FROM ({select}) v(value, entity_id)"
        for field, select in view.duck_values
    )


#: search_values' columns, as DuckDB and COPY see them.
VALUES_COLUMNS = [PgColumn(c, "VARCHAR", "text") for c in ("field", "value", "entity_id")]


def values_copy_query(view: SearchView, rows: str | None = None) -> str:
    """DuckDB query of search_values' rows as COPY text lines, in (field, value) order so the
    rows of one value are neighbours; of the rows of relation `rows` when given (an in-place
    publish's new rows)."""
    rows = rows or f"({values_rows_query(view)})"
    types = {c.name: "VARCHAR" for c in VALUES_COLUMNS}
    source = f"(SELECT * FROM {rows} u ORDER BY field, value, entity_id) s"
    return copy_query(source, VALUES_COLUMNS, types)


def search_values_indexes(schema: str) -> list[str]:
    """The indexes of `search_values`: UNIQUE (field, value, entity_id) answers "the entities
    holding `a`" from the index alone, already distinct; the trigram GIN
    (`search_values_trigram`) finds values by substring. (No index by entity_id: with one, the
    planner probes it once per candidate of another condition, 12,000 times for
    `email:bob tech:accela`, where hashing the lookup's entities once is five times faster.)"""
    table = qualified(schema, SEARCH_VALUES)
    return [
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
        out.append(trigram_index(schema, name, column, False, trgm_ops, label=field))
    ek = tuple(f for f in BTREE_FIELDS if f in kinds)  # entity terms test it: in date indexes
    for field, kind, _ in view.fields:
        if field in BTREE_FIELDS:
            # Covering the key: a search's first statement (the capped count and, when few
            # match, their keys) reads the index alone for a lookup (crmpipe.search.executor).
            out.append(btree_index(schema, name, (field,), "btree", include=("contact_id",)))
        elif field in view.vocabulary:
            # ... and the entity, tested there by entity terms beside (`title:director state:CA`
            # at 4.5M: the count 0.6 s through the rows, 45 ms on the index alone).
            out.append(btree_index(schema, name, (field,), "btree", include=("contact_id", *ek)))
        elif kind in DATE_KINDS and field not in view.lookups:
            # Covering the key and the entity: the capped count of a date range, alone or with
            # entity terms (`created>2024-01-01 state:CA`), reads this index alone.
            out.append(btree_index(schema, name, (field,), "btree", include=("contact_id", *ek)))
            month = month_index(schema, name, field, kind, include=ek)
            if month is not None:
                out.append(month)
        elif kind in BTREE_KINDS and field not in view.lookups:
            out.append(btree_index(schema, name, (field,), "btree"))
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


def month_index(
    schema: str, table: str, field: str, kind: str, include: tuple[str, ...] = ()
) -> IndexSpec | None:
    """B-tree on (the month of a date or timestamp field, the key in the "C" collation, the
    field): within each month the keys in result order, so the first page of a range on the
    field is the first keys of each month it covers, merged (crmpipe.search.executor), where
    walking the key index may pass millions of rows before the first match (the range's matches
    at the end of the key order when keys are given out in time order) and collecting the
    matches reads them all. `include` (the entity id): entity terms beside the range are tested
    on the index alone as each month is walked. None when the index's name would be too long."""
    name = pg_month_index(table, field)
    if name is None:
        return None
    column = quote_ident(field)
    return IndexSpec(
        name,
        table,
        f"CREATE INDEX {quote_ident(name)} ON {qualified(schema, table)} "
        f'(({pg_month(column, kind)}), contact_id COLLATE "C", {column})'
        + (f" INCLUDE ({', '.join(quote_ident(c) for c in include)})" if include else ""),
        "btree",
    )


def lookup_indexes(schema: str, view: SearchView) -> list[IndexSpec]:
    """B-trees on what searches test in `entities` (150k rows: well under a second each): the
    entity numbers, and the entity codes as the dialect compares them (lower-cased text), so a
    range or a code finds its entities without scanning them.

    Each covers the lookup's key (`entity_id`), and a code's index its column too: the lookup
    (`SELECT entity_id FROM entities WHERE lower(state) = 'ca'`) is then an index-only scan.
    Without them PostgreSQL read the matching entities from the heap, a bitmap over scattered
    pages (3,635 pages for the 5,369 entities of `state:CA` at 4.5M contacts: 5 of the page's
    7.5 ms). An expression index is used index-only only when the column it is computed from
    is in the index as well, hence the code's column among the included ones.

    The other direction has its index too: where a contact-level term is the selective one
    (`filter: bob Accela >10000`: 13,763 contacts hold `bob`), PostgreSQL finds those contacts
    first and checks each one's entity by its key. The key's B-tree, including every column
    the lookups test (`entities_entity_id_probe`), answers those checks index-only instead of
    fetching each entity's row by the primary key (402 probes: ~1.5 ms of that query's 12-14
    ms at 4.5M contacts, docs/benchmarks.md)."""
    kinds = view.kinds
    out = []
    probed: dict[str, list[str]] = {}  # lookup key → the columns checked through it
    for field, (table, column, key, _) in view.lookups.items():
        kind = kinds.get(field)
        if table != "entities" or (kind not in BTREE_KINDS and kind != "code"):
            continue
        covered = (key,) if key and key != column else ()
        if covered:
            probed.setdefault(key, []).append(column)
        if kind in BTREE_KINDS:
            out.append(btree_index(schema, table, (column,), "btree", include=covered))
        else:
            idx = object_name(table, column, "lower_idx")
            included = ", ".join(quote_ident(c) for c in (*covered, column))
            out.append(
                IndexSpec(
                    idx,
                    table,
                    f"CREATE INDEX {quote_ident(idx)} ON {qualified(schema, table)} "
                    f"((lower(CAST({quote_ident(column)} AS text)))) INCLUDE ({included})",
                    "btree",
                )
            )
    for key, columns in probed.items():
        name = object_name("entities", key, "probe")
        out.append(btree_index(schema, "entities", (key,), "btree", name=name, include=(*columns,)))
    return out


# --- facility_search ------------------------------------------------------------------------


def facility_view(schema: str, cfg: Config, inputs: SearchInputs) -> SearchView:
    """facility_search as PostgreSQL builds it from the tables of `schema` (those `inputs`
    names): the columns search.facilities declares, the same as DuckDB's. Its fields are all
    searched in the view itself (a facility table is small): no lookups, no vocabularies."""
    columns = FACILITY_SEARCH.columns(cfg, inputs)
    sql = postgres_select(schema, columns, FACILITY_SEARCH, inputs)
    return SearchView(sql, field_rows(columns))


def facility_view_sql(schema: str, view: SearchView) -> list[str]:
    """The materialized view, filled by REFRESH (rows written frozen), its key index in the
    "C" collation (results in DuckDB's order, as contact_search's), a GIN on the document and
    B-trees on numbers and dates."""
    name = FACILITY_SEARCH.name
    table = qualified(schema, name)
    out = [
        f"CREATE MATERIALIZED VIEW {table} AS {view.sql} WITH NO DATA",
        f"REFRESH MATERIALIZED VIEW {table}",
        f"CREATE UNIQUE INDEX {quote_ident(name + '_entity_id_key')} ON {table} "
        '(entity_id COLLATE "C")',
        f"CREATE INDEX {quote_ident(name + '_document_idx')} ON {table} USING gin (document)",
    ]
    for field, kind, _ in view.fields:
        if kind in BTREE_KINDS:
            out.append(btree_index(schema, name, (field,), "btree").sql)
    return out
