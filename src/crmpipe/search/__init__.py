"""The query language: query text → syntax tree → parameterized SQL → results.

The language itself is documented, with a tested example per construct, in
`docs/query-language.md`.

`search()` and `explain()` are what the CLI, shell and API call, on the DuckDB warehouse or a
published PostgreSQL schema (`backends.py`); `compile_query()` gives the WHERE condition for a
dialect; `load_fields()` reads the searchable fields of a built table. See
docs/query-language.md for the language itself.
"""

from crmpipe.search.backends import Backend, DuckDBBackend, PostgresBackend, as_backend
from crmpipe.search.compiler import CompiledQuery, compile_query, compile_search
from crmpipe.search.dialects import Dialect, DuckDBDialect, Lookup, PostgresDialect, get_dialect
from crmpipe.search.errors import QueryError
from crmpipe.search.executor import DEFAULT_COLUMNS, SearchResult, search
from crmpipe.search.explainer import explain
from crmpipe.search.fields import Field, Kind, fields_from_list, load_fields
from crmpipe.search.parser import expand_shorthand, parse

__all__ = [
    "DEFAULT_COLUMNS",
    "Backend",
    "CompiledQuery",
    "Dialect",
    "DuckDBBackend",
    "DuckDBDialect",
    "Field",
    "Kind",
    "Lookup",
    "PostgresBackend",
    "PostgresDialect",
    "QueryError",
    "SearchResult",
    "as_backend",
    "compile_query",
    "compile_search",
    "expand_shorthand",
    "explain",
    "fields_from_list",
    "get_dialect",
    "load_fields",
    "parse",
    "search",
]
