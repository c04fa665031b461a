"""The e-mails' token postings (search.pgtokens) kept by an in-place publish.

A contact's postings are its e-mails' tokens with its `entity_id`, so they change only where
its `_emails_joined` or its `entity_id` does. Inside the in-place transaction, before
contact_search is updated, `Postings.changed` reads from the serving table the old postings of
the rows about to change (those whose e-mails or entity differ, and the rows about to be
deleted) and makes the new ones from the new rows: both cut in PostgreSQL the way DuckDB cuts
them for the full publish (search.tokens: every separator one, split, empty tokens dropped,
each token once per contact). `apply` then deletes the old postings by their whole key (the
postings' B-tree is on (tok, entity_id, contact_id): a contact's common tokens, `gov`, are
found without reading their millions of postings), inserts the new and moves the vocabulary's
counts by the difference.
"""

from __future__ import annotations

import psycopg

from crmpipe.search import pgtokens
from crmpipe.search.tokens import SEPARATORS
from crmpipe.sqltext import sql_str

#: Temporary tables of the postings going and coming.
OLD, NEW = "_pub_tok_old", "_pub_tok_new"


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
        """Delete the old postings, insert the new, move the vocabulary; (deleted, inserted)."""
        postings = f"{self.schema}.{pgtokens.POSTINGS}"
        self.conn.execute(f"ANALYZE {OLD}")
        self.conn.execute(f"ANALYZE {NEW}")
        deleted = 0
        # each by its whole key (an entity-less contact's by `IS NULL`, which the B-tree reads)
        for same in ("p.entity_id = o.entity_id", "p.entity_id IS NULL AND o.entity_id IS NULL"):
            deleted += self.conn.execute(
                f"DELETE FROM {postings} p USING {OLD} o WHERE p.tok = o.tok AND {same} "
                "AND p.contact_id = o.contact_id"
            ).rowcount
        inserted = self.conn.execute(f"INSERT INTO {postings} SELECT * FROM {NEW}").rowcount
        for sql in pgtokens.vocabulary_update(self.schema, OLD, NEW):
            self.conn.execute(sql)
        return deleted, inserted
