"""Query text → syntax tree (`crmpipe.search.ast`), expanding config shorthands first.

The grammar lives in `grammar.lark` and is parsed with lark (LALR, contextual lexer). Anything
wrong with the text comes out as one `QueryError` naming the problem and its column; nothing
else escapes `parse()`, whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

import lark
from lark import Token, Transformer, v_args

from crmpipe.search.ast import (
    And,
    Compare,
    FieldMatch,
    FreeText,
    Node,
    Not,
    Or,
    Range,
    Value,
)
from crmpipe.search.errors import QueryError

#: Longest query accepted, and deepest nesting of parentheses/negations (they guard recursion).
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 64

_SHORTHAND_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*:(.*)\Z", re.S)
#: A shorthand argument: a run of non-space characters, where double quotes may protect spaces.
_SHORTHAND_ARG = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|[^\s"])+')
_PLACEHOLDER = re.compile(r"\{(\d+)\}")


@cache
def _lark() -> lark.Lark:
    # cache=True keeps lark's grammar analysis in a temp file: each CLI run starts ~60 ms sooner.
    grammar = files("crmpipe.search").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(
        grammar, parser="lalr", lexer="contextual", maybe_placeholders=False, cache=True
    )


def expand_shorthand(query: str, shorthands: Mapping[str, str] | None) -> tuple[str, str | None]:
    """Expand `NAME: a b c` using the template of shorthand NAME; (query, None) if none applies.

    The arguments are the whitespace-separated words after the colon (double quotes keep a
    value with spaces together, quotes included) and replace `{1}`, `{2}`, ... in the template:
    with `filter: "email:{1} tech:{2} pop{3}"`, `filter: bob Accela >10000` becomes
    `email:bob tech:Accela pop>10000`. Returns the expanded query and the shorthand's name.
    """
    if not shorthands:
        return query, None
    head = _SHORTHAND_HEAD.match(query)
    if not head:
        return query, None
    by_name = {name.lower(): (name, template) for name, template in shorthands.items()}
    if head.group(1).lower() not in by_name:
        return query, None
    name, template = by_name[head.group(1).lower()]
    numbers = [int(n) for n in _PLACEHOLDER.findall(template)]
    if any(n < 1 for n in numbers):
        raise QueryError(f"shorthand '{name}' template '{template}' uses {{0}}; start at {{1}}")
    wanted = max(numbers, default=0)
    args = _SHORTHAND_ARG.findall(head.group(2))
    if len(args) != wanted:
        got = f"got {len(args)}" + (f" ({' '.join(args)})" if args else "")
        raise QueryError(
            f"shorthand '{name}' takes {wanted} value{'s' if wanted != 1 else ''} for its "
            f"template '{template}'; {got} — quote a value that contains spaces"
        )
    return _PLACEHOLDER.sub(lambda m: args[int(m.group(1)) - 1], template), name


def parse(query: str, *, shorthands: Mapping[str, str] | None = None) -> Node:
    """Parse `query` (after shorthand expansion) into a syntax tree; raises only QueryError."""
    if not isinstance(query, str):
        raise QueryError(f"a query must be text, not {type(query).__name__}")
    expanded, shorthand = expand_shorthand(query, shorthands)
    try:
        return _parse_expanded(expanded)
    except QueryError as e:
        raise in_context(e, expanded, shorthand) from None


def in_context(e: QueryError, expanded: str, shorthand: str | None) -> QueryError:
    """`e` about the query `expanded`, saying which shorthand produced it (if one did)."""
    message = e.message
    if shorthand is not None and "expanded from shorthand" not in message:
        message = f"{message} (in '{expanded}', expanded from shorthand '{shorthand}')"
    return QueryError(message, position=e.position, query=expanded, suggestions=e.suggestions)


def _parse_expanded(query: str) -> Node:
    if not query.strip():
        raise QueryError("empty query — type a search term or field:value (e.g. title:finance)")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"query is too long ({len(query):,} characters; at most {MAX_QUERY_LENGTH:,})"
        )
    if _nesting(query) > MAX_DEPTH:
        raise QueryError(f"query is nested too deeply (more than {MAX_DEPTH} levels)")
    try:
        tree = _lark().parse(query)
        node = _ToAst().transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, QueryError):
            raise _with_query(e.orig_exc, query) from None
        raise QueryError(f"cannot read the query: {e.orig_exc}", query=query) from None
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(query, e) from None
    except lark.exceptions.LarkError as e:  # pragma: no cover - lark's own catch-all
        raise QueryError(f"cannot read the query: {str(e).splitlines()[0]}", query=query) from None
    except RecursionError:  # pragma: no cover - guarded by MAX_DEPTH
        raise QueryError("query is nested too deeply", query=query) from None
    if not isinstance(node, And | Or | Not | FieldMatch | Compare | FreeText):
        raise QueryError("empty query — type a search term or field:value", query=query)
    return node


def _with_query(e: QueryError, query: str) -> QueryError:
    return QueryError(e.message, position=e.position, query=query, suggestions=e.suggestions)


def _nesting(query: str) -> int:
    """Rough nesting depth (parentheses and stacked negations), to refuse pathological input."""
    depth = deepest = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', "", query):
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(depth - 1, 0)
    runs = re.findall(r"(?:^|[\s(])((?:(?:-|NOT\s+)\s*)+)", query)
    negations = max((run.count("-") + run.count("NOT") for run in runs), default=0)
    return max(deepest, negations)


def _col(pos: int) -> int:
    return pos + 1


def _unbalanced_paren(query: str) -> QueryError | None:
    """The first ')' without a '(' or the last '(' never closed (quoted text ignored)."""
    opened: list[int] = []
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[()]', query):
        if m.group() == "(":
            opened.append(m.start())
        elif m.group() == ")":
            if not opened:
                return QueryError(
                    f"unbalanced parentheses: ')' at column {_col(m.start())} has no matching '('",
                    position=m.start(),
                    query=query,
                )
            opened.pop()
    if opened:
        return QueryError(
            f"unbalanced parentheses: '(' at column {_col(opened[-1])} is never closed",
            position=opened[-1],
            query=query,
        )
    return None


_TRAILING_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:|>=|<=|>|<|=)\s*\Z")
_TRAILING_OPERATOR = re.compile(r"(?:^|[\s(])(OR|AND|NOT|-)\s*\Z")


def _syntax_error(query: str, e: lark.exceptions.UnexpectedInput) -> QueryError:
    """Turn lark's exception into a one-line explanation of what is wrong and where."""
    paren = _unbalanced_paren(query)
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        pos = e.pos_in_stream
        ch = query[pos]
        before = query[:pos]
        field = _TRAILING_FIELD.search(before)
        if ch == '"':
            return QueryError(
                f"unclosed quote: the '\"' at column {_col(pos)} has no closing '\"'",
                position=pos,
                query=query,
            )
        if field:
            return QueryError(
                f"missing value after '{field.group(1)}{field.group(2)}' at column {_col(pos)}"
                + (
                    " — list several values with commas: title:clerk,treasurer" if ch == "(" else ""
                ),
                position=pos,
                query=query,
            )
        if paren is not None:
            return paren
        hint = _token_hint(ch, pos)
        return QueryError(
            hint or f"unexpected '{ch}' at column {_col(pos)}", position=pos, query=query
        )

    token = getattr(e, "token", None)
    at_end = isinstance(e, lark.exceptions.UnexpectedEOF) or (
        token is not None and token.type == "$END"
    )
    pos = len(query) if at_end or token is None else token.start_pos
    if paren is not None:
        return paren
    before = query[:pos]
    field = _TRAILING_FIELD.search(before)
    if field:
        return QueryError(
            f"missing value after '{field.group(1)}{field.group(2)}' at column {_col(pos)}",
            position=pos,
            query=query,
        )
    operator = _TRAILING_OPERATOR.search(before)
    if operator:
        op = operator.group(1)
        return QueryError(
            f"'{op}' at column {_col(operator.start(1))} needs a term after it",
            position=operator.start(1),
            query=query,
        )
    if token is not None and not at_end:
        hint = _token_hint(str(token.value), pos)
        if hint:
            return QueryError(hint, position=pos, query=query)
    if token is not None and token.type in ("OR", "AND"):
        return QueryError(
            f"'{token.value}' at column {_col(pos)} needs a term on both sides",
            position=pos,
            query=query,
        )
    if before.rstrip().endswith("("):
        return QueryError(
            f"empty parentheses at column {_col(before.rstrip().rfind('('))}",
            position=pos,
            query=query,
        )
    shown = "end of query" if at_end else f"'{token.value if token is not None else '?'}'"
    return QueryError(f"unexpected {shown} at column {_col(pos)}", position=pos, query=query)


