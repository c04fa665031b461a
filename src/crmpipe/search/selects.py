"""The search tables' SELECT, rendered per store from their declarations (search.table):
`duckdb_select` for the warehouse's search tables (`build.core`), `postgres_select` for the
published views (`publish.search_ddl`), and the per-entity list CTEs both share, so that the two
stores have the same columns, in the same order, with the same values (docs/architecture.md, "a
new SQL dialect").
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from crmpipe.search.entities import KEY_COLUMN as ENTITY_KEY
from crmpipe.search.entities import duckdb_key
from crmpipe.search.hashed import duckdb_hash
from crmpipe.search.signature import duckdb_signature
from crmpipe.search.table import (
    _ALL,
    CONTACT_SEARCH,
    LIST_SOURCES,
    EntityList,
    Scalar,
    SearchColumn,
    SearchInputs,
    SearchTable,
)
from crmpipe.sqltext import quote_ident, sql_str

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


def sort_key_args(order: str) -> str:
    """The arguments of DuckDB's `create_sort_key` for an ORDER BY list declared in code
    (`expires_on DESC NULLS LAST, license_id`): each term's expression and its modifiers,
    made explicit with DuckDB's defaults (ascending, NULLS LAST)."""
    args = []
    for term in (t.strip() for t in order.split(",")):
        words = term.split()
        upper = [w.upper() for w in words]
        cut = next((i for i, w in enumerate(upper) if w in ("ASC", "DESC", "NULLS")), len(words))
        direction = "DESC" if "DESC" in upper[cut:] else "ASC"
        nulls = "NULLS FIRST" if "FIRST" in upper[cut:] else "NULLS LAST"
        args.append(f"{' '.join(words[:cut])}, '{direction} {nulls}'")
    return ", ".join(args)


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

    def picked(self, table: str, order: str) -> str:
        """SELECT of `table`'s rows with `_pick`, 1 for the first row of each `entity_id` in
        `order` (a comma-separated ORDER BY list) and more for the others."""
        return (
            f"SELECT *, row_number() OVER (PARTITION BY entity_id ORDER BY {order}) AS _pick "
            f"FROM {table}"
        )


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

    def picked(self, table: str, order: str) -> str:
        """Only each entity's first row (`_pick` = 1), found by a grouped `arg_min` of its
        rowid over the order's sort key (`create_sort_key`): the window numbered and sorted
        every row with all its columns (facility_search's licenses at 1M facility rows: 0.95
        against 0.65 s of CPU for the same rows)."""
        return (
            f"SELECT *, 1 AS _pick FROM {table} WHERE rowid IN (SELECT arg_min(rowid, "
            f"create_sort_key({sort_key_args(order)})) FROM {table} GROUP BY entity_id)"
        )


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
    within: str | None = None,
    sorted_by: str | None = None,
) -> str:
    """The SELECT of `spec`'s rows; `within` (a SELECT of entity ids) limits the per-entity
    lists to those entities (the rows of other entities are not selected). With `sorted_by`,
    the rows are sorted by it before the columns are computed (`_read_first`)."""
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
        if within:
            mine = f"{list_entity(table)[0]} IN ({within})"
            where = f"({where}) AND {mine}" if where else mine
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
        with_.append(f"{join.alias} AS ({dialect.picked(dialect.table(join.table), order)})")
        joins.append(f"LEFT JOIN {join.alias} ON {join.on} AND {join.alias}._pick = 1 ")
    source = (
        f"{dialect.table(spec.base)} {spec.alias} "
        + "".join(joins)
        + " ".join(
            f"LEFT JOIN {alias} ON {alias}.entity_id = {spec.list_key}" for _, alias, _ in used
        )
    )
    if sorted_by is not None:
        aliases = [spec.alias, *(j.alias for j in spec.joins), *(a for _, a, _ in used)]
        read, select = _read_first(select, aliases)
        source = f"(SELECT {', '.join(read)} FROM {source} ORDER BY {sorted_by}) {_SORTED}"
    return f"WITH {', '.join(with_)} SELECT {', '.join(select)} FROM {source}"


#: The alias of the sorted rows a full build's columns are computed from (`_read_first`).
_SORTED = "crm_sorted_"


def _read_first(items: list[str], aliases: list[str]) -> tuple[list[str], list[str]]:
    """(the columns `items` read from the tables `aliases` name, each as `"<alias>.<column>"`;
    `items` reading those names instead). The rows are sorted with what they read only, and
    the columns made from it (joined lists, signatures, the document: a third of a row's
    bytes) computed after the sort, which a projection keeps in order."""
    names = "|".join(re.escape(a) for a in aliases)
    ref = re.compile(rf'(?<![\w."])({names})\.("(?:[^"]|"")+"|[A-Za-z_]\w*)')
    read: dict[str, str] = {}

    def column(match: re.Match[str]) -> str:
        alias, col = match.group(1), match.group(2)
        plain = col[1:-1].replace('""', '"') if col.startswith('"') else col
        name = quote_ident(f"{alias}.{plain}")
        read.setdefault(name, f"{alias}.{quote_ident(plain)} AS {name}")
        return name

    select = [ref.sub(column, item) for item in items]
    return list(read.values()), select


def duckdb_select(
    columns: list[SearchColumn],
    spec: SearchTable | None = None,
    inputs: SearchInputs | None = None,
    where: str | None = None,
    *,
    sorted_first: bool = False,
) -> tuple[str, list[str]]:
    """The warehouse's SELECT of a search table (contact_search by default) from `core.*`, in
    key order (a top-50 by key then reads only the first row groups), and its parameters.
    `inputs` leaves out the joins of tables the store lacks (None: all joined); `where` keeps
    the rows where it holds (over the base row's alias: an in-place update's changed keys), and
    the per-entity lists are then aggregated for those rows' entities only (at 4.5M contacts,
    all 292k tech rows for 50k contacts' entities otherwise). `sorted_first` (a full build,
    without `where`): the same rows in the same order, the joined rows sorted before the
    columns made from them are computed (at 1M contacts a tenth less CPU)."""
    spec = spec or CONTACT_SEARCH
    params = [c.source.system for c in columns if isinstance(c.source, EntityList)]
    order = f"{spec.alias}.{spec.key}"
    within = (
        f"SELECT {spec.list_key} FROM {_DuckDB().table(spec.base)} {spec.alias} WHERE {where}"
        if where
        else None
    )
    params = [p for p in params if p]
    if sorted_first and not where:
        return _select(spec, columns, _DuckDB(), inputs, sorted_by=order), params
    sql = _select(spec, columns, _DuckDB(), inputs, within)
    condition = f" WHERE {where}" if where else ""
    return f"{sql}{condition} ORDER BY {order}", params


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
