"""The stores a search runs on: the DuckDB warehouse and a published PostgreSQL schema.

A `Backend` holds a connection and knows what differs between the two stores: the SQL dialect,
where the search table and its field registry are, how to order by the key so both stores give
the same order, how to ask for a plan, and how the database's errors read to a user.
`as_backend(con)` picks one from the connection's type, so `search(con, ...)` takes a DuckDB
connection, a psycopg connection, or a Backend made once and reused (the shell, benchmarks).
"""

from __future__ import annotations

import contextlib
import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from crmpipe.search import walks
from crmpipe.search.catalog import SEARCH_TABLES, search_table
from crmpipe.search.dialects import Dialect, DuckDBDialect, Lookup, PostgresDialect
from crmpipe.search.errors import QueryError
from crmpipe.search.fields import Field, fields_from_list, load_fields
from crmpipe.search.table import CONTACT_SEARCH, FIELDS_TABLE, SearchTable
from crmpipe.sqltext import quote_ident

#: How long a PostgreSQL page may walk the key index before the matches are collected instead:
#: a walk can wait on a lookup's set being hashed, and collecting many matches costs seconds
#: (`display_name: city` 0.2 s walked, 3.5 s collected at 4.5M; docs/postgres.md, step 2).
KEY_WALK_TIMEOUT = "500ms"
#: ... or this many times the query's count time, if longer: collecting every match costs more.
WALK_PATIENCE = 1.0
#: A long date range beside other terms: how long the key walk is tried before the month
#: walk (crmpipe.search.months.KEY_FIRST_MONTHS).
KEY_WALK_FIRST = "100ms"
#: The most values of a vocabulary field (`title`) a term is written with (else a subquery).
VOCABULARY_VALUES_MAX = 1000
#: The schema readers query in PostgreSQL.
PG_SCHEMA = "crmpipe"


