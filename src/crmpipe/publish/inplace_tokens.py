"""The e-mails' token postings (search.pgtokens) kept by an in-place publish.

A contact's postings are its e-mails' tokens with its `entity_id`, so they change only where
its `_emails_joined` or its `entity_id` does. Inside the in-place transaction, before
contact_search is updated, `Postings.changed` reads from the serving table the old postings of
the rows about to change (those whose e-mails or entity differ, and the rows about to be
deleted) and makes the new ones from the new rows: both cut in PostgreSQL the way DuckDB cuts
them for the full publish (search.tokens: every separator one, split, empty tokens dropped,
each token once per contact). `apply` then keeps the difference beside the published postings,
which it never writes (search.pgtokens: `_gone` and `_new`), and moves the vocabulary's counts.
"""

from __future__ import annotations

import psycopg

from crmpipe.search import pgtokens
from crmpipe.search.tokens import SEPARATORS
from crmpipe.sqltext import sql_str

#: Temporary tables: the changed contacts' postings before and after, those going and coming.
OLD, NEW, OUT, IN = "_pub_tok_old", "_pub_tok_new", "_pub_tok_out", "_pub_tok_in"


def _tokens(alias: str) -> str:
    """SQL FROM item: the tokens (`tok`) of `alias`'s `_emails_joined`."""
    others = SEPARATORS.replace(chr(31), "")
    spaced = (
        f"translate({alias}.{pgtokens.JOINED}, {sql_str(others)}, repeat(chr(31), {len(others)}))"
    )
    return f"unnest(string_to_array({spaced}, chr(31))) AS k_(tok)"


class Postings:
    """The postings' side of one in-place publish on `conn` (in its transaction), against the
    serving schema `schema` (quoted) and its search table `search` (qualified)."""

    def __init__(self, conn: psycopg.Connection, schema: str, search: str) -> None:
        self.conn, self.schema, self.search = conn, schema, search
        for name in (OLD, NEW):
            conn.execute(
                f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT tok, entity_id, contact_id "
                f"FROM {schema}.{pgtokens.POSTINGS} WITH NO DATA"
            )

    def changed(self, rows: str) -> None:
        """Before temp table `rows` (new contact_search rows) is upserted: the old postings
        of the rows it changes and the new postings of those and of the rows it adds."""
        match = 't.contact_id COLLATE "C" = r.contact_id COLLATE "C"'
        differs = (
            f"(t.{pgtokens.JOINED} IS DISTINCT FROM r.{pgtokens.JOINED} "
            "OR t.entity_id IS DISTINCT FROM r.entity_id)"
        )
        self.conn.execute(
            f"INSERT INTO {OLD} SELECT DISTINCT k_.tok, t.entity_id, t.contact_id FROM {rows} r "
            f"JOIN {self.search} t ON {match}, {_tokens('t')} WHERE {differs} AND k_.tok <> ''"
        )
        self.conn.execute(
            f"INSERT INTO {NEW} SELECT DISTINCT k_.tok, r.entity_id, r.contact_id FROM {rows} r "
            f"LEFT JOIN {self.search} t ON {match}, {_tokens('r')} "
            f"WHERE (t.contact_id IS NULL OR {differs}) AND k_.tok <> ''"
        )

    def gone(self, keys: str) -> None:
        """Before the rows of temp table `keys` (contact_id) are deleted: their postings."""
        self.conn.execute(
            f"INSERT INTO {OLD} SELECT DISTINCT k_.tok, t.entity_id, t.contact_id FROM {keys} g "
            f'JOIN {self.search} t ON t.contact_id COLLATE "C" = g.contact_id COLLATE "C", '
            f"{_tokens('t')} WHERE k_.tok <> ''"
        )

    def count(self, table: str) -> int:
        (n,) = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(n)

    def apply(self) -> tuple[int, int]:
        """Note the postings going and coming beside the published ones (those are never
        written in place: a drop's ~200k postings inserted into the 17M-row B-tree took
        seconds): a posting going is taken out of the added ones or, published, noted gone; a
        posting coming is taken out of the gone ones or added. The vocabulary's counts move
        by the difference. Returns (postings going, postings coming)."""
        c, s = self.conn, self.schema
        gone, added = f"{s}.{pgtokens.GONE}", f"{s}.{pgtokens.ADDED}"
        for name, first, second in ((OUT, OLD, NEW), (IN, NEW, OLD)):  # the real difference
            c.execute(
                f"CREATE TEMP TABLE {name} ON COMMIT DROP AS "
                f"SELECT * FROM {first} EXCEPT SELECT * FROM {second}"
            )
            c.execute(f"ANALYZE {name}")
        same = "x_.tok = o.tok AND x_.contact_id = o.contact_id"
        full = f"{same} AND x_.entity_id IS NOT DISTINCT FROM o.entity_id"
        moved = c.execute(
            f"INSERT INTO {gone} SELECT * FROM {OUT} o WHERE NOT EXISTS "
            f"(SELECT FROM {added} x_ WHERE {same})"
        ).rowcount
        moved += c.execute(f"DELETE FROM {added} x_ USING {OUT} o WHERE {same}").rowcount
        coming = c.execute(
            f"INSERT INTO {added} SELECT * FROM {IN} o WHERE NOT EXISTS "
            f"(SELECT FROM {gone} x_ WHERE {full})"
        ).rowcount
        coming += c.execute(f"DELETE FROM {gone} x_ USING {IN} o WHERE {full}").rowcount
        for sql in pgtokens.vocabulary_update(s, OUT, IN):
            c.execute(sql)
        return moved, coming
