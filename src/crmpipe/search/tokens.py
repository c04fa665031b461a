"""Token postings of a text list: a substring term answered from the few rows holding it.

`email: bob` tests `contains` on every contact's joined e-mails (4.5M rows at 4.5M contacts:
~30–50 ms with the bigram signature first, most of the `filter:` query). An address is made
of runs of characters cut by a few separators (`@`, `.`, `_`, `+`, `-`, and the lists'
JOIN_SEPARATOR). A needle holding none of them is a substring of the joined text exactly when
it is a substring of one of its tokens (the maximal runs between separators). So DuckDB's
search table gets, per such list (`SearchTable.tokened`):

- `search.<table>_<name>_tokens`: one posting per distinct token of each row (`tok`, the
  row's key `key_`, its entity key `ek_`), sorted by token when the index step builds it in
  full, and never changed until the next full build: each token's postings are one range of
  rowids (`vocab`), which DuckDB reads alone;
- `..._vocab`: each token with its range (`lo_`, `hi_`) and its count of postings (`n_`);
- `..._tail`: the postings of the rows an in-place update (search.refresh) wrote again, unsorted
  (scanned whole: a drop's few thousand rows);
- `..._stale`: the keys of those rows and of the rows it deleted: their sorted postings are no
  longer theirs and are skipped.

Postings name rows by key, never by the search table's rowid (a checkpoint that vacuums deleted
rows renumbers those; an in-place update's rows have theirs only once committed); the page of
a query answered here is read by key, through an ART index on the key (`KEY_INDEX`, built with
the table). The ranges are the sorted table's own rowids, counted from its first: the table is
written once by one statement and never deleted from, so they hold after the commit (rowids
inside the index step's transaction are offset; `refresh` checks that each token's postings
are one range, else no table: the term scans).

A query of one such term (any of its values) beside entity-level terms (search.entities) reads
the vocabulary for the needles' ranges, then those postings and the tail's, instead of the
search table (search.executor): the keys and their count. A needle whose ranges hold more than
MAX_POSTINGS postings (`gov`) is scanned. More than MAX_TAIL of the sorted postings in the tail
remakes them whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmpipe.search.ast import And, FieldMatch, Node, Value
from crmpipe.search.fields import JOIN_SEPARATOR, Field, Kind
from crmpipe.sqltext import quote_ident, quote_qualified

#: The characters that cut a joined list into tokens (JOIN_SEPARATOR among them).
SEPARATORS = "@.+_-" + JOIN_SEPARATOR
#: A needle whose ranges hold more postings than this is answered by the scan: the postings
#: are read by a rowid set DuckDB builds first (a common token such as `gov` has millions).
MAX_POSTINGS = 200_000
#: Remake the sorted postings when the tail holds more rows than this share of them.
MAX_TAIL = 0.1

#: Columns of a posting: token, the search row's key, its entity key.
TOKEN, KEY, ENTITY = "tok", "key_", "ek_"


def key_index(table: str) -> str:
    """The ART index (in schema `search`, unquoted) on the key of search table `table`."""
    return f"{table}_key"


def usable(needle: str) -> bool:
    """Whether the postings answer a substring test of `needle` (lower-case) exactly."""
    return bool(needle) and not any(ch in SEPARATORS for ch in needle)


def _parts(base: str) -> dict[str, str]:
    """The postings' tables named from `base` (`<base>_tokens`, `_vocab`, `_tail`, `_stale`)."""
    return {part: f"{base}_{part}" for part in ("tokens", "vocab", "tail", "stale")}


def names(table: str, name: str) -> dict[str, str]:
    """The tables (schema `search`, unquoted) of list `name` of search table `table`."""
    return _parts(f"search.{table}_{name}")


def _any_needle(count: int) -> str:
    """SQL: whether a token contains any of `count` needles (bound in order)."""
    return " OR ".join(f"contains({TOKEN}, ?)" for _ in range(count))


def _postings(table: str, joined: str, key: str, entity_key: str | None, where: str = "") -> str:
    """SELECT of the postings (tok, key_, ek_) of the rows of `search.<table>` (those `where`
    keeps: a condition on the table's rows, or nothing)."""
    ek = quote_ident(entity_key) if entity_key else "CAST(NULL AS UBIGINT)"
    # every separator made JOIN_SEPARATOR, then one split (a regular expression: a fifth
    # slower; `translate` 2.7× slower than one `replace` per separator)
    unified = quote_ident(joined)
    for ch in SEPARATORS.replace(JOIN_SEPARATOR, ""):
        unified = f"replace({unified}, '{ch}', '{JOIN_SEPARATOR}')"
    # each token once: its first place kept (a third cheaper than `list_distinct`'s hashing
    # of the few tokens of a row)
    parts = f"string_split({unified}, '{JOIN_SEPARATOR}')"
    split = (
        f"list_transform([{parts}], lambda l_: "
        f"list_filter(l_, lambda t_, i_: list_position(l_, t_) = i_))[1]"
    )
    inner = (
        f"SELECT unnest({split}) AS {TOKEN}, {quote_ident(key)} AS {KEY}, {ek} AS {ENTITY} "
        f"FROM search.{quote_ident(table)}{where}"
    )
    return f"SELECT * FROM ({inner}) WHERE {TOKEN} <> ''"


