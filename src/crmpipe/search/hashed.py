"""Hashed texts: an entity's joined list searched once per distinct text, not once per row.

An entity's list (its tech names) repeats on each of its contacts: 4.5M rows of
`_tech_names_joined` hold 36k distinct texts. `contains` over the column costs a full string
scan (DuckDB's DICT_FSST storage decodes each vector: 40 ms at 4.5M contacts), where the same
test over the distinct texts costs well under a millisecond. So DuckDB's search table stores,
beside such a joined text, its 64-bit `hash()` (`_<name>_hash`, UBIGINT, NULL where the text
is), and a small table `search.<table>_<name>` holds each distinct (hash, text) pair. A
substring term on the list is then written

    _tech_names_hash IN (SELECT hash FROM search.contact_search_tech_names WHERE contains(text, ?))

which DuckDB answers by testing the distinct texts and probing the rows' hashes (a hash join
whose Bloom filter it pushes into the scan): the same rows as `contains` on the joined text,
as long as no two distinct texts share a hash. `refresh` checks that after each build and, in
the (2^-64-per-pair) event they do, drops the pairs table so the term falls back to `contains`
(`meta.search_fields.hash_table` is then NULL). NULL texts have no pair: `NULL IN (...)` is
NULL, as `contains(NULL, ?)` is, so negations keep the same rows too.

The pairs table is made from the search table itself, after the full build and after each
in-place update (search.refresh): a DISTINCT over one dictionary-compressed column (0.1–0.4 s
at 4.5M contacts), always consistent with the rows, whichever DuckDB version hashed them; or,
where the lists are entity-level and the entity table holds them (search.entities, made from
the same rows), from its 145k rows.
"""

from __future__ import annotations

from typing import Any

from crmpipe.sqltext import quote_ident, quote_qualified


def hash_column(name: str) -> str:
    """The column of the hash of list `name`'s joined text."""
    return f"_{name}_hash"


def pairs_table(table: str, name: str) -> str:
    """The table (schema `search`, unquoted) of the distinct (hash, text) pairs of list
    `name` of search table `table`."""
    return f"search.{table}_{name}"


def duckdb_hash(joined: str) -> str:
    """DuckDB SQL of the hash of the joined text expression `joined` (NULL where it is)."""
    return f"CASE WHEN {joined} IS NULL THEN NULL ELSE hash({joined}) END"


def refresh(
    con: Any, table: str, hashed: list[tuple[str, str]], source: str | None = None
) -> dict[str, str | None]:
    """Make the pairs table of each hashed list of `search.<table>` from its rows; `hashed`
    holds (list name, its joined column). `source`: a table (schema.name) holding the same
    (hash, joined text) values as the rows, read instead (the entity table, search.entities:
    an entity's list is the same on each of its rows). Returns {list name: its pairs table, or
    None where two distinct texts share a hash (the table is then dropped: searches use
    `contains`)}."""
    done: dict[str, str | None] = {}
    rows = quote_qualified(source) if source else f"search.{quote_ident(table)}"
    for name, joined in hashed:
        pairs = pairs_table(table, name)
        target = quote_qualified(pairs)
        con.execute(
            f"CREATE OR REPLACE TABLE {target} AS SELECT DISTINCT "
            f"{quote_ident(hash_column(name))} AS hash, {quote_ident(joined)} AS text "
            f"FROM {rows} WHERE {quote_ident(joined)} IS NOT NULL"
        )
        ((pairs_n, hashes_n),) = con.execute(
            f"SELECT count(*), count(DISTINCT hash) FROM {target}"
        ).fetchall()
        if pairs_n != hashes_n:  # a collision: the hash would not tell those texts apart
            con.execute(f"DROP TABLE {target}")
            done[name] = None
        else:
            done[name] = pairs
    return done


def drop(con: Any, table: str, names: list[str]) -> None:
    """Drop the pairs tables of lists `names` of search table `table` (if any)."""
    for name in names:
        con.execute(f"DROP TABLE IF EXISTS {quote_qualified(pairs_table(table, name))}")
