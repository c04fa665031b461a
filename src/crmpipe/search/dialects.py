"""SQL dialects of the query language: how each elementary predicate is written in one SQL.

The compiler (compiler.py) decides what a query means; a `Dialect` here decides how each of its
elementary predicates (substring, code, list, document words, comparison) is written, as a
`Fragment`: SQL text with placeholders and the values bound to them. Kept apart from the
compiler so a new SQL store is one new class here (docs/architecture.md), and the compiler's
rules about fields, kinds and values are read without any store's syntax in the way.

`DuckDBDialect` writes DuckDB's SQL (no index: `contains`, list lambdas, RE2 word-prefix
patterns); `PostgresDialect` writes the forms PostgreSQL's indexes serve (trigram `ILIKE`,
`tsquery` on the `tsvector` document, array operators; docs/postgres.md), with `Lookup`s sending
some fields to the small tables they are searched in. Both give the same rows for the same query
on the same data (tests/test_search_differential.py).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from crmpipe.search.entities import KEY_COLUMN as ENTITY_KEY
from crmpipe.search.fields import JOIN_SEPARATOR
from crmpipe.search.signature import mask
from crmpipe.sqltext import quote_ident


@dataclass(frozen=True)
class Fragment:
    """A piece of SQL and the parameters its placeholders take, in order."""

    sql: str
    params: tuple[Any, ...] = ()


class Dialect(ABC):
    """How each elementary predicate is written in one SQL dialect.

    Column arguments are quoted identifiers; every other argument is a value that must become a
    parameter (the returned fragment's `params`, one per placeholder, in order).
    """

    name: ClassVar[str]
    placeholder: ClassVar[str] = "?"

    def ident(self, name: str) -> str:
        return quote_ident(name)

    def param(self, value: Any) -> Fragment:
        return Fragment(self.placeholder, (value,))

    # -- combinators (shared by every dialect speaking standard SQL) --------------------------
    def all_of(self, parts: Sequence[Fragment]) -> Fragment:
        return _join(" AND ", parts)

    def any_of(self, parts: Sequence[Fragment]) -> Fragment:
        return _join(" OR ", parts)

    def negate(self, part: Fragment) -> Fragment:
        # A negated term keeps the rows where the term is unknown (its field is empty).
        return Fragment(f"NOT coalesce({part.sql}, false)", part.params)

    def compare(self, column: str, op: str, value: Any) -> Fragment:
        return Fragment(f"{column} {op} {self.placeholder}", (value,))

    # -- per-kind predicates --------------------------------------------------------------
    @abstractmethod
    def text_contains(self, column: str, needle: str) -> Fragment:
        """Case-insensitive substring of a mixed-case text column (`needle` is lower-case)."""

    @abstractmethod
    def text_list_contains(
        self,
        column: str,
        needle: str,
        joined: str | None = None,
        signature: str | None = None,
        hashed: tuple[str, str] | None = None,
    ) -> Fragment:
        """Any element of a lower-cased text list contains `needle` (lower-case).

        `joined`, when given, is a column of the elements joined by JOIN_SEPARATOR: a needle
        without that character matches it exactly when it matches some element. `signature`,
        when given, is the bigram signature of `joined` (search.signature), which a dialect
        may test first. `hashed`, when given, is (column of the hash of `joined`, table of
        its distinct (hash, text) pairs): search.hashed, where a dialect may test the texts.
        """

    def entity_terms(self, table: str, parts: Sequence[Fragment]) -> Fragment | None:
        """All of `parts` (conditions on entity-level columns) tested on entity table
        `table` (quoted) and matched back by the entity key (search.entities); None where the
        store has no such table."""
        return None

    @abstractmethod
    def code_in(self, column: str, values: Sequence[str]) -> Fragment:
        """The whole value equals one of `values` (lower-case), ignoring case."""

    @abstractmethod
    def code_list_has(self, column: str, values: Sequence[str]) -> Fragment:
        """Some element of a lower-cased list equals one of `values` (lower-case)."""

    @abstractmethod
    def document_has(self, column: str, words: Sequence[str]) -> Fragment:
        """The document holds `words` (lower-case) as consecutive word prefixes."""

    def document_prefilters(self, column: str, words: Sequence[str]) -> list[Fragment]:
        """Cheap conditions implied by `document_has` (checked first, to skip most rows)."""
        return []

    @abstractmethod
    def list_elements(self, table: str, column: str, alias: str, where: str) -> str:
        """SELECT of each distinct element (as `alias`) of list `column` in the rows of `table`
        matching `where` (facet counts count a row once per element)."""

    @abstractmethod
    def document_rank(self, column: str, terms: Sequence[Sequence[str]]) -> Fragment:
        """How many of `terms` (each a word sequence, as in `document_has`) the document holds."""


class DuckDBDialect(Dialect):
    """DuckDB (2.0): list lambdas, `contains`, RE2 regular expressions for word prefixes."""

    name = "duckdb"

    #: A character of a word, and of what separates words (RE2 syntax, Unicode-aware).
    _W = r"[\pL\p{Nd}\p{Nl}]"
    _S = r"[^\pL\p{Nd}\p{Nl}]"

    def text_contains(self, column: str, needle: str) -> Fragment:
        return Fragment(f"contains(lower({column}), ?)", (needle,))

    def text_list_contains(
        self,
        column: str,
        needle: str,
        joined: str | None = None,
        signature: str | None = None,
        hashed: tuple[str, str] | None = None,
    ) -> Fragment:
        if joined is not None and JOIN_SEPARATOR not in needle:
            if hashed is not None:
                # The distinct texts tested, the rows' hashes probed (search.hashed): the same
                # rows as `contains` on the joined text (`tech: accela` at 4.5M: 40 → 12 ms).
                column, pairs = hashed
                return Fragment(
                    f"{column} IN (SELECT hash FROM {pairs} WHERE contains(text, ?))", (needle,)
                )
            # A string scan instead of decoding millions of lists: several times faster.
            test = Fragment(f"contains({joined}, ?)", (needle,))
            bits = mask(needle) if signature is not None else None
            if bits is None:  # no signature, or a needle of one character
                return test
            # Every bigram of the needle is one of the joined text's: an integer test that
            # leaves `contains` a few percent of the rows (`email: bob` at 1M: 32 → 4.6 ms).
            # NULL exactly where `contains` is (the signature is NULL for a NULL text).
            return Fragment(
                f"(({signature} & CAST(? AS UBIGINT)) = CAST(? AS UBIGINT) AND {test.sql})",
                (bits, bits, needle),
            )
        return Fragment(f"len(list_filter({column}, lambda v_: contains(v_, ?))) > 0", (needle,))

    def entity_terms(self, table: str, parts: Sequence[Fragment]) -> Fragment | None:
        # The terms read the entity table's columns, named as the search table's: one test
        # per entity, one probe per contact (`tech:accela pop>10000` at 4.5M contacts).
        key = self.ident(ENTITY_KEY)
        where = self.all_of(parts)
        return Fragment(f"{key} IN (SELECT {key} FROM {table} WHERE {where.sql})", where.params)

    def code_in(self, column: str, values: Sequence[str]) -> Fragment:
        if len(values) == 1:
            return Fragment(f"lower(CAST({column} AS VARCHAR)) = ?", tuple(values))
        marks = ", ".join("?" for _ in values)
        return Fragment(f"lower(CAST({column} AS VARCHAR)) IN ({marks})", tuple(values))

    def code_list_has(self, column: str, values: Sequence[str]) -> Fragment:
        return self.any_of([Fragment(f"list_contains({column}, ?)", (v,)) for v in values])

    def document_has(self, column: str, words: Sequence[str]) -> Fragment:
        return Fragment(f"regexp_matches({column}, ?)", (self.word_pattern(words),))

    def document_prefilters(self, column: str, words: Sequence[str]) -> list[Fragment]:
        # Each word is a plain substring of a matching document: `contains` is far cheaper
        # than the regular expression, so test it first, longest (rarest) word first.
        ordered = sorted(dict.fromkeys(words), key=len, reverse=True)
        return [Fragment(f"contains({column}, ?)", (w,)) for w in ordered]

    def list_elements(self, table: str, column: str, alias: str, where: str) -> str:
        return f"SELECT unnest(list_distinct({column})) AS {alias} FROM {table} WHERE {where}"

    def document_rank(self, column: str, terms: Sequence[Sequence[str]]) -> Fragment:
        # How many of the terms the document holds (as word prefixes, like the filter).
        return _join(
            " + ",
            [
                Fragment(f"CAST(regexp_matches({column}, ?) AS INTEGER)", (self.word_pattern(w),))
                for w in terms
            ],
        )

    @classmethod
    def word_pattern(cls, words: Sequence[str]) -> str:
        """RE2 pattern: `words` consecutive, each the start of a word.

        `fin dir` → `(?:^|[^\\pL\\p{Nd}\\p{Nl}])fin…`: `fin` must start a word
        (so `refinance` does not match) and the next word must start with `dir`.
        """
        w, s = cls._W, cls._S
        return f"(?:^|{s})" + f"{w}*{s}+".join(_re2_literal(word) for word in words)


@dataclass(frozen=True)
class Lookup:
    """Where a field of the search view is searched instead of in the view, for PostgreSQL.

    An entity's text (`display_name`) repeats on each of its ~30 contacts, so it is searched
    in `table` (the 150k entities, trigram-indexed) and matched back by `key`: `entity_id IN
    (SELECT entity_id FROM entities WHERE display_name ILIKE ...)`. With `field` set, `table`
    is the published vocabulary `search_values (field, value, entity_id)`: an entity's list
    (`tech_names`, `crm`) is matched back by `key` (`entity_id IN (SELECT entity_id FROM
    search_values WHERE field = 'crm' AND value = ANY(...))`), a contact field with few distinct
    values (`title`) by value when `key` is None (`title IN (SELECT value FROM search_values
    WHERE field = 'title' AND value ILIKE ...)`). Each form gives exactly the rows the test on
    the view's own column would, while reading a small table and a B-tree instead of checking
    millions of rows (docs/postgres.md).
    """

    table: str  # schema-qualified and quoted (as the dialect's `ident` quotes)
    column: str  # quoted: the column of `table` the test applies to
    key: str | None = None  # quoted; a column of both `table` and the search view
    field: str | None = None  # the vocabulary's `field` value, for search_values


class PostgresDialect(Dialect):
    """PostgreSQL (13+, with pg_trgm): the predicate forms its indexes serve (docs/postgres.md).

    Substrings are `ILIKE '%...%'` with `%`, `_` and `\\` escaped in the (bound) pattern, which
    the trigram GIN indexes answer; lists of lower-cased values use their joined match column
    (`LIKE`, trigram GIN) or `&&`; free terms are `document @@ to_tsquery('simple', %s)` with a
    tsquery string built here from the query's words, each quoted and a prefix (`'fin':*`), a
    phrase's words joined by `<->`. `lookups` (view column → `Lookup`) send entity-level fields
    and vocabulary fields to the small tables they are searched in.
    """

    name = "postgres"
    placeholder = "%s"

    def __init__(
        self,
        lookups: Mapping[str, Lookup] | None = None,
        *,
        hashed: bool = False,
        trigram: frozenset[str] = frozenset(),
    ) -> None:
        self.lookups = {self.ident(column): lk for column, lk in (lookups or {}).items()}
        #: The search table's columns a trigram index serves (quoted): a substring term on one
        #: can be read first (search.candidates).
        self.trigram = frozenset(self.ident(column) for column in trigram)
        #: (vocabulary lookup, ILIKE pattern) → the vocabulary's values it matches, or None when
        #: there are too many to list; set per search (`with_values`), since it asks the store.
        self.values: Callable[[Lookup, str], list[str] | None] | None = None
        #: Write lookups as `coalesce(x IN (SELECT ...), false)`: PostgreSQL then keeps the
        #: subquery a hashed SubPlan, checked per row, instead of turning it into a join. A page
        #: walking the key index in order wants that (a join can't keep the order cheaply);
        #: counting wants the join (from the lookup's few rows into the view's index). Same
        #: rows: NULL and false differ only under NOT, which reads through coalesce already.
        self.hashed = hashed

    def variant(self, *, hashed: bool) -> PostgresDialect:
        """This dialect with the same lookups, writing lookups hashed or not."""
        twin = PostgresDialect(hashed=hashed)
        twin.lookups, twin.trigram, twin.values = self.lookups, self.trigram, self.values
        return twin

    def with_values(self, values: Callable[[Lookup, str], list[str] | None]) -> PostgresDialect:
        """This dialect, writing a vocabulary field's term with the values `values` finds."""
        twin = self.variant(hashed=self.hashed)
        twin.values = values
        return twin

    def ident(self, name: str) -> str:
        # psycopg reads `%` in the statement as a placeholder: a column name can't hold one raw.
        return quote_ident(name).replace("%", "%%")

    def _looked_up(
        self,
        column: str,
        lookup: Lookup,
        test: str,
        params: tuple[Any, ...],
        *,
        probe: bool = False,
        lowered: bool = False,
    ) -> Fragment:
        """`column`'s condition as a search of `lookup`'s table: `test` is the condition on its
        `l_.<column>` (with `params`; on `lower(CAST(l_.<column> AS text))` when `lowered`),
        matched back by key, or by value when there is no key."""
        tested = f"lower(CAST(l_.{lookup.column} AS text))" if lowered else f"l_.{lookup.column}"
        where = f"{tested} {test}"
        if lookup.field is not None:
            where = f"l_.field = %s AND {where}"
            params = (lookup.field, *params)
        if lookup.key is not None:
            outer, inner = lookup.key, f"l_.{lookup.key}"
        else:
            outer, inner = column, f"l_.{lookup.column}"
        test = f"{outer} IN (SELECT {inner} FROM {lookup.table} l_ WHERE {where})"
        # `probe`: one exact value, which the unique (field, value, entity_id) index answers
        # per row faster than hashing all its entities first (30,000 for `crm:a`).
        hashed = self.hashed and not (probe and lookup.key is not None)
        return Fragment(f"coalesce({test}, false)" if hashed else test, params)

    def text_contains(self, column: str, needle: str) -> Fragment:
        if "\x00" in needle:
            return _NOTHING
        pattern = "%" + like_escape(needle) + "%"
        lookup = self.lookups.get(column)
        if lookup is not None and lookup.key is None and self.values is not None:
            # A vocabulary field (`title`): its matching values read first, so that the planner
            # sees which they are and, from the column's statistics, how many rows they hold
            # (`title: finance`: 52 titles, 323,861 contacts; as a subquery it guessed 1,153
            # and read them all before the entity terms beside it: 2 s at 4.5M contacts).
            found = self.values(lookup, pattern)
            if found is not None:
                return Fragment(f"{column} = ANY(%s::text[])", (found,)) if found else _NOTHING
        if lookup is not None:
            return self._looked_up(column, lookup, "ILIKE %s", (pattern,))
        return Fragment(f"{column} ILIKE %s", (pattern,))

    def text_list_contains(
        self,
        column: str,
        needle: str,
        joined: str | None = None,
        signature: str | None = None,
        hashed: tuple[str, str] | None = None,
    ) -> Fragment:
        # `signature` and `hashed` are DuckDB's (the trigram index on `joined` serves here)
        if "\x00" in needle:
            return _NOTHING
        pattern = "%" + like_escape(needle) + "%"
        lookup = self.lookups.get(column)
        if lookup is not None:
            # The vocabulary holds each element as the list does (lower-cased): "an element
            # contains the needle" is "a value of this entity does".
            return self._looked_up(column, lookup, "LIKE %s", (pattern,))
        if joined is not None and JOIN_SEPARATOR not in needle:
            # Elements are stored lower-cased: LIKE, served by the trigram index on `joined`.
            if trigram_findable(needle):
                return Fragment(f"{joined} LIKE %s", (pattern,))
            # A needle with no trigram of its own (`jo`, `.g`, `@`) would read that index whole
            # (`email:xq` 4.1 s at 4.5M contacts, 1.7 s row by row): the same test as strpos,
            # which no index serves, read until the count cap (docs/postgres.md).
            return Fragment(f"strpos({joined}, %s) > 0", (needle,))
        return Fragment(
            f"EXISTS (SELECT 1 FROM unnest({column}) v_ WHERE strpos(v_, %s) > 0)", (needle,)
        )

    def code_in(self, column: str, values: Sequence[str]) -> Fragment:
        values = [v for v in values if "\x00" not in v]
        if not values:
            return _NOTHING
        lookup = self.lookups.get(column)
        if lookup is not None and lookup.key is not None and lookup.field is None:
            # An entity's code (`state:CA`): its entities in `entities` (150k rows), then their
            # contacts by entity_id. The same rows: the view's column is the entity's.
            one = len(values) == 1
            return self._looked_up(
                column,
                lookup,
                "= %s" if one else "= ANY(%s::text[])",
                (values[0] if one else list(values),),
                lowered=True,
            )
        if len(values) == 1:
            return Fragment(f"lower(CAST({column} AS text)) = %s", tuple(values))
        return Fragment(f"lower(CAST({column} AS text)) = ANY(%s::text[])", (list(values),))

    def code_list_has(self, column: str, values: Sequence[str]) -> Fragment:
        # Elements are stored lower-cased; `&&` (overlap) is served by a GIN index on the list.
        values = [v for v in values if "\x00" not in v]
        if not values:
            return _NOTHING
        lookup = self.lookups.get(column)
        if lookup is not None:
            if len(values) == 1:
                # One value: its entities come from the unique (field, value, entity_id) index
                # already distinct, so the planner can join them without de-duplicating first.
                return self._looked_up(column, lookup, "= %s", (values[0],), probe=True)
            return self._looked_up(column, lookup, "= ANY(%s::text[])", (list(values),))
        return Fragment(f"{column} && %s::text[]", (list(values),))

    def compare(self, column: str, op: str, value: Any) -> Fragment:
        lookup = self.lookups.get(column)
        if lookup is not None and lookup.field is None:
            # An entity's number: its entities by the B-tree of `entities` (150k rows), then
            # their contacts by entity_id; the view has no B-tree over its 4.5M rows.
            return self._looked_up(column, lookup, f"{op} %s", (value,))
        return Fragment(f"{column} {op} %s", (value,))

    def document_has(self, column: str, words: Sequence[str]) -> Fragment:
        return Fragment(f"{column} @@ to_tsquery('simple', %s)", (self.tsquery(words),))

    def list_elements(self, table: str, column: str, alias: str, where: str) -> str:
        return (
            f"SELECT e.{alias} FROM {table} t_, LATERAL (SELECT DISTINCT u AS {alias} "
            f"FROM unnest(t_.{column}) AS u) e WHERE {where}"
        )

    def document_rank(self, column: str, terms: Sequence[Sequence[str]]) -> Fragment:
        # The same rank as DuckDB's (how many of the alternatives the document holds), so both
        # stores return the same page for the same query; see docs/query-language.md.
        return _join(
            " + ",
            [
                Fragment(
                    f"CAST({column} @@ to_tsquery('simple', %s) AS integer)", (self.tsquery(w),)
                )
                for w in terms
            ],
        )

    @staticmethod
    def tsquery(words: Sequence[str]) -> str:
        """`fin dir` → `'fin':* <-> 'dir':*`: consecutive words, each a prefix (tsquery syntax,
        every word a quoted literal, so no character of it is an operator)."""
        return " <-> ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in words)


#: What a value holding a NUL character matches in PostgreSQL, whose text can't hold one (a
#: publish drops them): nothing. (`false` where DuckDB says NULL is no difference here: every
#: condition is read through `coalesce(..., false)` or as a WHERE clause.)
_NOTHING = Fragment("false")


def pg_month(column: str, kind: str) -> str:
    """PostgreSQL: the first instant of the month of a date or timestamp column (`column` is
    quoted; `kind` is `date` or `timestamp`), an immutable expression: the leading key of the
    search table's month index (pg_month_index), which a page of a date range walks month by
    month in key order (crmpipe.search.executor)."""
    typed = column if kind == "timestamp" else f"CAST({column} AS timestamp)"
    return f"date_trunc('month', {typed})"


def pg_month_index(table: str, column: str) -> str | None:
    """The name of the month index of a date or timestamp column of a search table, None when
    the name would exceed PostgreSQL's 63 bytes (no such index is built then)."""
    name = f"{table}_{column}_month_idx"
    return name if len(name.encode()) <= 63 else None


#: A trigram index finds a substring by the trigrams of its runs of letters and digits; a needle
#: without a run of three (`jo`, `a.b`, `@`) gives none, and pg_trgm then reads the whole index.
_TRIGRAM_RUN = re.compile(r"[^\W_]{3}")


def trigram_findable(needle: str) -> bool:
    """Whether a trigram index narrows a search for `needle` (see _TRIGRAM_RUN)."""
    return _TRIGRAM_RUN.search(needle) is not None


def like_escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (default escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


DIALECTS: dict[str, Dialect] = {"duckdb": DuckDBDialect(), "postgres": PostgresDialect()}


def get_dialect(dialect: str | Dialect) -> Dialect:
    """A dialect by name (or the instance given)."""
    if isinstance(dialect, Dialect):
        return dialect
    try:
        return DIALECTS[dialect]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {dialect!r}; known: {', '.join(DIALECTS)}") from None


def _join(sep: str, parts: Sequence[Fragment]) -> Fragment:
    if len(parts) == 1:
        return parts[0]
    return Fragment(
        "(" + sep.join(p.sql for p in parts) + ")",
        tuple(p for part in parts for p in part.params),
    )


def _re2_literal(word: str) -> str:
    """`word` as an RE2 literal: letters and digits as is, anything else as `\\x{hex}`."""
    return "".join(ch if ch.isalnum() else f"\\x{{{ord(ch):x}}}" for ch in word)
