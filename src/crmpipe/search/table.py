"""The search table, declared once: its columns and where each comes from, rendered per dialect.

`contact_search` flattens each contact with its entity, the entity's tech names and types, the
customers that map it (`crm`) and the ids each CRM system gives it (`<system>_ids`), plus a
free-text `document`. `search_columns` declares those columns (name, kind, source) from the
model and crmpipe.yml; `duckdb_select` renders them for the warehouse (`build.core`) and
`postgres_select` for the published materialized view (`publish.search_ddl`), so the two stores
have the same columns, in the same order, with the same values (docs/architecture.md, "a new SQL
dialect").
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmpipe.config.schema import Config
from crmpipe.model import Role
from crmpipe.search.entities import KEY_COLUMN as ENTITY_KEY
from crmpipe.search.entities import duckdb_key
from crmpipe.search.hashed import duckdb_hash, hash_column
from crmpipe.search.signature import duckdb_signature
from crmpipe.sqltext import quote_ident, sql_str

#: The search table and its field registry (name, kind, position, match column of each
#: searchable column): in schemas `search` and `meta` of the DuckDB warehouse, in the published
#: schema in PostgreSQL.
SEARCH_TABLE = "contact_search"
FIELDS_TABLE = "search_fields"
DUCKDB_SEARCH_TABLE = f"search.{SEARCH_TABLE}"
DUCKDB_FIELDS_TABLE = f"meta.{FIELDS_TABLE}"

#: How each role is searched (see docs/query-language.md).
SEARCH_KINDS: dict[Role, str] = {
    Role.ID: "code",
    Role.REF: "code",
    Role.TEXT: "text",
    Role.PERSON_NAME: "text",
    Role.EMAIL_LIST: "text_list",
    Role.PHONE: "text",
    Role.STATE: "code",
    Role.POSTAL_CODE: "text",
    Role.URL: "text",
    Role.DATE: "date",
    Role.TIMESTAMP: "timestamp",
    Role.INTEGER: "number",
    Role.NUMBER: "number",
    Role.BOOLEAN: "code",
    Role.LAT: "number",
    Role.LONG: "number",
    Role.CATEGORY: "code",
}

#: Entity columns carried into the search table (besides the entity's extension columns).
ENTITY_SEARCH_COLUMNS = (
    "display_name",
    "entity_type",
    "city",
    "state",
    "postal_code",
    "county",
    "lat",
    "long",
)

#: The per-entity lists come from these tables, each aggregated in one CTE: table → (alias,
#: condition on its rows).
LIST_SOURCES: dict[str, tuple[str, str | None]] = {
    "techstacks": ("t", None),
    "external_ids": ("x", "entity_id IS NOT NULL"),
}
#: A list table whose rows name their entity by another column than `entity_id`: the
#: resolution's lineage names the golden facility a staged row went into (`golden_id`).
LIST_ENTITY_COLUMNS: dict[str, str] = {"entity_sources": "golden_id"}


def list_entity(table: str) -> tuple[str, str]:
    """The column of list table `table` naming the entity its rows belong to, and its
    selection as `entity_id`."""
    column = LIST_ENTITY_COLUMNS.get(table, "entity_id")
    return column, column if column == "entity_id" else f"{column} AS entity_id"


def list_cte(table: str, relation: str, aggregates: list[str], where: str | None) -> str:
    """SELECT of one row per entity of list table `table` (read as `relation`): its
    `entity_id` and `aggregates`, over the rows where `where` holds."""
    column, entity = list_entity(table)
    condition = f" WHERE {where}" if where else ""
    return f"SELECT {entity}, {', '.join(aggregates)} FROM {relation}{condition} GROUP BY {column}"


#: The free-text document: lower-cased emails, title and tech names. Free terms match word
#: prefixes, and words are runs of letters and digits, so an address already yields its parts
#: (bob.smith@city.gov → bob, smith, city, gov): no need to add them.
DOCUMENT_TEXT = (
    "lower(concat_ws(' ', array_to_string(c.emails, ' '), c.title, "
    "array_to_string(t.tech_names, ' ')))"
)


@dataclass(frozen=True)
class Scalar:
    """A column of the contact (`alias` c) or its entity (`alias` e); `expr` over that alias,
    cast to text when `boolean` (booleans are searched as codes)."""

    table: str  # contacts | entities
    column: str
    expr: str
    boolean: bool = False


@dataclass(frozen=True)
class EntityList:
    """The distinct lower-cased `element`s of an entity's rows in `table` (those of CRM system
    `system` only, when given; those where `condition` holds), in byte order."""

    table: str  # a key of LIST_SOURCES
    element: str
    cte_column: str
    condition: str | None = None
    system: str | None = None


@dataclass(frozen=True)
class Document:
    """The free-text document (its table's `document` text), as each dialect indexes words."""


@dataclass(frozen=True)
class SearchColumn:
    """One searchable column of the search table: its name, its kind (search.fields.Kind), and
    where its values come from."""

    name: str
    kind: str
    source: Scalar | EntityList | Document

    @property
    def match_column(self) -> str | None:
        """A text list's elements joined by chr(31) (search.fields.JOIN_SEPARATOR), a character
        no value has: a substring test on it is much faster than on the list, same answers."""
        return f"_{self.name}_joined" if self.kind == "text_list" else None


@dataclass(frozen=True)
class Join:
    """A table joined to the base row (`LEFT JOIN table alias ON on`). With `pick` set, the
    table may hold several rows per `entity_id`: the first in `pick` order is joined (a CTE
    numbering them; `pick_key` is ordered by bytes in both dialects, as a tie-breaker)."""

    table: str
    alias: str
    on: str
    pick: str | None = None
    pick_key: str | None = None


@dataclass(frozen=True)
class SearchInputs:
    """What a declaration's columns depend on besides crmpipe.yml: the CRM systems of
    `external_ids` and the canonical tables the store has (`core.*` or published)."""

    systems: tuple[str, ...] = ()
    tables: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SearchTable:
    """A searchable table, declared once and rendered for each store.

    `name` is the table (`search.<name>` in DuckDB, `<schema>.<name>` in PostgreSQL), `label`
    what users call it (`crmpipe search --table facilities`). One row per row of `base` (as
    `alias`), ordered by `key`; `joins` add one row each; `lists` are per-entity aggregates
    (table → alias, condition), one CTE each, joined on `list_key`; `columns` declares the
    columns from crmpipe.yml and the store (SearchInputs); `document` is the free-text
    document's SQL; `aliases` are the field aliases every project gets (crmpipe.yml's add to
    them); `default_columns` are shown when a caller chooses none; `needs` are the canonical
    tables the SELECT reads (created empty in DuckDB when a project has none); `fetched` are
    shown columns of nearly unique text that DuckDB stores uncompressed, so that a page's rows
    are read back without decompressing the blocks around them (build.core); `signed` are text
    lists whose joined text gets a bigram signature in DuckDB (`_<name>_sig`, search.signature),
    which a substring test on the list checks first; `hashed` are entity lists whose joined
    text DuckDB also stores hashed, searched through a table of distinct texts (search.hashed);
    with `entity_table`, DuckDB stores a key of the base row's entity (`list_key`) and a table
    of the entity-level columns once per key, where several entity-level terms of a query are
    tested together (search.entities)."""

    name: str
    label: str
    base: str
    alias: str
    key: str
    list_key: str
    joins: tuple[Join, ...]
    lists: dict[str, tuple[str, str | None]]
    document: str | Callable[[SearchInputs], str]
    columns: Callable[[Config, SearchInputs], list[SearchColumn]]
    default_columns: tuple[str, ...]
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    needs: tuple[str, ...] = ()
    fetched: tuple[str, ...] = ()
    signed: tuple[str, ...] = ()
    hashed: tuple[str, ...] = ()
    entity_table: bool = False

    @property
    def duckdb_table(self) -> str:
        return f"search.{self.name}"

    def entity_level(self, col: SearchColumn) -> bool:
        """Whether `col`'s values are its entity's (a joined table's column or a per-entity
        list), so that DuckDB's entity table holds it (when the table has one)."""
        src = col.source
        return isinstance(src, EntityList) or (isinstance(src, Scalar) and src.table != self.base)

    def entity_columns(self, columns: list[SearchColumn]) -> list[str]:
        """The DuckDB columns the entity table holds: each entity-level column with the
        columns made from it (joined text, signature, hash); empty without `entity_table`."""
        if not self.entity_table:
            return []
        out: list[str] = []
        for col in columns:
            if self.entity_level(col):
                made = (col.match_column, self.signature_column(col), self.hash_column(col))
                out += [col.name, *(m for m in made if m)]
        return out

    def signature_column(self, col: SearchColumn) -> str | None:
        """The DuckDB column of the bigram signature of `col`'s joined text (its match
        column), when `col` is one of `signed` (search.signature); None otherwise."""
        if col.name in self.signed and col.match_column:
            return f"_{col.name}_sig"
        return None

    def hash_column(self, col: SearchColumn) -> str | None:
        """The DuckDB column of the hash of `col`'s joined text when `col` is one of `hashed`."""
        return hash_column(col.name) if col.name in self.hashed and col.match_column else None


#: Inputs naming every table: a declaration rendered with all its joins.
_ALL = SearchInputs(tables=frozenset({"contacts", "licenses", "addresses", "entities"}))


def safe_name(value: str) -> str:
    """`value` as an identifier part: lower-case letters, digits and underscores."""
    return "".join(ch if ch.isalnum() else "_" for ch in value.lower()).strip("_") or "crm"


def crm_systems(duck: Any) -> list[str]:
    """The CRM systems of the warehouse's `core.external_ids` (lower-cased, sorted): one
    `<system>_ids` column each. `duck` is a DuckDB connection."""
    rows = duck.execute(
        "SELECT DISTINCT lower(system) FROM core.external_ids WHERE system IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def search_columns(cfg: Config, systems: list[str]) -> list[SearchColumn]:
    """The search table's columns in order: every contact column, the entity's (an entity column
    named like a contact one gets an `entity_` prefix), its URL and domain, its tech names and
    types, the customers mapping it and each system's ids, then the document."""
    tables = cfg.tables()
    contacts, entities = tables["contacts"], tables["entities"]
    out: list[SearchColumn] = []
    for col in contacts.all_columns:
        expr = f"c.{quote_ident(col.name)}"
        if col.name == "full_name":
            expr = "coalesce(c.full_name, nullif(concat_ws(' ', c.first_name, c.last_name), ''))"
        source = Scalar("contacts", col.name, expr, col.role is Role.BOOLEAN)
        out.append(SearchColumn(col.name, SEARCH_KINDS[col.role], source))
    taken = {c.name for c in out}
    for col in [entities.column(n) for n in ENTITY_SEARCH_COLUMNS] + list(entities.extensions):
        name = col.name if col.name not in taken else f"entity_{col.name}"
        source = Scalar(
            "entities", col.name, f"e.{quote_ident(col.name)}", col.role is Role.BOOLEAN
        )
        out.append(SearchColumn(name, SEARCH_KINDS[col.role], source))
        taken.add(name)
    out += [
        SearchColumn("entity_url", "text", Scalar("entities", "url", "e.url")),
        SearchColumn("domain", "code", Scalar("entities", "url_domain", "e.url_domain")),
        SearchColumn(
            "tech_names", "text_list", EntityList("techstacks", "lower(name)", "tech_names")
        ),
        SearchColumn(
            "tech_types",
            "code_list",
            EntityList("techstacks", "lower(type)", "tech_types", "type IS NOT NULL"),
        ),
        SearchColumn("crm", "code_list", EntityList("external_ids", "lower(customer)", "crm")),
    ]
    for i, system in enumerate(systems):
        source = EntityList("external_ids", "lower(external_id)", f"ids_{i}", system=system)
        out.append(SearchColumn(f"{safe_name(system)}_ids", "code_list", source))
    out.append(SearchColumn("document", "document", Document()))
    return out


#: contact_search: each contact with its entity, its lists and the document.
CONTACT_SEARCH = SearchTable(
    name=SEARCH_TABLE,
    label="contacts",
    base="contacts",
    alias="c",
    key="contact_id",
    list_key="c.entity_id",
    joins=(Join("entities", "e", "e.entity_id = c.entity_id"),),
    lists=LIST_SOURCES,
    document=DOCUMENT_TEXT,
    columns=lambda cfg, inputs: search_columns(cfg, list(inputs.systems)),
    default_columns=(
        "contact_id",
        "full_name",
        "title",
        "emails",
        "phone",
        "display_name",
        "state",
    ),
    needs=("entities", "techstacks", "external_ids"),
    # Reading back a page of 50 contacts at 4.5M: 31, 28 and 19 ms for these columns stored
    # compressed (FSST decodes a block to reach a row), 2 ms each uncompressed.
    fetched=("full_name", "phone", "display_name"),
    # `email: bob` keeps 0.3% of the contacts, and the contains over 1M joined emails was
    # most of the `filter:` query's scan (32 ms); the signature leaves it 6.5% of the rows to
    # test (4.6 ms). Tech names are the entity's (few distinct texts): not signed.
    signed=("emails",),
    # `tech: accela` tested on the 36k distinct tech texts instead of 4.5M rows (search.hashed).
    hashed=("tech_names",),
    # `tech:accela pop>10000` tested on the 145k entities, one probe (search.entities).
    entity_table=True,
)


def field_rows(columns: list[SearchColumn]) -> list[tuple[str, str, str | None]]:
    """(name, kind, match column) of each column, in order: what `meta.search_fields` records."""
    return [(c.name, c.kind, c.match_column) for c in columns]


# --- rendering ------------------------------------------------------------------------------


class _Dialect(ABC):
    """What differs between the dialects' SELECTs of the search table."""

    #: The text type booleans are cast to.
    text: str

    @abstractmethod
    def table(self, name: str) -> str:
        """A canonical table, qualified."""

    @abstractmethod
    def system(self, system: str) -> str:
        """A CRM system's name in a condition (a literal or a parameter)."""

    @abstractmethod
    def aggregate(self, element: str, filter_: str) -> str:
        """The distinct `element`s of a group (where `filter_`), in byte order, as a list."""

    @abstractmethod
    def document(self, text: str) -> str:
        """The document column from the document text."""

    def signature(self, joined: str) -> str | None:
        """The bigram signature of a list's joined text, where the store has one (DuckDB)."""
        return None

    def hashed(self, joined: str) -> str | None:
        """The hash of an entity list's joined text, where the store has one (DuckDB)."""
        return None

    def entity_key(self, entity_id: str) -> str | None:
        """The key of the base row's entity (search.entities), where the store has one."""
        return None

    def byte_order(self, expr: str) -> str:
        """`expr` as an ORDER BY key sorting text by bytes (DuckDB's order)."""
        return expr


class _DuckDB(_Dialect):
    text = "VARCHAR"

    def table(self, name: str) -> str:
        return f"core.{name}"

    def system(self, system: str) -> str:
        return "?"  # bound in order: duckdb_select's parameters

    def aggregate(self, element: str, filter_: str) -> str:
        return f"list(DISTINCT {element} ORDER BY {element}){filter_}"

    def document(self, text: str) -> str:
        return text

    def signature(self, joined: str) -> str | None:
        return duckdb_signature(joined)

    def hashed(self, joined: str) -> str | None:
        return duckdb_hash(joined)

    def entity_key(self, entity_id: str) -> str | None:
        return duckdb_key(entity_id)


class _Postgres(_Dialect):
    text = "text"

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(name)}"

    def system(self, system: str) -> str:
        return sql_str(system)

    def aggregate(self, element: str, filter_: str) -> str:
        # DISTINCT + ORDER BY in the C collation: the same order as DuckDB's list(... ORDER BY).
        # The result goes back to the default collation: "C" would leak into every expression
        # using the list (lower() and regex classes would turn ASCII-only).
        c = f'{element} COLLATE "C"'
        return f'(array_agg(DISTINCT {c} ORDER BY {c}){filter_}) COLLATE "default"'

    def document(self, text: str) -> str:
        # A `tsvector` ('simple' configuration: no stemming, no stop words, so `fin:*` finds
        # finance) of DuckDB's document text cut into DuckDB's words (maximal runs of letters
        # and digits) before PostgreSQL's parser sees it: the lexemes and their positions are
        # then exactly the words the DuckDB search matches (`fin` as a word prefix, phrases as
        # consecutive words), and no whole-address token (one distinct key per contact) bloats
        # the GIN index.
        return f"to_tsvector('simple', regexp_replace({text}, '[^[:alnum:]]+', ' ', 'g'))"

    def byte_order(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'


def _list_condition(lst: EntityList, dialect: _Dialect) -> str | None:
    if lst.system is not None:
        return f"lower(system) = {dialect.system(lst.system)}"
    return lst.condition


def _select(
    spec: SearchTable,
    columns: list[SearchColumn],
    dialect: _Dialect,
    inputs: SearchInputs | None = None,
) -> str:
    document = spec.document if isinstance(spec.document, str) else spec.document(inputs or _ALL)
    select: list[str] = []
    ctes: dict[str, list[str]] = {table: [] for table in spec.lists}
    for col in columns:
        src = col.source
        if isinstance(src, Scalar):
            expr = f"CAST({src.expr} AS {dialect.text})" if src.boolean else src.expr
        elif isinstance(src, EntityList):
            condition = _list_condition(src, dialect)
            filter_ = f" FILTER (WHERE {condition})" if condition else ""
            ctes[src.table].append(f"{dialect.aggregate(src.element, filter_)} AS {src.cte_column}")
            expr = f"{spec.lists[src.table][0]}.{src.cte_column}"
        else:
            expr = dialect.document(document)
        select.append(f"{expr} AS {quote_ident(col.name)}")
        if col.match_column:
            joined = f"array_to_string({expr}, chr(31))"
            select.append(f"{joined} AS {quote_ident(col.match_column)}")
            signed = spec.signature_column(col)
            signature = dialect.signature(joined) if signed else None
            if signed and signature:
                select.append(f"{signature} AS {quote_ident(signed)}")
            hashed = spec.hash_column(col)
            hash_expr = dialect.hashed(joined) if hashed else None
            if hashed and hash_expr:
                select.append(f"{hash_expr} AS {quote_ident(hashed)}")
    key = dialect.entity_key(spec.list_key) if spec.entity_table else None
    if key:
        select.append(f"{key} AS {quote_ident(ENTITY_KEY)}")
    with_ = []
    used = [(table, alias, where) for table, (alias, where) in spec.lists.items() if ctes[table]]
    for table, alias, where in used:
        with_.append(f"{alias} AS ({list_cte(table, dialect.table(table), ctes[table], where)})")
    joins = []
    for join in spec.joins:
        if inputs is not None and join.table not in inputs.tables:
            continue
        if join.pick is None:
            joins.append(f"LEFT JOIN {dialect.table(join.table)} {join.alias} ON {join.on} ")
            continue
        key = dialect.byte_order(join.pick_key) if join.pick_key else ""
        order = ", ".join(part for part in (join.pick, key) if part)
        with_.append(
            f"{join.alias} AS (SELECT *, row_number() OVER (PARTITION BY entity_id "
            f"ORDER BY {order}) AS _pick FROM {dialect.table(join.table)})"
        )
        joins.append(f"LEFT JOIN {join.alias} ON {join.on} AND {join.alias}._pick = 1 ")
    return (
        f"WITH {', '.join(with_)} "
        f"SELECT {', '.join(select)} FROM {dialect.table(spec.base)} {spec.alias} "
        + "".join(joins)
        + " ".join(
            f"LEFT JOIN {alias} ON {alias}.entity_id = {spec.list_key}" for _, alias, _ in used
        )
    )


def duckdb_select(
    columns: list[SearchColumn],
    spec: SearchTable | None = None,
    inputs: SearchInputs | None = None,
    where: str | None = None,
) -> tuple[str, list[str]]:
    """The warehouse's SELECT of a search table (contact_search by default) from `core.*`, in
    key order (a top-50 by key then reads only the first row groups), and its parameters.
    `inputs` leaves out the joins of tables the store lacks (None: all joined); `where` keeps
    the rows where it holds (over the base row's alias: an in-place update's changed keys)."""
    spec = spec or CONTACT_SEARCH
    params = [c.source.system for c in columns if isinstance(c.source, EntityList)]
    order = f"{spec.alias}.{spec.key}"
    sql = _select(spec, columns, _DuckDB(), inputs)
    condition = f" WHERE {where}" if where else ""
    return f"{sql}{condition} ORDER BY {order}", [p for p in params if p]


def postgres_select(
    schema: str,
    columns: list[SearchColumn],
    spec: SearchTable | None = None,
    inputs: SearchInputs | None = None,
) -> str:
    """The published view's SELECT from the tables of `schema`: the same columns as DuckDB's,
    except that `document` is a `tsvector` of the document's words."""
    return _select(spec or CONTACT_SEARCH, columns, _Postgres(schema), inputs)


def postgres_elements(schema: str, lst: EntityList) -> str:
    """SELECT of (element, entity_id) for an entity list, as the view's list holds each element
    (lower-cased), from the tables of `schema`."""
    where = [c for c in (LIST_SOURCES[lst.table][1], _list_condition(lst, _Postgres(schema))) if c]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT DISTINCT {lst.element}, {list_entity(lst.table)[1]} FROM "
        f"{_Postgres(schema).table(lst.table)}{condition}"
    )