class Backend(ABC):
    """One store's connection plus what the executor must know about it."""

    name: str
    dialect: Dialect
    con: Any
    #: The search table searches run on (search.catalog): contact_search unless chosen.
    search_spec: SearchTable = CONTACT_SEARCH
    #: Whether the table was chosen (by name, or the store's default once looked up).
    table_chosen: bool = False
    #: What was read about the store's tables (which exist, their columns and fields), kept
    #: across requests when the caller knows the store can't change under it: crmpipe serve
    #: binds a Backend per served version (`pinned`, `bound`). None: read again each time.
    _meta: dict[Any, Any] | None = None

    def pinned(self) -> Backend:
        """A copy that keeps what it reads about the tables for good (`bound` copies share it):
        only for a store version that never changes, as crmpipe serve's are."""
        other = copy.copy(self)
        other._meta = {}
        other._reset()
        return other

    def bound(self, con: Any) -> Backend:
        """A copy on another connection to the same store version, sharing what was read."""
        other = copy.copy(self)
        other.con = con
        return other

    def _cached(self, key: Any, read: Any) -> Any:
        """`read()`, kept under `key` when this Backend is pinned to a version."""
        if self._meta is None:
            return read()
        try:
            return self._meta[key]
        except KeyError:
            value = self._meta[key] = read()
            return value

    @property
    @abstractmethod
    def default_table(self) -> str:
        """The chosen search table, schema-qualified (when the caller names none)."""

    @abstractmethod
    def has_table(self, spec: SearchTable) -> bool:
        """Whether the store has that search table."""

    def with_table(self, name: str | None) -> Backend:
        """This store searching the table `name` (a label such as `facilities` or a table
        name; QueryError for an unknown one). None: contacts where the store has it, else the
        first table it has (facilities), else contacts (whose absence the search reports)."""
        if (name is None or not name.strip()) and self.table_chosen:
            return self
        if name is None or not name.strip():
            # the first present, asked in turn: each question is a catalog query (1-2 ms)
            spec = next((t for t in SEARCH_TABLES if self.has_table(t)), CONTACT_SEARCH)
        else:
            spec = search_table(name)
        if spec is self.search_spec:
            self.table_chosen = True
            return self
        other = copy.copy(self)
        other.search_spec = spec
        other.table_chosen = True
        other._reset()
        return other

    def _reset(self) -> None:
        """Forget what was read about the previous table (a copy choosing another one)."""
        return None

    def aliases(self, aliases: Mapping[str, str] | None) -> dict[str, str]:
        """The table's own aliases, then the caller's (crmpipe.yml's), which win."""
        return {**self.search_spec.aliases, **(aliases or {})}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the result has fetchall/fetchone/description (DB-API style)."""
        return self.con.execute(sql, list(params))

    @abstractmethod
    def load_fields(self, aliases: Mapping[str, str] | None = None) -> dict[str, Field]:
        """The field registry of the search table (columns, kinds, match columns) plus aliases."""

    @abstractmethod
    def table_columns(self, table: str) -> list[str]:
        """The search table's columns in order, or a QueryError saying how to create it."""

    @abstractmethod
    def explain(self, sql: str, params: Sequence[Any], *, analyze: bool = False) -> list[str]:
        """The database's plan for `sql`, one line per item."""

    def order_key(self, column: str) -> str:
        """`column` (quoted) as an ORDER BY key sorting the way DuckDB sorts text (by bytes)."""
        return column

    def has_rowid(self, table: str) -> bool:
        """Whether the rows of `table` can be read back by DuckDB's `rowid` (DuckDB only)."""
        return False

    def key_order_page(
        self, sql: str, params: Sequence[Any], *, counted_in: float = 0.0, walk: bool = True
    ) -> list[tuple]:
        """The rows of a page query in key order, when more rows match than are counted
        (`counted_in`: the seconds the count took; `walk`: False when a walk was given up
        already; see PostgresBackend)."""
        return self.execute(sql, params).fetchall()

    @property
    def page_dialect(self) -> Dialect:
        """The dialect for a page query in key order (PostgreSQL writes lookups differently
        there); the same as `dialect` elsewhere."""
        return self.dialect

    def qualified(self, table: str) -> str:
        """`schema.table` with each part quoted for this dialect."""
        return ".".join(self.dialect.ident(part) for part in table.split("."))


class DuckDBBackend(Backend):
    """The DuckDB warehouse: `search.<table>`, fields in `meta.search_fields`."""

    name = "duckdb"

    def __init__(self, con: Any) -> None:
        self.con = con
        self.dialect = DuckDBDialect()

    @property
    def default_table(self) -> str:
        return self.search_spec.duckdb_table

    #: (table, whether it is a base table) as has_table last found it: has_rowid's answer for
    #: that table without asking the catalog again (each question: 1-2 ms of a search).
    _found: tuple[str, bool] | None = None

    def has_table(self, spec: SearchTable) -> bool:
        def read() -> str | None:
            # duckdb_tables() and duckdb_views() answer faster than information_schema.tables;
            # the views (dozens of them internal) only when no table has the name (at 4.5M
            # contacts, load 1.9: 1.32 ms against 1.47 for both at once)
            for kind, listing, column in (
                ("table", "duckdb_tables()", "table_name"),
                ("view", "duckdb_views()", "view_name"),
            ):
                ((found,),) = self.con.execute(
                    f"SELECT count(*) FROM {listing} WHERE schema_name = 'search' AND {column} = ?",
                    [spec.name],
                ).fetchall()
                if found:
                    return kind
            return None

        kind = self._cached(("kind", spec.name), read)
        if kind is not None:
            self._found = (spec.duckdb_table, kind == "table")
        return kind is not None

    def load_fields(self, aliases: Mapping[str, str] | None = None) -> dict[str, Field]:
        merged = self.aliases(aliases)
        key = ("fields", self.search_spec.name, tuple(sorted(merged.items())))
        return dict(
            self._cached(key, lambda: load_fields(self.con, merged, table=self.search_spec.name))
        )

    def table_columns(self, table: str) -> list[str]:
        import duckdb

        def read() -> list[str]:
            try:
                cursor = self.con.execute(f"SELECT * FROM {self.qualified(table)} LIMIT 0")
            except duckdb.CatalogException:
                raise QueryError(
                    f"no search table {table} — build it first (crmpipe build)"
                ) from None
            return [d[0] for d in cursor.description]

        return list(self._cached(("columns", table), read))

    def explain(self, sql: str, params: Sequence[Any], *, analyze: bool = False) -> list[str]:
        verb = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        return [str(row[-1]) for row in self.con.execute(f"{verb} {sql}", list(params)).fetchall()]

    def has_rowid(self, table: str) -> bool:
        """Whether `table` (schema-qualified) is a base table, whose rows a page can read back
        by `rowid` (a view has none)."""
        if self._found is not None and self._found[0] == table:
            return self._found[1]
        schema, _, name = table.rpartition(".")

        def read() -> bool:
            rows = self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [schema or "main", name],
            ).fetchall()
            return bool(rows[0][0])

        return bool(self._cached(("rowid", table), read))


