"""PostgreSQL's e-mail token postings: `email:` terms answered without a trigram index on the
4.5M contacts' joined addresses.

The publish copies, beside contact_search, the postings DuckDB keeps (search.tokens): each
contact's distinct tokens of `_emails_joined` (cut at SEPARATORS) with its `entity_id`, as
`contact_search_emails_tokens (tok, entity_id, contact_id)` with a B-tree on all three (read
index-only), and their vocabulary `contact_search_emails_vocab (tok, n)` (each token, how many
postings it has) with a trigram GIN. `search_fields` names them as the field's lookup (table =
the postings, column `tok`, key `contact_id`, field = the vocabulary), so the dialect
(search.dialects) writes a term on it as:

- a needle without a separator: the contacts holding a token that contains it,
  `contact_id IN (SELECT contact_id FROM postings WHERE tok IN (SELECT tok FROM vocabulary
  WHERE tok LIKE '%bob%'))`: exactly the rows whose joined text contains it;
- a needle holding separators (`bob.smith@`): the candidates holding a token that contains its
  longest part between separators (every part of it lies inside one token of a matching row),
  rechecked on the row (`_emails_joined LIKE '%bob.smith@%'`);
- a needle of separators only (`@`): the row test alone (no candidates to draw).

A contact without e-mails has no postings: false where the row test is NULL, the same under
a negation (`NOT coalesce(..., false)`, search.dialects).

An in-place publish never writes the published postings: it notes the postings it removes
in `contact_search_emails_tokens_gone` and those it adds in `..._new` (small tables, each with
its B-tree), and a term reads the published postings but the gone ones, and the new ones
(`Tables.live`); the next full publish starts them empty again.

A query of one such term (separator-free needles) beside entity-level terms only is counted
from the postings alone (`first_sql`): the entity terms test the postings' `entity_id`, so the
contacts' rows are never read until the page; unless its needles' tokens hold more than
MAX_POSTINGS postings (`gov`), when the plain statement stops at the count cap sooner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmpipe.search.ast import And, Compare, FieldMatch, Node, Not, Or, Value
from crmpipe.search.fields import JOIN_SEPARATOR, Field, Kind
from crmpipe.search.tokens import SEPARATORS, _postings

#: The postings and their vocabulary (PostgreSQL, in the published schema); the postings an
#: in-place publish removed from them (`_gone`) and added beside them (`_new`).
POSTINGS = "contact_search_emails_tokens"
GONE, ADDED = f"{POSTINGS}_gone", f"{POSTINGS}_new"
VOCABULARY = "contact_search_emails_vocab"
#: The search table whose rows they index.
SEARCH = "contact_search"
#: The list whose tokens are published, and its joined column in contact_search.
LIST = "emails"
JOINED = "_emails_joined"
#: The postings' columns.
COLUMNS = ["tok", "entity_id", "contact_id"]
#: Above this many postings the needles' tokens are not read one by one (see module doc).
MAX_POSTINGS = 200_000
#: Runs of a needle shorter than this draw no candidates (the vocabulary's trigram index
#: can't find their tokens, and most contacts hold such runs): the row is tested instead.
MIN_PART = 3


def _pieces(needle: str) -> list[str]:
    """`needle` cut at every separator (empty pieces kept)."""
    out = [needle]
    for ch in SEPARATORS:
        out = [p for piece in out for p in piece.split(ch)]
    return out


def usable(needle: str) -> bool:
    """Whether the postings alone answer a substring test of `needle` (no separator in it)."""
    return bool(needle) and _pieces(needle) == [needle]


def anchored(needle: str) -> list[str]:
    """LIKE patterns on the vocabulary, one per run of `needle` between separators of at
    least MIN_PART characters: a token of every matching row matches each. A run after a
    separator starts its token (`smith%` of `.smith`), one before a separator ends it (`%bob`
    of `bob.`), one between two is a whole token."""
    from crmpipe.search.dialects import like_escape

    pieces = _pieces(needle)
    return [
        ("" if i > 0 else "%") + like_escape(p) + ("" if i < len(pieces) - 1 else "%")
        for i, p in enumerate(pieces)
        if len(p) >= MIN_PART
    ]


def duck_postings() -> str:
    """DuckDB SELECT of the postings (tok, entity_id, contact_id) of the search table's rows:
    each contact's distinct tokens, cut as search.tokens cuts them."""
    select = _postings(SEARCH, JOINED, "contact_id", "entity_id")
    return f"SELECT tok, ek_ AS entity_id, key_ AS contact_id FROM ({select}) p_"


def create_sql(schema: str, search_table: str) -> list[str]:
    """The postings (typed as contact_search's columns; tokens in the "C" collation), those an
    in-place publish removes and adds, and the vocabulary, empty."""
    return [
        f'CREATE TABLE {schema}.{POSTINGS} AS SELECT CAST(NULL AS text) COLLATE "C" AS tok, '
        f"entity_id, contact_id FROM {search_table} WITH NO DATA",
        *(f"CREATE TABLE {schema}.{t} (LIKE {schema}.{POSTINGS})" for t in (GONE, ADDED)),
        f'CREATE TABLE {schema}.{VOCABULARY} (tok text COLLATE "C" NOT NULL, n bigint NOT NULL)',
    ]


