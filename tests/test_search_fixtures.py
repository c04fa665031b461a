"""The hand-made search table of tests/support/search.py is what the search tests assume: every
row, every field kind, and the document text the build would write."""

from __future__ import annotations

from support.search import ROWS, make_search_db


def test_fixture_table_has_every_row_and_kind():
    con = make_search_db()
    assert con.execute("SELECT count(*) FROM search.contact_search").fetchone()[0] == len(ROWS)
    kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM meta.search_fields").fetchall()}
    assert kinds == {
        "text",
        "text_list",
        "code",
        "code_list",
        "number",
        "timestamp",
        "date",
        "boolean",
        "document",
    }


def test_fixture_document_holds_emails_parts_title_and_tech():
    con = make_search_db()
    (doc,) = con.execute(
        "SELECT document FROM search.contact_search WHERE contact_id = 'c01'"
    ).fetchone()
    assert doc == (
        "bob.smith@springfield.gov bob smith springfield gov finance director accela civicplus"
    )
