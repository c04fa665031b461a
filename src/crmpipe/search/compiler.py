"""Syntax tree → parameterized SQL (a WHERE condition and a rank), for one SQL dialect.

The compiler decides what a query means (which field, which kind, how values are typed and
lower-cased, what a day means on a timestamp); a `Dialect` (dialects.py) decides how each
elementary predicate is written in its SQL. Every value the user typed reaches the database as a
bound parameter, never as SQL text; identifiers come only from the field registry and are quoted.
Errors in a query's meaning (unknown field, bad value, range on text) are raised here, as
QueryError, the same for every dialect.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmpipe.search.ast import And, Compare, FieldMatch, FreeText, Node, Not, Or, Range, Value
from crmpipe.search.candidates import Lead, lead_terms
from crmpipe.search.dialects import Dialect, Fragment, PostgresDialect, get_dialect
from crmpipe.search.entities import KEY_COLUMN as ENTITY_KEY
from crmpipe.search.errors import QueryError
from crmpipe.search.fields import (
    ORDERED_KINDS,
    Field,
    Fields,
    Kind,
    document_field,
    resolve,
)
from crmpipe.search.parser import expand_shorthand, in_context, parse
from crmpipe.search.tokens import TokenQuery, token_query
from crmpipe.sqltext import quote_ident, quote_qualified

#: Largest integer passed as an integer parameter; bigger ones are compared as doubles.
_INT64_MAX = 2**63 - 1
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
_BOOLEANS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
}
#: Relative cost of a condition on each kind, to evaluate cheap conditions first.
_KIND_COST = {
    Kind.NUMBER: 0,
    Kind.DATE: 0,
    Kind.TIMESTAMP: 0,
    Kind.BOOLEAN: 0,
    Kind.CODE: 1,
    Kind.CODE_LIST: 2,
    Kind.TEXT: 3,
    Kind.TEXT_LIST: 4,
    Kind.DOCUMENT: 6,
}
#: Substring prefilters of free terms: before any regular expression on the document.
_PREFILTER_COST = 5
#: A word of the document: letters, decimal digits and letter-like numerals (Unicode categories
#: L*, Nd, Nl), as `[\pL\p{Nd}\p{Nl}]+` in the SQL regex. Those are the characters
#: PostgreSQL's text-search parser keeps in a word: superscripts, fractions and other `No`
#: numerals (`²`, `½`) separate words there, so they do here too.
_WORD = re.compile(r"[^\W_]+")
_OTHER_NUMERAL = "No"


def _words(text: str) -> list[str]:
    """The document words of `text` (lower-cased), split as both stores split them."""
    spaced = "".join(
        " " if ch.isnumeric() and unicodedata.category(ch) == _OTHER_NUMERAL else ch
        for ch in text.lower()
    )
    return _WORD.findall(spaced)


@dataclass(frozen=True)
class DateRange:
    """The months a query's matches lie in, when it requires a range on one date or timestamp
    field (`created>2024-01-01`, `created:2023-01-01..2023-06-30 state:CA`): `low` and `high`
    bound that field's values (inclusive, loosely: the edges' months are what counts), None
    where the query leaves that side open; `alone` when the range is the whole query.
    PostgreSQL pages such a query month by month (crmpipe.search.months)."""

    column: str
    kind: Kind
    low: dt.date | None
    high: dt.date | None
    alone: bool = True


@dataclass(frozen=True)
class CompiledQuery:
    """What the executor needs: the WHERE condition and, when it can vary, a rank.

    `rank` is an SQL expression (higher = better): how many of the query's optional free terms
    (alternatives under an OR) the document holds. It is None when every result would rank the
    same (no free terms, or only required ones), so the executor can order by key alone, which
    DuckDB answers without sorting every match. `expanded` is the query after shorthand expansion.
    """

    where: str
    params: list[Any]
    rank: str | None = None
    rank_params: list[Any] = field(default_factory=list)
    expanded: str = ""
    #: Set when the query requires a range on one date or timestamp field.
    date_range: DateRange | None = None
    #: DuckDB: set when the postings of a list's tokens answer the query (search.tokens).
    tokens: TokenQuery | None = None
    #: PostgreSQL: set when a substring term is best read first (search.candidates).
    lead: Lead | None = None


def compile_query(
    query: str,
    fields: Fields,
    *,
    shorthands: Mapping[str, str] | None = None,
    dialect: str | Dialect = "duckdb",
) -> tuple[str, list[Any]]:
    """The WHERE condition (without `WHERE`) and its parameters for `query`."""
    compiled = compile_search(query, fields, shorthands=shorthands, dialect=dialect)
    return compiled.where, compiled.params


def compile_search(
    query: str,
    fields: Fields,
    *,
    shorthands: Mapping[str, str] | None = None,
    dialect: str | Dialect = "duckdb",
) -> CompiledQuery:
    """Parse and compile `query`: WHERE condition, rank, parameters. Raises only QueryError."""
    d = get_dialect(dialect)
    if not isinstance(query, str):
        raise QueryError(f"a query must be text, not {type(query).__name__}")
    expanded, shorthand = expand_shorthand(query, shorthands)
    compiler = _Compiler(fields, d)
    try:
        tree = parse(expanded)
        where = compiler.compile(tree)
    except QueryError as e:
        raise in_context(e, expanded, shorthand) from None
    tokens = (
        token_query(tree, fields, _Compiler(fields, d).entity_keys) if d.name == "duckdb" else None
    )
    lead = lead_terms(tree, _Compiler(fields, d)) if isinstance(d, PostgresDialect) else None
    rank: Fragment | None = None
    if compiler.ranked_terms:
        doc = document_field(fields)
        assert doc is not None  # free terms were compiled against it
        rank = d.document_rank(d.ident(doc.column), compiler.ranked_terms)
    return CompiledQuery(
        where=where.sql,
        params=list(where.params),
        rank=rank.sql if rank else None,
        rank_params=list(rank.params) if rank else [],
        expanded=expanded,
        date_range=compiler.date_range(),
        tokens=tokens,
        lead=None if rank else lead,
    )


class _Compiler:
    """One compilation: walks the tree, resolving fields and typing values as it goes."""

    def __init__(self, fields: Fields, dialect: Dialect) -> None:
        self.fields = fields
        self.d = dialect
        #: Word sequences of the optional free terms (under an OR, not negated): every result
        #: holds the required ones, so only these can tell results apart; they rank them.
        self.ranked_terms: list[list[str]] = []
        #: (field, operator, edge) of every date or timestamp comparison compiled, in order.
        self.date_bounds: list[tuple[Field, str, dt.date]] = []
        #: Per condition the whole query requires (the top-level AND's children), the date
        #: comparisons it amounts to: empty when it is anything else (see date_range).
        self.required_dates: list[list[tuple[Field, str, dt.date]]] = []

    def date_range(self) -> DateRange | None:
        """The DateRange of the query when the conditions it requires include comparisons on
        one date or timestamp field (and on no other), else None."""
        dated = [required for required in self.required_dates if required]
        if not dated:
            return None
        bounds = [b for required in dated for b in required]
        first = bounds[0][0]
        if any(f.column != first.column for f, _, _ in bounds):
            return None
        lows = [edge for _, op, edge in bounds if op in (">", ">=", "=")]
        highs = [edge for _, op, edge in bounds if op in ("<", "<=", "=")]
        low, high = max(lows) if lows else None, min(highs) if highs else None
        alone = len(dated) == len(self.required_dates)
        return DateRange(first.column, first.kind, low, high, alone)

    def compile(self, node: Node, *, negated: bool = False, required: bool = True) -> Fragment:
        """The condition for `node`."""
        parts = self.parts(node, negated=negated, required=required)
        return self.d.all_of([fragment for _, fragment in parts])

    def parts(self, node: Node, *, negated: bool, required: bool) -> list[tuple[int, Fragment]]:
        """(cost, condition) pairs, cheapest first, that all hold exactly when `node` does.

        Children of an AND are compiled in query order (so an error names the first problem)
        and then written cheapest first: DuckDB evaluates the conditions it cannot push into
        the scan in the order written, each only on the rows the previous ones kept.
        """
        if isinstance(node, And):
            out: list[tuple[int, Fragment]] = []
            by_table: dict[str, list[tuple[int, Fragment]]] = {}
            for child in node.children:
                child_parts = self.parts(child, negated=negated, required=required)
                table = self.entity_table(child)
                if table is None:
                    out += child_parts
                else:
                    by_table.setdefault(table, []).extend(child_parts)
            for table, group in by_table.items():
                # only beside a term on the contact's own columns: alone, entity terms are
                # cheap tests that stop at the count cap, and the probe would cost a join
                # (`tech:accela pop>10000` at 4.5M: 11.8 ms one by one, 14.8 as a probe)
                out += self.entity_group(table, group) if out else group
            return sorted(out, key=lambda part: part[0])  # stable: query order within a cost
        if isinstance(node, Or | Not | FreeText):
            self._required(node, negated=negated, required=required)
        if isinstance(node, Or):
            any_of = self.d.any_of(
                [self.compile(c, negated=negated, required=False) for c in node.children]
            )
            return [(self.cost(node), any_of)]
        if isinstance(node, Not):
            child = self.compile(node.child, negated=not negated, required=False)
            return [(self.cost(node), self.d.negate(child))]
        if isinstance(node, FreeText):
            return self.free_text(node, ranked=not negated and not required)
        before = len(self.date_bounds)
        if isinstance(node, FieldMatch):
            part = [(self.cost(node), self.field_match(node))]
        elif isinstance(node, Compare):
            part = [(self.cost(node), self.comparison(node))]
        else:
            raise QueryError(f"cannot compile {type(node).__name__}")  # pragma: no cover
        if required and not negated:
            single = isinstance(node, Compare) or len(node.values) == 1  # no OR of values
            self.required_dates.append(self.date_bounds[before:] if single else [])
        return part

    def entity_table(self, node: Node) -> str | None:
        """The entity table (search.entities) holding every field `node` names, if one does."""
        if isinstance(node, And | Or):
            tables = {self.entity_table(c) for c in node.children}
            return tables.pop() if len(tables) == 1 else None
        if isinstance(node, Not):
            return self.entity_table(node.child)
        if isinstance(node, FieldMatch | Compare):
            f = self.fields.get(node.field.lower())
            return f.entity_table if f is not None else None
        return None  # free text: the document is the contact's

    def entity_keys(self, nodes: list[Node]) -> tuple[str, tuple[Any, ...]] | None:
        """A SELECT of the entity keys whose entity-table row all of `nodes` hold, and its
        parameters; None unless every node is on the fields of one entity table."""
        tables = {self.entity_table(node) for node in nodes}
        table = tables.pop() if len(tables) == 1 else None
        if table is None:
            return None
        where = self.compile(And(tuple(nodes)))
        key = quote_ident(ENTITY_KEY)
        return f"SELECT {key} FROM {quote_qualified(table)} WHERE {where.sql}", where.params

    def entity_group(
        self, table: str, group: list[tuple[int, Fragment]]
    ) -> list[tuple[int, Fragment]]:
        """Conditions of one AND on the fields of entity table `table` (beside others on the
        contact's columns): two or more are tested together on it, one probe of the entity key
        (search.entities), where the dialect can; one stays as it is (a probe would cost it a
        join)."""
        if len(group) < 2:
            return group
        ordered = sorted(group, key=lambda part: part[0])  # cheapest first, as in parts()
        together = self.d.entity_terms(quote_qualified(table), [f for _, f in ordered])
        if together is None:
            return group
        return [(min(cost for cost, _ in group), together)]

    def _required(self, node: Node, *, negated: bool, required: bool) -> None:
        """Note a required condition that is not a date comparison (see date_range)."""
        if required and not negated:
            self.required_dates.append([])

    def cost(self, node: Node) -> int:
        """A rough per-row cost rank of evaluating `node` (numbers cheapest, documents dearest)."""
        if isinstance(node, And | Or):
            return max(self.cost(c) for c in node.children)
        if isinstance(node, Not):
            return self.cost(node.child)
        if isinstance(node, FreeText):
            return _KIND_COST[Kind.DOCUMENT]
        f = self.fields.get(node.field.lower())
        return _KIND_COST[f.kind] if f is not None else 0  # unknown: fails when compiled

    # -- free text --------------------------------------------------------------------------
    def free_text(self, node: FreeText, *, ranked: bool) -> list[tuple[int, Fragment]]:
        doc = document_field(self.fields)
        if doc is None:
            raise QueryError(
                f"this table has no free-text document, so '{node.text}' cannot be searched "
                "on its own — name a field, e.g. title:finance",
                position=node.pos,
            )
        words = _words(node.text)
        if not words:
            shown = f'"{node.text}"' if node.phrase else node.text
            raise QueryError(
                f"nothing to search for in {shown} at column {node.pos + 1} (no letters or digits)",
                position=node.pos,
            )
        if ranked and words not in self.ranked_terms:
            self.ranked_terms.append(words)
        col = self.d.ident(doc.column)
        prefilters = self.d.document_prefilters(col, words)
        return [(_PREFILTER_COST, p) for p in prefilters] + [
            (_KIND_COST[Kind.DOCUMENT], self.d.document_has(col, words))
        ]

    # -- field:value[,value...] ---------------------------------------------------------------
    def field_match(self, node: FieldMatch) -> Fragment:
        f = resolve(self.fields, node.field, position=node.pos)
        col = self.d.ident(f.column)
        values = [v for v in node.values if isinstance(v, Value)]
        ranges = [r for r in node.values if isinstance(r, Range)]
        if ranges and f.kind not in ORDERED_KINDS:
            raise QueryError(
                f"ranges (a..b) apply to number and date fields; '{node.field}' is a "
                f"{_kind_name(f.kind)} field",
                position=ranges[0].pos,
            )
        for v in values:
            if not v.text.strip():
                raise QueryError(
                    f"empty value for '{node.field}' at column {v.pos + 1}", position=v.pos
                )
        parts: list[Fragment] = []
        if f.kind is Kind.TEXT:
            parts = [self.d.text_contains(col, v.text.lower()) for v in values]
        elif f.kind is Kind.TEXT_LIST:
            joined = self.d.ident(f.match_column) if f.match_column else None
            signed = self.d.ident(f.signature_column) if f.signature_column else None
            hashed = None
            if f.hash_column and f.hash_table:
                hashed = (self.d.ident(f.hash_column), quote_qualified(f.hash_table))
            parts = [
                self.d.text_list_contains(col, v.text.lower(), joined, signed, hashed)
                for v in values
            ]
        elif f.kind is Kind.CODE:
            parts = [self.d.code_in(col, _distinct(v.text.strip().lower() for v in values))]
        elif f.kind is Kind.CODE_LIST:
            parts = [self.d.code_list_has(col, _distinct(v.text.strip().lower() for v in values))]
        elif f.kind is Kind.BOOLEAN:
            parts = [self.d.compare(col, "=", _boolean(f, node.field, v)) for v in values]
        else:  # number, date, timestamp
            if f.kind is Kind.NUMBER:
                _refuse_thousands_separators(node)
            parts = [self.ordered(f, node.field, "=", v) for v in values]
            parts += [self.ordered_range(f, node.field, r) for r in ranges]
        return parts[0] if len(parts) == 1 else self.d.any_of(parts)

    # -- field>value ------------------------------------------------------------------------
    def comparison(self, node: Compare) -> Fragment:
        f = resolve(self.fields, node.field, position=node.pos)
        if node.op == "=" and f.kind in (Kind.CODE, Kind.CODE_LIST, Kind.BOOLEAN):
            return self.field_match(FieldMatch(node.field, (node.value,), node.pos))
        if f.kind not in ORDERED_KINDS:
            raise QueryError(
                f"'{node.field}' is a {_kind_name(f.kind)} field: comparisons ({node.op}) apply "
                f"to number and date fields — use {node.field}:value",
                position=node.pos,
            )
        return self.ordered(f, node.field, node.op, node.value)

    def ordered(self, f: Field, name: str, op: str, value: Value) -> Fragment:
        """`op` against a number, date or timestamp; a bare date on a timestamp is a whole day."""
        col = self.d.ident(f.column)
        typed = _typed(f, name, value)
        if f.kind is Kind.TIMESTAMP and type(typed) is dt.date:
            start = dt.datetime.combine(typed, dt.time.min)
            end = dt.datetime.combine(typed, dt.time.max)  # microsecond precision: the day's end
            if op == "=":
                self.date_bounds += [(f, ">=", start), (f, "<=", end)]
                return self.d.all_of(
                    [self.d.compare(col, ">=", start), self.d.compare(col, "<=", end)]
                )
            bound = {">": (">", end), ">=": (">=", start), "<": ("<", start), "<=": ("<=", end)}
            op, edge = bound[op]
            self.date_bounds.append((f, op, edge))
            return self.d.compare(col, op, edge)
        if isinstance(typed, dt.date):  # a date, or a timestamp's date and time
            self.date_bounds.append((f, op, typed))
        return self.d.compare(col, op, typed)

    def ordered_range(self, f: Field, name: str, r: Range) -> Fragment:
        if r.low is None and r.high is None:
            raise QueryError(
                f"a range needs at least one bound, e.g. {name}:10..20", position=r.pos
            )
        parts = []
        if r.low is not None:
            parts.append(self.ordered(f, name, ">=", r.low))
        if r.high is not None:
            parts.append(self.ordered(f, name, "<=", r.high))
        return parts[0] if len(parts) == 1 else self.d.all_of(parts)


def _typed(f: Field, name: str, value: Value) -> int | float | dt.date | dt.datetime:
    """The value as the Python type of the field's kind, or a QueryError saying what is wrong."""
    text = value.text.strip()
    if f.kind is Kind.NUMBER:
        if not _NUMBER.fullmatch(text):
            raise QueryError(
                f"'{name}' is a number field: '{value.text}' is not a number"
                + (" (write numbers without thousands separators)" if "," in text else ""),
                position=value.pos,
            )
        if re.fullmatch(r"[+-]?\d{1,19}", text) and abs(int(text)) <= _INT64_MAX:
            return int(text)
        as_float = float(text)
        if as_float in (float("inf"), float("-inf")):
            raise QueryError(
                f"'{name}': the number '{value.text}' is too large", position=value.pos
            )
        return as_float
    # date and timestamp
    try:
        if _DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
        if f.kind is Kind.TIMESTAMP and _DATETIME.fullmatch(text):
            return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    shape = "YYYY-MM-DD" + (" or YYYY-MM-DDTHH:MM[:SS]" if f.kind is Kind.TIMESTAMP else "")
    raise QueryError(
        f"'{name}' is a date field: '{value.text}' is not a valid date (write {shape})",
        position=value.pos,
    )


def _refuse_thousands_separators(node: FieldMatch) -> None:
    """`pop:10,000` is far likelier a formatted number than the list (10, 0): refuse to guess."""
    items = node.values
    if (
        len(items) > 1
        and all(isinstance(v, Value) and not v.quoted for v in items)
        and re.fullmatch(r"\d{1,3}", items[0].text)  # type: ignore[union-attr]
        and all(re.fullmatch(r"\d{3}", v.text) for v in items[1:])  # type: ignore[union-attr]
    ):
        written = ",".join(v.text for v in items)  # type: ignore[union-attr]
        raise QueryError(
            f"'{node.field}:{written}' looks like a number with thousands separators — write "
            f"{node.field}:{written.replace(',', '')} (to list values, quote them: "
            f'{node.field}:"{items[0].text}","{items[1].text}")',  # type: ignore[union-attr]
            position=node.pos,
        )


def _boolean(f: Field, name: str, value: Value) -> bool:
    try:
        return _BOOLEANS[value.text.strip().lower()]
    except KeyError:
        raise QueryError(
            f"'{name}' is a yes/no field: use {name}:true or {name}:false, not '{value.text}'",
            position=value.pos,
        ) from None


def _kind_name(kind: Kind) -> str:
    return {Kind.TEXT_LIST: "text list", Kind.CODE_LIST: "code list", Kind.TIMESTAMP: "date"}.get(
        kind, kind.value
    )


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(values))