def index_sql(schema: str, trgm_ops: str) -> list[str]:
    """The postings' B-tree (index-only reads of a token's contacts with their entities), then
    the vocabulary counted from them, its key and trigram GIN, and statistics."""
    postings, vocab = f"{schema}.{POSTINGS}", f"{schema}.{VOCABULARY}"
    return [
        f"CREATE INDEX {POSTINGS}_key ON {postings} (tok, entity_id, contact_id)",
        # (the published postings are tested against these by token and key)
        *(
            f"CREATE INDEX {t}_key ON {schema}.{t} (tok, contact_id, entity_id)"
            for t in (GONE, ADDED)
        ),
        f"INSERT INTO {vocab} SELECT tok, count(*) FROM {postings} GROUP BY tok",
        f"CREATE UNIQUE INDEX {VOCABULARY}_key ON {vocab} (tok)",
        f"CREATE INDEX {VOCABULARY}_trgm ON {vocab} USING gin (tok {trgm_ops})",
        f"VACUUM (ANALYZE) {postings}",
        f"VACUUM (ANALYZE) {vocab}",
    ]


def vocabulary_update(schema: str, gone: str, new: str) -> list[str]:
    """Statements keeping the vocabulary's counts after postings `gone` (a relation with
    `tok`) were deleted and `new` inserted: exact, tokens left without postings removed."""
    vocab = f"{schema}.{VOCABULARY}"
    return [
        f"INSERT INTO {vocab} AS v_ (tok, n) SELECT tok, sum(c_) FROM (SELECT tok, -1 AS c_ "
        f"FROM {gone} UNION ALL SELECT tok, 1 FROM {new}) d_ GROUP BY tok HAVING sum(c_) <> 0 "
        "ON CONFLICT (tok) DO UPDATE SET n = v_.n + EXCLUDED.n",
        f"DELETE FROM {vocab} WHERE n = 0 AND tok IN (SELECT tok FROM {gone})",
    ]


@dataclass(frozen=True)
class Tables:
    """The postings and vocabulary of a published schema (quoted, schema-qualified)."""

    postings: str
    vocabulary: str
    search: str  # the search table they index
    gone: str  # postings an in-place publish removed (still in `postings`)
    added: str  # postings an in-place publish added (not in `postings`)

    @classmethod
    def of(cls, postings: str, vocabulary: str, ident: Callable[[str], str]) -> Tables:
        """The tables beside `postings` (quoted, qualified), its vocabulary named `vocabulary`."""
        schema = postings.rpartition(".")[0]
        named = (vocabulary, SEARCH, GONE, ADDED)
        return cls(postings, *(f"{schema}.{ident(n)}" for n in named))

    def live(self, tokens: str) -> str:
        """SELECT (tok, entity_id, contact_id) of the postings whose token is in `tokens` (a
        SELECT of tokens, with its parameters): the published postings but those removed
        since, and those added since. A contact has one posting per token, so a removed
        posting is told by its token and key; the removed ones of those tokens are hashed
        once (`NOT IN`), where an anti-join probed them per posting (2 of 8 ms at 1M)."""
        return (
            f"WITH t_ AS MATERIALIZED ({tokens}) SELECT * FROM {self.postings} p_ WHERE tok IN "
            "(SELECT tok FROM t_) AND (tok, contact_id) NOT IN (SELECT g_.tok, g_.contact_id "
            f"FROM {self.gone} g_ WHERE g_.tok IN (SELECT tok FROM t_)) "
            f"UNION ALL SELECT * FROM {self.added} WHERE tok IN (SELECT tok FROM t_)"
        )


def candidates(tables: Tables, key: str, recheck: str = "") -> str:
    """SQL `key IN (...)`: the contacts holding a live posting of a token the vocabulary
    pattern (a parameter, one of `anchored`) matches; with `recheck` (a condition
    on the search row `r_`, its parameters after the pattern's), those whose row, read by
    key, holds it. Keys compared in the "C" collation, the search table's key index's."""
    live = tables.live(f"SELECT v_.tok FROM {tables.vocabulary} v_ WHERE v_.tok LIKE %s")
    if not recheck:
        return f'{key} COLLATE "C" IN (SELECT l_.contact_id COLLATE "C" FROM ({live}) l_)'
    return (
        f'{key} COLLATE "C" IN (SELECT r_.contact_id COLLATE "C" FROM ({live}) l_ '
        f'JOIN {tables.search} r_ ON r_.contact_id COLLATE "C" = l_.contact_id COLLATE "C" '
        f"WHERE {recheck})"
    )


def size_of(tables: Tables) -> str:
    """SQL: how many postings the tokens a vocabulary pattern (a parameter) matches hold."""
    return f"SELECT coalesce(sum(n), 0) FROM {tables.vocabulary} WHERE tok LIKE %s"


