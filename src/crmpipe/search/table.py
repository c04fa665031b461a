"""The search table, declared once: its columns and where each comes from.

`contact_search` flattens each contact with its entity, the entity's tech names and types, the
customers that map it (`crm`) and the ids each CRM system gives it (`<system>_ids`), plus a
free-text `document`. `search_columns` declares those columns (name, kind, source) from the
model and crmpipe.yml; search.selects renders them for the warehouse (`build.core`) and for the
published materialized view (`publish.search_ddl`), so the two stores have the same columns, in
the same order, with the same values (docs/architecture.md, "a new SQL dialect").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmpipe.config.schema import Config
from crmpipe.model import Role
from crmpipe.search.hashed import hash_column
from crmpipe.sqltext import quote_ident

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
    tested together (search.entities); `tokened` are text lists of the base row whose joined
    text's tokens DuckDB keeps postings of (search.tokens), which answer a substring term on
    the list without a scan."""

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
    tokened: tuple[str, ...] = ()

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
    # `email: bob` (0.3% of the contacts) read from the postings of the addresses' tokens
    # instead of scanning 4.5M joined texts (search.tokens).
    tokened=("emails",),
)


def field_rows(columns: list[SearchColumn]) -> list[tuple[str, str, str | None]]:
    """(name, kind, match column) of each column, in order: what `meta.search_fields` records."""
    return [(c.name, c.kind, c.match_column) for c in columns]