class PostgresBackend(Backend):
    """A published schema in PostgreSQL: `crmpipe.<table>` (contact_search...), fields in
    `crmpipe.search_fields`, entity-level text searched through the tables it comes from.

    Statements are never prepared (`prepare=False`): a prepared statement drifts to a generic
    plan after five runs, and a generic plan can't see how selective `ILIKE $1` is, so it may
    scan where the pattern's own plan uses a trigram index.
    """

    name = "postgres"

    def __init__(self, con: Any, schema: str = PG_SCHEMA) -> None:
        self.con = con
        self.schema = schema
        self._fields: list[tuple[Any, ...]] | None = None
        self._dialect: PostgresDialect | None = None

    @property
    def default_table(self) -> str:
        return f"{self.schema}.{self.search_spec.name}"

    def has_table(self, spec: SearchTable) -> bool:
        name = f"{quote_ident(self.schema)}.{quote_ident(spec.name)}"
        return self._cached(
            ("has", spec.name),
            lambda: self.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0],
        )

    def has_relation(self, name: str) -> bool:
        """Whether the relation (table, index) `name` ("schema.name", unquoted) exists."""
        quoted = ".".join(quote_ident(part) for part in name.split("."))
        return bool(
            self._cached(
                ("relation", name),
                lambda: self.execute("SELECT to_regclass(%s) IS NOT NULL", [quoted]).fetchone()[0],
            )
        )

    def _reset(self) -> None:
        self._fields = None
        self._dialect = None

    @property
    def dialect(self) -> PostgresDialect:  # type: ignore[override]
        """The dialect, with the lookups search_fields lists (read at first use)."""
        if self._dialect is None:
            self._dialect = self._cached(
                ("dialect", self.search_spec.name),
                lambda: PostgresDialect(self._lookups(), trigram=self._trigram_columns()),
            )
        return self._dialect

    @property
    def page_dialect(self) -> PostgresDialect:  # type: ignore[override]
        """For a page read by walking the key index: lookups as hashed subplans."""
        return self.dialect.variant(hashed=True)

    def qualified(self, table: str) -> str:
        return ".".join(self.dialect_ident(part) for part in table.split("."))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import psycopg

        try:
            return self.con.execute(sql, list(params), prepare=False)
        except psycopg.Error as exc:
            self._recover()
            raise self._error(exc) from None

    def _recover(self) -> None:
        """Roll back a transaction a failed statement aborted, so the connection stays usable."""
        from psycopg.pq import TransactionStatus

        if self.con.info.transaction_status == TransactionStatus.INERROR:
            self.con.rollback()

    def _error(self, exc: Exception) -> QueryError:
        from psycopg import errors as pgerr

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, pgerr.QueryCanceled):
            return QueryError(f"PostgreSQL cancelled the query ({first}); narrow the query")
        if isinstance(exc, pgerr.UndefinedTable | pgerr.InvalidSchemaName):
            return QueryError(
                f"nothing is published in database {self.con.info.dbname} ({first}); run "
                "'crmpipe publish' first"
            )
        return QueryError(f"PostgreSQL: {first}")

    def _field_rows(self) -> list[tuple[Any, ...]]:
        """(name, kind, position, match_column, lookup_table, lookup_column, lookup_key,
        lookup_field) rows of search_fields; the columns a schema published before they existed
        lacks read as NULL."""
        if self._fields is None:
            self._fields = self._cached(("fields", self.search_spec.name), self._read_fields)
        return self._fields

    def _read_fields(self) -> list[tuple[Any, ...]]:
        table = f"{self.schema}.{FIELDS_TABLE}"
        columns = {
            r[0]
            for r in self.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attnum > 0 AND NOT attisdropped",
                [".".join(quote_ident(part) for part in table.split("."))],
            ).fetchall()
        }
        if not columns:
            raise QueryError(
                f"nothing is published in database {self.con.info.dbname} (no {table}); "
                "run 'crmpipe publish' first"
            )
        wanted = ["match_column", "lookup_table", "lookup_column", "lookup_key", "lookup_field"]
        select = ", ".join(c if c in columns else "NULL" for c in wanted)
        # Rows without a table name (a schema published before fields had one) are
        # contact_search's.
        named = "table_name" if "table_name" in columns else "NULL::text"
        return self.execute(
            f"SELECT name, kind, position, {select} FROM {self.qualified(table)} "
            f"WHERE coalesce({named}, %s) = %s ORDER BY position, name",
            [CONTACT_SEARCH.name, self.search_spec.name],
        ).fetchall()

    def _lookups(self) -> dict[str, Lookup]:
        out = {}
        for name, _, _, _, table, column, key, field in self._field_rows():
            if table and column:
                out[name] = Lookup(
                    self.qualified(f"{self.schema}.{table}"),
                    self.dialect_ident(column),
                    self.dialect_ident(key) if key else None,
                    field,
                )
        return out

    def vocabulary_values(self, lookup: Lookup, pattern: str) -> list[str] | None:
        """The values of vocabulary `lookup` that match ILIKE `pattern`, sorted; None when
        there are more than VOCABULARY_VALUES_MAX (search.dialects: the term then stays a
        subquery)."""
        column = lookup.column
        rows = self.execute(
            f"SELECT l_.{column} FROM {lookup.table} l_ WHERE l_.field = %s "
            f"AND l_.{column} ILIKE %s LIMIT %s",
            [lookup.field, pattern, VOCABULARY_VALUES_MAX + 1],
        ).fetchall()
        return None if len(rows) > VOCABULARY_VALUES_MAX else sorted(r[0] for r in rows)

    def _trigram_columns(self) -> frozenset[str]:
        """The search table's columns a trigram GIN index serves (the first column of each)."""
        rows = self.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = x.relam JOIN pg_opclass o ON o.oid = i.indclass[0] "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = to_regclass(%s) AND am.amname = 'gin' "
            "AND o.opcname = 'gin_trgm_ops'",
            [f"{quote_ident(self.schema)}.{quote_ident(self.search_spec.name)}"],
        ).fetchall()
        return frozenset(r[0] for r in rows)

    @staticmethod
    def dialect_ident(name: str) -> str:
        return quote_ident(name).replace("%", "%%")

    def load_fields(self, aliases: Mapping[str, str] | None = None) -> dict[str, Field]:
        rows = [(n, k, p, m) for n, k, p, m, *_ in self._field_rows()]
        return fields_from_list(rows, self.aliases(aliases))

    def table_columns(self, table: str) -> list[str]:
        def read() -> list[str]:
            cursor = self.execute(f"SELECT * FROM {self.qualified(table)} LIMIT 0")
            return [d[0] for d in cursor.description]

        return list(self._cached(("columns", table), read))

    def explain(self, sql: str, params: Sequence[Any], *, analyze: bool = False) -> list[str]:
        options = "ANALYZE, BUFFERS" if analyze else "COSTS"
        rows = self.execute(f"EXPLAIN ({options}) {sql}", params).fetchall()
        return [str(row[0]) for row in rows]

    def key_order_page(
        self, sql: str, params: Sequence[Any], *, counted_in: float = 0.0, walk: bool = True
    ) -> list[tuple]:
        """Rows of a page query `... ORDER BY key LIMIT n` when more than the count cap match:
        by walking the key index (`walk`), else by collecting the matches and keeping the first
        (plain index scans off: the walk is one; docs/postgres.md, step 2)."""
        rows = self.walk(sql, params, counted_in=counted_in) if walk else None
        if rows is not None:
            return rows
        saved = self.execute("SELECT current_setting('enable_indexscan')").fetchone()
        try:
            self.execute("SELECT set_config('enable_indexscan', 'off', false)")
            return self.execute(sql, params).fetchall()
        finally:
            self.execute("SELECT set_config('enable_indexscan', %s, false)", saved)

    def walk(
        self, sql: str, params: Sequence[Any], *, counted_in: float = 0.0, floor: str = ""
    ) -> list[tuple] | None:
        """The rows of `sql` walked in its order (search.walks); None when the walk has not
        ended within `floor` (KEY_WALK_TIMEOUT by default), or WALK_PATIENCE times
        `counted_in` (the seconds the query's count took) if longer: the matches sit at the
        far end of the order (e.g. `created>` a recent date with keys given out in time order)."""
        floor_ms = float((floor or KEY_WALK_TIMEOUT).removesuffix("ms"))
        timeout = f"{max(floor_ms, WALK_PATIENCE * counted_in * 1000):.0f}ms"
        return walks.walk(self, sql, params, timeout)

    def _statement(self) -> Any:
        """A savepoint around one statement in an open transaction (so a cancelled one
        doesn't abort it) — also on an autocommit connection inside an explicit BEGIN, as
        `crmpipe serve` runs each request (crmpipe.serve.pool); nothing outside a transaction
        in autocommit mode."""
        from contextlib import nullcontext

        from psycopg.pq import TransactionStatus

        idle = self.con.info.transaction_status == TransactionStatus.IDLE
        return nullcontext() if self.con.autocommit and idle else self.con.transaction()

    def order_key(self, column: str) -> str:
        # DuckDB orders text by bytes; the database's collation may not (en_US sorts 'a' < 'B').
        # The published view's key index is built COLLATE "C", so this order reads it.
        return f'{column} COLLATE "C"'


def as_backend(con: Any) -> Backend:
    """The Backend for a connection: a psycopg connection is PostgreSQL (schema `crmpipe`),
    anything else DuckDB; a Backend is returned as is."""
    if isinstance(con, Backend):
        return con
    if _is_psycopg(con):
        return PostgresBackend(con)
    return DuckDBBackend(con)


def _is_psycopg(con: Any) -> bool:
    module = type(con).__module__
    return module.startswith("psycopg")


def choose_table(db: Backend, table: str | None) -> tuple[Backend, str]:
    """The backend searching `table` and that table, qualified. `table` is a search table's
    label or name (`facilities`, `facility_search`: QueryError for an unknown one), None for
    the store's default (search.catalog), or a qualified name of a table shaped like a search
    table (searched with the fields of the one it is named after, else of the chosen one)."""
    if table is None or "." not in table:
        db = db.with_table(table)
        return db, db.default_table
    with contextlib.suppress(QueryError):  # not a search table's name: the chosen one's fields
        db = db.with_table(table)
    return db, table