def refresh(
    con: Any, table: str, name: str, joined: str, key: str, entity_key: str | None
) -> str | None:
    """Make the postings of list `name` (its joined column `joined`) of `search.<table>` from
    its rows, sorted by token, with an empty tail and no stale keys, and the key's ART index
    (where missing). Returns the postings table, or None where a token's postings are not one
    range (the tables are dropped)."""
    t = {part: quote_qualified(n) for part, n in names(table, name).items()}
    select = _postings(table, joined, key, entity_key)
    con.execute(f"CREATE OR REPLACE TABLE {t['tokens']} AS {select} ORDER BY {TOKEN}")
    # counted from the first rowid: inside a transaction a new table's rowids are offset
    con.execute(
        f"CREATE OR REPLACE TABLE {t['vocab']} AS SELECT {TOKEN}, min(rowid) - f_ AS lo_, "
        f"max(rowid) - f_ AS hi_, count(*) AS n_ FROM {t['tokens']}, "
        f"(SELECT min(rowid) AS f_ FROM {t['tokens']}) GROUP BY {TOKEN}, f_"
    )
    ((split,),) = con.execute(
        f"SELECT count(*) FROM {t['vocab']} WHERE hi_ - lo_ + 1 <> n_"
    ).fetchall()
    if split:  # (cannot happen with insertion order kept; checked, not assumed)
        drop(con, table, [name])
        return None
    con.execute(f"CREATE OR REPLACE TABLE {t['tail']} AS {select} LIMIT 0")
    con.execute(f"CREATE OR REPLACE TABLE {t['stale']} ({KEY} VARCHAR)")
    index = quote_ident(key_index(table).split(".")[-1])
    con.execute(
        f"CREATE INDEX IF NOT EXISTS {index} ON search.{quote_ident(table)} ({quote_ident(key)})"
    )
    return names(table, name)["tokens"]


def update(
    con: Any,
    table: str,
    name: str,
    joined: str,
    key: str,
    entity_key: str | None,
    keys: str,
    rewritten: str,
) -> str | None:
    """After an in-place update of `search.<table>`: the keys of relation `keys` (`_key`: every
    row deleted or written again) become stale, their tail postings are replaced by those of
    the rows written (relation `rewritten` of their rowids, `r_`, read in the same
    transaction). Remade whole (`refresh`) when the tail outgrows MAX_TAIL of the sorted
    postings. Returns the postings table."""
    t = {part: quote_qualified(n) for part, n in names(table, name).items()}
    con.execute(
        f"INSERT INTO {t['stale']} SELECT DISTINCT _key FROM {keys} "
        f"WHERE _key NOT IN (SELECT {KEY} FROM {t['stale']})"
    )
    con.execute(f"DELETE FROM {t['tail']} WHERE {KEY} IN (SELECT _key FROM {keys})")
    where = f" WHERE rowid IN (SELECT r_ FROM {rewritten})"
    con.execute(f"INSERT INTO {t['tail']} {_postings(table, joined, key, entity_key, where)}")
    ((tail,),) = con.execute(f"SELECT count(*) FROM {t['tail']}").fetchall()
    ((main,),) = con.execute(f"SELECT count(*) FROM {t['tokens']}").fetchall()
    if tail > MAX_TAIL * max(main, 1):
        return refresh(con, table, name, joined, key, entity_key)
    return names(table, name)["tokens"]


def current(con: Any, table: str, name: str) -> bool:
    """Whether every table of list `name`'s postings exists (`update` can keep them)."""
    wanted = [n.split(".", 1)[1] for n in names(table, name).values()]
    marks = ", ".join("?" for _ in wanted)
    ((n,),) = con.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'search' "
        f"AND table_name IN ({marks})",
        wanted,
    ).fetchall()
    return n == len(wanted)


