"""Parsing: the syntax tree for each construct, precedence, shorthands and syntax errors."""

from __future__ import annotations

import pytest

from crmpipe.search import QueryError, expand_shorthand, parse
from crmpipe.search.ast import And, Compare, FieldMatch, FreeText, Not, Or, Range, Value, walk

SHORTHANDS = {"filter": "email:{1} tech:{2} pop{3}"}


def shape(node) -> str:
    """A compact, position-free rendering of a tree, to compare against expectations."""
    if isinstance(node, And):
        return "(" + " & ".join(shape(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " | ".join(shape(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return "!" + shape(node.child)
    if isinstance(node, FreeText):
        return f'"{node.text}"' if node.phrase else node.text
    if isinstance(node, Compare):
        return f"{node.field}{node.op}{node.value.text}"
    assert isinstance(node, FieldMatch)
    vals = []
    for v in node.values:
        if isinstance(v, Range):
            vals.append(f"{v.low.text if v.low else ''}..{v.high.text if v.high else ''}")
        else:
            vals.append(f'"{v.text}"' if v.quoted else v.text)
    return f"{node.field}:{','.join(vals)}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("title: finance", "title:finance"),
        ("title:finance", "title:finance"),
        ("Title:Finance", "title:Finance"),
        ("email:bob tech:accela pop>10000", "(email:bob & tech:accela & pop>10000)"),
        ('"finance director" accela', '("finance director" & accela)'),
        ("state:CA,TX  -title:intern", "(state:CA,TX & !title:intern)"),
        ("NOT title:intern", "!title:intern"),
        ("(title:clerk OR title:treasurer) crm:a", "((title:clerk | title:treasurer) & crm:a)"),
        ("pop:10000..50000  created>2024-01-01", "(pop:10000..50000 & created>2024-01-01)"),
        ("pop:..50000", "pop:..50000"),
        ("pop:10000..", "pop:10000.."),
        ("pop>=5 pop<=9 pop<1 pop=2", "(pop>=5 & pop<=9 & pop<1 & pop=2)"),
        ("long<-120", "long<-120"),
        ('field:"quoted value with spaces"', 'field:"quoted value with spaces"'),
        ('title:"say \\"hi\\""', 'title:"say "hi""'),
        ('title:a,"b c",1..2', 'title:a,"b c",1..2'),
        # AND binds tighter than OR; explicit AND is the same as juxtaposition.
        ("a OR b c", "(a | (b & c))"),
        ("a b OR c", "((a & b) | c)"),
        ("a AND b OR c AND d", "((a & b) | (c & d))"),
        ("a OR b OR c", "(a | b | c)"),
        ("-a b", "(!a & b)"),
        ("-(a OR b) c", "(!(a | b) & c)"),
        ("NOT NOT a", "!!a"),
        # operators are upper case and whole words; anything else is a word
        ("ORACLE NOTHING ANDROID", "(ORACLE & NOTHING & ANDROID)"),
        ("cats or dogs", "(cats & or & dogs)"),
        ('"OR"', '"OR"'),
        # after a field, everything up to a space, comma or parenthesis is the value
        ("title:OR", "title:OR"),
        ("url:http://x.org", "url:http://x.org"),
        ("title:co-op", "title:co-op"),
        ("co-op", "co-op"),
        ("bob.smith@city.gov", "bob.smith@city.gov"),
    ],
)
def test_parse_shapes(query, expected):
    assert shape(parse(query)) == expected


def test_positions_point_into_the_query():
    node = parse("state:CA -title:intern")
    assert isinstance(node, And)
    state, negated = node.children
    assert state.pos == 0 and state.values[0] == Value("CA", pos=6)
    assert negated.pos == 9 and negated.child.pos == 10


def test_walk_visits_every_node():
    kinds = [type(n).__name__ for n in walk(parse("a (b OR -c)"))]
    assert kinds == ["And", "FreeText", "Or", "FreeText", "Not", "FreeText"]


# -- shorthands ---------------------------------------------------------------------------


def test_shorthand_expands_arguments_into_the_template():
    assert expand_shorthand("filter: bob Accela >10000", SHORTHANDS) == (
        "email:bob tech:Accela pop>10000",
        "filter",
    )
    assert shape(parse("filter: bob Accela >10000", shorthands=SHORTHANDS)) == (
        "(email:bob & tech:Accela & pop>10000)"
    )


def test_shorthand_name_is_case_insensitive_and_quotes_keep_spaces():
    assert expand_shorthand('FILTER: "bob smith" accela >1', SHORTHANDS)[0] == (
        'email:"bob smith" tech:accela pop>1'
    )


def test_queries_not_starting_with_a_shorthand_are_untouched():
    for q in ("title:filter", "filterx: a b c", "bob filter: a b c"):
        assert expand_shorthand(q, SHORTHANDS) == (q, None)
    assert expand_shorthand("filter: a b c", None) == ("filter: a b c", None)


@pytest.mark.parametrize(
    "query", ["filter: bob", "filter: bob accela", "filter:", "filter: a b c d"]
)
def test_wrong_number_of_shorthand_arguments_names_the_template(query):
    with pytest.raises(QueryError) as e:
        parse(query, shorthands=SHORTHANDS)
    assert "shorthand 'filter' takes 3 values" in str(e.value)
    assert "email:{1} tech:{2} pop{3}" in str(e.value)


def test_error_in_an_expanded_shorthand_says_so():
    with pytest.raises(QueryError) as e:
        parse("filter: bob accela >", shorthands=SHORTHANDS)
    assert str(e.value) == (
        "missing value after 'pop>' at column 27 "
        "(in 'email:bob tech:accela pop>', expanded from shorthand 'filter')"
    )
    assert e.value.query == "email:bob tech:accela pop>"


# -- syntax errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("", "empty query", None),
        ("   ", "empty query", None),
        ("(title:clerk", "unbalanced parentheses: '(' at column 1 is never closed", 0),
        ("title:clerk)", "unbalanced parentheses: ')' at column 12 has no matching '('", 11),
        ("((a) OR b", "unbalanced parentheses: '(' at column 1 is never closed", 0),
        ('"finance director', "unclosed quote", 0),
        ("title:", "missing value after 'title:'", 6),
        ("title:   ", "missing value after 'title:'", 9),
        ("pop>", "missing value after 'pop>'", 4),
        ("title:(a OR b)", "missing value after 'title:'", 6),
        ("a OR", "'OR' at column 3 needs a term after it", 2),
        ("OR a", "'OR' at column 1 needs a term on both sides", 0),
        ("a OR OR b", "'OR' at column 3 needs a term after it", 2),
        ("a AND", "'AND' at column 3 needs a term after it", 2),
        ("NOT", "'NOT' at column 1 needs a term after it", 0),
        ("a - b", "'-' at column 3 must be directly followed by the term to exclude", 2),
        ("pop >10000", "unexpected '>' at column 5", 4),
        ("title :x", "unexpected ':' at column 7", 6),
        (",a", "unexpected ','", 0),
        ("()", "empty parentheses", 1),
    ],
)
def test_syntax_errors_are_one_line_with_a_position(query, message, position):
    with pytest.raises(QueryError) as e:
        parse(query)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.position == position


def test_error_caret_points_at_the_problem():
    with pytest.raises(QueryError) as e:
        parse("title:x pop >5")
    assert e.value.caret() == "title:x pop >5\n            ^"


def test_absurd_input_is_refused_cleanly():
    with pytest.raises(QueryError, match="nested too deeply"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(QueryError, match="too long"):
        parse("a " * 6000)
    with pytest.raises(QueryError, match="must be text"):
        parse(None)  # type: ignore[arg-type]