@dataclass(frozen=True)
class PostingsQuery:
    """A query the postings count alone: one term on the list (any of `needles`, none holding
    a separator), ANDed with entity-level terms (`where`, their condition on `entity_id`,
    `params`)."""

    tables: Tables
    needles: tuple[str, ...]
    where: str = ""
    params: tuple[Any, ...] = ()


def postings_query(
    node: Node,
    fields: Mapping[str, Field],
    dialect: Any,
    compile_terms: Callable[[Node], Any],
) -> PostingsQuery | None:
    """The PostingsQuery of `node` when it is one term on a list with postings (`dialect`'s;
    separator-free values) alone or ANDed with terms all on the entity's fields (searched by
    `entity_id`); `compile_terms` writes their AND (a dialect Fragment). None for any other
    query."""
    if not hasattr(dialect, "postings"):  # a store without postings
        return None
    children = list(node.children) if isinstance(node, And) else [node]
    listed = [(c, t) for c in children if (t := _tables_of(c, fields, dialect)) is not None]
    if len(listed) != 1 or not all(isinstance(v, Value) for v in listed[0][0].values):
        return None
    term, tables = listed[0]
    needles = tuple(dict.fromkeys(v.text.lower() for v in term.values))  # type: ignore[union-attr]
    if not all(usable(n) and "\x00" not in n for n in needles):
        return None
    rest = [c for c in children if c is not term]
    if not all(_entity_level(c, fields, dialect) for c in rest):
        return None
    if not rest:
        return PostingsQuery(tables, needles)
    where = compile_terms(And(tuple(rest)))
    return PostingsQuery(tables, needles, where.sql, tuple(where.params))


def _tables_of(node: Node, fields: Mapping[str, Field], dialect: Any) -> Tables | None:
    if not isinstance(node, FieldMatch):
        return None
    f = fields.get(node.field.lower())
    if f is None or f.kind is not Kind.TEXT_LIST or not f.match_column:
        return None
    return dialect.postings(dialect.ident(f.column))


def _entity_level(node: Node, fields: Mapping[str, Field], dialect: Any) -> bool:
    """Whether every field `node` tests is the entity's, searched by `entity_id`."""
    if isinstance(node, And | Or):
        return all(_entity_level(c, fields, dialect) for c in node.children)
    if isinstance(node, Not):
        return _entity_level(node.child, fields, dialect)
    if not isinstance(node, FieldMatch | Compare):
        return False  # free text: the contact's document
    f = fields.get(node.field.lower())
    lookup = dialect.lookups.get(dialect.ident(f.column)) if f is not None else None
    return lookup is not None and lookup.key == dialect.ident("entity_id")


def first(
    db: Any, query: PostingsQuery | None, sql: str, params: list[Any]
) -> tuple[str, list[Any]]:
    """The first statement of a PostgreSQL search and its parameters but the last three: from
    the postings when `query` is set and its needles' tokens hold at most MAX_POSTINGS
    postings, else `sql` and `params` as they are."""
    if query is None or any(len(n) < MIN_PART for n in query.needles):
        return sql, params  # (a short needle: too common, and no trigram finds its tokens)
    (size,) = db.execute(size_sql(query), patterns(query)).fetchone()
    if size > MAX_POSTINGS:
        return sql, params
    return first_sql(query), [*patterns(query), *query.params]


def first_sql(query: PostingsQuery) -> str:
    """The first statement of a PostgreSQL search (crmpipe.search.executor) from the live
    postings: the capped count and, when few, the page's keys in order; parameters: the
    needles' patterns, the entity terms', then the cap + 1, the cap and the page's
    size."""
    tokens = " OR ".join("v_.tok LIKE %s" for _ in query.needles)
    live = query.tables.live(f"SELECT v_.tok FROM {query.tables.vocabulary} v_ WHERE {tokens}")
    where = f" WHERE {query.where}" if query.where else ""
    return (
        f"WITH m AS MATERIALIZED (SELECT DISTINCT contact_id AS k_ FROM ({live}) l_{where} "
        "LIMIT %s) SELECT count(*), CASE WHEN count(*) <= %s THEN (SELECT coalesce((array_agg("
        "k_ ORDER BY k_ COLLATE \"C\"))[1:%s], '{}') FROM m) END FROM m"
    )


def size_sql(query: PostingsQuery) -> str:
    """How many postings the needles' tokens hold (parameters: the needles' patterns)."""
    tokens = " OR ".join("tok LIKE %s" for _ in query.needles)
    return f"SELECT coalesce(sum(n), 0) FROM {query.tables.vocabulary} WHERE {tokens}"


def patterns(query: PostingsQuery) -> list[str]:
    """The needles as LIKE patterns."""
    from crmpipe.search.dialects import like_escape

    return ["%" + like_escape(n) + "%" for n in query.needles]


assert JOIN_SEPARATOR in SEPARATORS