def drop(con: Any, table: str, lists: Sequence[str]) -> None:
    """Drop the postings tables of lists `lists` of search table `table` (if any)."""
    for name in lists:
        for full in names(table, name).values():
            con.execute(f"DROP TABLE IF EXISTS {quote_qualified(full)}")


def ranges_sql(vocab: str, count: int) -> str:
    """SELECT of the (lo_, hi_) ranges of the tokens holding any of `count` needles (bound in
    order) in `vocab` (quoted)."""
    return f"SELECT lo_, hi_ FROM {vocab} WHERE {_any_needle(count)}"


def matches_sql(tables: dict[str, str], count: int, entity: str | None) -> str:
    """A relation of the keys (key_) of the rows holding any of `count` needles: their sorted
    postings read by rowid (the ranges' first and last rowids, two BIGINT lists bound first)
    and the tail's (the needles, bound next), the stale keys skipped; with `entity` (a SELECT
    of entity keys, its parameters bound last), only the rows whose entity key it keeps."""
    t = {part: quote_qualified(n) for part, n in tables.items()}
    ranges = "SELECT unnest(?::BIGINT[]) AS l_, unnest(?::BIGINT[]) AS h_"
    sorted_ = (
        f"SELECT {KEY}, {ENTITY} FROM {t['tokens']} WHERE rowid IN (SELECT "
        f"unnest(range(l_, h_ + 1)) FROM ({ranges})) "
        f"AND {KEY} NOT IN (SELECT {KEY} FROM {t['stale']})"
    )
    tail = f"SELECT {KEY}, {ENTITY} FROM {t['tail']} WHERE {_any_needle(count)}"
    where = f" WHERE {ENTITY} IN ({entity})" if entity else ""
    return f"SELECT DISTINCT {KEY} FROM ({sorted_} UNION ALL {tail}){where}"


@dataclass(frozen=True)
class TokenQuery:
    """A query the postings answer: a term on a tokened list (any of `needles`) and, when
    `entity` is set, entity-level terms (a SELECT of the entity keys they keep, `params`)."""

    tables: dict[str, str]
    needles: tuple[str, ...]
    entity: str | None = None
    params: tuple[Any, ...] = ()


def token_query(
    node: Node,
    fields: Mapping[str, Field],
    entity_terms: Callable[[list[Node]], tuple[str, tuple[Any, ...]] | None],
) -> TokenQuery | None:
    """The TokenQuery of `node` when it is one term on a list with postings (its values all
    `usable`), alone or ANDed with terms `entity_terms` writes as one SELECT of entity keys
    (None when they are not all entity-level); None for any other query."""
    children = list(node.children) if isinstance(node, And) else [node]
    tokened = [
        c
        for c in children
        if isinstance(c, FieldMatch)
        and (f := fields.get(c.field.lower())) is not None
        and f.token_table
        and f.kind is Kind.TEXT_LIST
    ]
    if len(tokened) != 1 or not all(isinstance(v, Value) for v in tokened[0].values):
        return None
    term = tokened[0]
    needles = tuple(dict.fromkeys(v.text.lower() for v in term.values))  # type: ignore[union-attr]
    if not all(usable(n) for n in needles):
        return None
    table = fields[term.field.lower()].token_table
    assert table is not None and table.endswith("_tokens")
    tables = _parts(table[: -len("_tokens")])
    rest = [c for c in children if c is not term]
    if not rest:
        return TokenQuery(tables, needles)
    written = entity_terms(rest)
    if written is None:
        return None
    return TokenQuery(tables, needles, written[0], written[1])


def first_keys(db: Any, query: TokenQuery, limit: int, probe: int) -> tuple[int, list[str]] | None:
    """(how many rows match, up to `probe` + 1; the `limit` smallest keys) of `query`, from
    its postings; None when its needles' ranges hold more than MAX_POSTINGS postings (the
    caller scans)."""
    t = {part: quote_qualified(n) for part, n in query.tables.items()}
    ranges = db.execute(ranges_sql(t["vocab"], len(query.needles)), query.needles).fetchall()
    if sum(hi - lo + 1 for lo, hi in ranges) > MAX_POSTINGS:
        return None
    # the ranges as two lists, expanded in SQL (a list of 14k rowids bound from Python
    # cost more than the rows it reads)
    bounds = [[lo for lo, _ in ranges], [hi for _, hi in ranges]]
    matches = matches_sql(query.tables, len(query.needles), query.entity)
    sql = (
        f"SELECT count(*), min({KEY}, {int(max(limit, 1))}) "
        f"FROM ({matches} LIMIT {int(probe) + 1}) s"
    )
    n, first = db.execute(sql, [*bounds, *query.needles, *query.params]).fetchall()[0]
    return n, first or []