def _token_hint(text: str, pos: int) -> str | None:
    """An explanation for a token that starts with a character only valid elsewhere."""
    ch = text[:1]
    if ch == "-":
        return (
            f"'-' at column {_col(pos)} must be directly followed by the term to exclude "
            "(e.g. -title:intern)"
        )
    if ch and ch in "<>=":
        return (
            f"unexpected '{ch}' at column {_col(pos)} — write comparisons without spaces, "
            "e.g. pop>10000"
        )
    if ch == ":":
        return (
            f"unexpected ':' at column {_col(pos)} — write field:value with no space before the ':'"
        )
    if ch == ",":
        return (
            f"unexpected ',' at column {_col(pos)} — list a field's values as "
            "field:a,b (a comma only follows a field's value)"
        )
    return None


def _unquote(text: str) -> str:
    """The content of a "quoted" token; a backslash makes the next character literal."""
    return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.S)


@v_args(inline=True)
class _ToAst(Transformer):
    """lark parse tree → ast nodes (operands are flattened: `a b c` is one And of three)."""

    def any_of(self, *items: Node | Token) -> Node:
        return _flatten(Or, [i for i in items if not isinstance(i, Token)])

    def all_of(self, *items: Node | Token) -> Node:
        return _flatten(And, [i for i in items if not isinstance(i, Token)])

    def negate(self, op: Token, child: Node) -> Node:
        return Not(child, pos=op.start_pos)

    def group(self, _lpar: Token, child: Node, _rpar: Token) -> Node:
        return child

    def field_match(self, head: Token, items: list[Value | Range]) -> FieldMatch:
        return FieldMatch(head[:-1].lower(), tuple(items), pos=head.start_pos)

    def compare(self, head: Token, value: Value) -> Compare:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(>=|<=|>|<|=)", str(head))
        assert m is not None  # the terminal's own pattern
        return Compare(m.group(1).lower(), m.group(2), value, pos=head.start_pos)  # type: ignore[arg-type]

    def word(self, tok: Token) -> FreeText:
        return FreeText(str(tok), phrase=False, pos=tok.start_pos)

    def phrase(self, tok: Token) -> FreeText:
        return FreeText(_unquote(str(tok)), phrase=True, pos=tok.start_pos)

    @v_args(inline=False)
    def items(self, children: list[Value | Range]) -> list[Value | Range]:
        return children

    def bare_value(self, tok: Token) -> Value:
        return Value(str(tok), quoted=False, pos=tok.start_pos)

    def quoted_value(self, tok: Token) -> Value:
        return Value(_unquote(str(tok)), quoted=True, pos=tok.start_pos)

    def range(self, tok: Token) -> Range:
        low, _, high = str(tok).partition("..")
        pos = tok.start_pos
        return Range(
            Value(low, pos=pos) if low else None,
            Value(high, pos=pos + len(low) + 2) if high else None,
            pos=pos,
        )


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> Node:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return flat[0] if len(flat) == 1 else kind(tuple(flat))
