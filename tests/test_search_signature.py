"""The bigram signature of the joined emails (search.signature) and the prefilter it gives.

- DuckDB's signature of any text is the one Python computes from it, and a needle's mask is a
  subset of the signature of every text containing it (so the prefilter never drops a match).
- A built warehouse has the column filled for every contact (after a full build and after an
  in-place update of changed contacts), and the registry names it for `emails` only.
- Searches with the prefilter answer exactly what they answer without it, on needles that are
  tricky for it: one character, `%`, `_`, quotes, backslashes, non-ASCII, the separator, and
  pieces spanning two of a contact's emails.
- `explain` shows the prefilter; PostgreSQL's search (no such column) is untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpipe.build.core import build_searches
from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.search import DuckDBBackend, compile_query, explain
from crmpipe.search.dialects import PostgresDialect
from crmpipe.search.fields import JOIN_SEPARATOR, Field
from crmpipe.search.signature import duckdb_signature, mask, signature
from crmpipe.warehouse.connection import connect
from support.answers import answer

#: Texts as emails hold them, and worse: separators, quotes, LIKE wildcards, combining marks,
#: letters outside ASCII and the BMP, NUL.
ALPHABET = "ab@._-%'\"\\" + JOIN_SEPARATOR + "éßİ\u0301\U0001f469\x00 "
TEXTS = st.text(alphabet=ALPHABET, max_size=24) | st.text(max_size=12)

#: Emails the fixture gives a few contacts, for the tricky needles to meet.
PLANTED = [
    ["josé.núñez@exämple.org", "o'neil_100%@x.com"],
    ['a"b\\c@quotes.net', "ßtraße@straße.de"],
    ["x@y.z"],
    ["İstanbul@ex.tr", "e\u0301cole@ex.fr", "\U0001f469@emoji.io"],
]
TRICKY = [
    "b", "o", "@", "%", "_", "'", '"', "\\", "é", "ß", "\U0001f469",  # one character: no mask
    "ob", "bo", "bob", "gov", "%@", "_1", "0%", "o'n", "'neil", 'a"b', "b\\c", "\\", "né",
    "núñez", "straße", "strasse", "i̇stanbul", "istanbul", "e\u0301c", "\u0301c", "ex.tr",
    "\U0001f469@", "org" + JOIN_SEPARATOR + "o", "x.comx", "orgo", "%@x.co", "..", "@@",
    "zz", "q", "josé", "jose", "é.n", "xyz@", "x@y.z",
]  # fmt: skip


def _sql_signatures(texts: list[str | None]) -> list[int | None]:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {duckdb_signature('t')} FROM (SELECT unnest(?::VARCHAR[]) AS t, "
        "generate_subscripts(?::VARCHAR[], 1) AS i) ORDER BY i",
        [texts, texts],
    ).fetchall()
    return [r[0] for r in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS, max_size=20))
def test_duckdb_computes_the_signature_python_computes(texts: list[str]) -> None:
    got = _sql_signatures([*texts, None])
    assert got == [signature(t) for t in texts] + [None]


@settings(max_examples=500, deadline=None)
@given(TEXTS, st.data())
def test_a_needle_in_a_text_has_its_mask_in_the_text_signature(text: str, data) -> None:
    start = data.draw(st.integers(0, len(text)))
    needle = text[start : data.draw(st.integers(start, len(text)))]
    bits = mask(needle)
    if len(needle) < 2:
        assert bits is None
    else:
        assert bits is not None and bits & signature(text) == bits


def test_short_texts_have_an_empty_signature_and_short_needles_no_mask() -> None:
    assert _sql_signatures(["", "a", None]) == [0, 0, None]
    assert mask("") is None and mask("b") is None and mask("\U0001f469") is None
    assert mask("bo") == signature("bo") != 0


# -- a built warehouse --------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """A small public-sector case, run, with tricky emails planted in a few contacts and the
    search table updated in place for them (the index step of an incremental run)."""
    folder = tmp_path_factory.mktemp("signature")
    case = pursuit.generate(folder, contacts=1500, seed=3)
    cfg = load_config(case.config_path)
    run(cfg)
    con = connect(cfg.warehouse_path)
    try:
        keys = [
            r[0]
            for r in con.execute(
                "SELECT contact_id FROM core.contacts ORDER BY contact_id LIMIT ?", [len(PLANTED)]
            ).fetchall()
        ]
        for key, emails in zip(keys, PLANTED, strict=True):
            con.execute("UPDATE core.contacts SET emails = ? WHERE contact_id = ?", [emails, key])
        done = build_searches(con, cfg, full=False)
        assert done["contact_search"].changed == len(PLANTED)  # updated in place, not rebuilt
    finally:
        con.close()
    yield cfg, Path(cfg.warehouse_path)


@pytest.fixture(scope="module")
def duck(warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(warehouse[1], read_only=True)
    yield con
    con.close()


def _signatures_hold(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT _emails_joined, _emails_sig FROM search.contact_search").fetchall()
    assert rows and all(s == (None if j is None else signature(j)) for j, s in rows)
    assert sum(s is not None and s != 0 for _, s in rows) > len(rows) / 2


def test_the_signature_is_filled_after_a_run_and_an_in_place_update(duck) -> None:
    _signatures_hold(duck)
    planted = duck.execute(
        "SELECT count(*) FROM search.contact_search WHERE _emails_joined = ?",
        [JOIN_SEPARATOR.join(PLANTED[0])],
    ).fetchone()[0]
    assert planted == 1


def test_the_signature_is_stored_as_documented(duck) -> None:
    # docs/schema.md: a UBIGINT (a HUGEINT, as an earlier build stored it, is twice as wide)
    kind = duck.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'search' "
        "AND table_name = 'contact_search' AND column_name = '_emails_sig'"
    ).fetchall()
    assert kind == [("UBIGINT",)]


def test_a_full_rebuild_fills_it_the_same(warehouse, tmp_path: Path) -> None:
    cfg, path = warehouse
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    con = connect(copy)
    try:
        before = con.execute(
            "SELECT contact_id, _emails_sig FROM search.contact_search ORDER BY 1"
        ).fetchall()
        assert build_searches(con, cfg, full=True)["contact_search"].changed is None
        _signatures_hold(con)
        after = con.execute(
            "SELECT contact_id, _emails_sig FROM search.contact_search ORDER BY 1"
        ).fetchall()
        assert after == before
    finally:
        con.close()


def test_the_registry_names_the_signature_of_emails_only(duck) -> None:
    rows = duck.execute(
        "SELECT name, signature_column FROM meta.search_fields WHERE signature_column IS NOT NULL"
    ).fetchall()
    assert rows == [("emails", "_emails_sig")]
    fields = DuckDBBackend(duck).load_fields({"email": "emails"})
    assert fields["email"].signature_column == "_emails_sig"  # aliases keep it
    assert fields["tech_names"].signature_column is None


def _unsigned(fields: dict[str, Field]) -> dict[str, Field]:
    return {k: dataclasses.replace(f, signature_column=None) for k, f in fields.items()}


@pytest.mark.parametrize("needle", TRICKY)
def test_the_prefilter_changes_noanswer(warehouse, duck, needle: str) -> None:
    cfg = warehouse[0]
    signed = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    plain = _unsigned(signed)
    for query in (
        f'email:"{_quoted(needle)}"',
        f'-email:"{_quoted(needle)}"',
        f'email:"{_quoted(needle)}",gov title:a',
        f'(email:"{_quoted(needle)}" OR crm:a) pop>1000',
    ):
        assert answer(duck, cfg, query, signed) == answer(duck, cfg, query, plain), query


def test_the_tricky_needles_find_the_planted_emails(warehouse, duck) -> None:
    cfg = warehouse[0]
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    for needle in ("o'n", "núñez", "b\\c", "straße", "%@x.co", "e\u0301c", "\U0001f469@"):
        rows, total = answer(duck, cfg, f'email:"{_quoted(needle)}"', fields)
        assert total >= 1, needle
    # a piece spanning two of a contact's emails is not in either
    rows, _ = answer(duck, cfg, 'email:"orgo\'n"', fields)
    assert rows == []


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_substrings_of_real_emails_agree_with_and_without_the_prefilter(
    warehouse, duck, data
) -> None:
    cfg = warehouse[0]
    signed = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    emails = _all_emails(duck)
    email = data.draw(st.sampled_from(emails))
    start = data.draw(st.integers(0, len(email) - 1))
    needle = email[start : data.draw(st.integers(start + 1, len(email)))]
    if not needle.strip() or '"' in needle:
        return
    query = f'email:"{_quoted(needle)}"'
    want = answer(duck, cfg, query, _unsigned(signed))
    assert answer(duck, cfg, query, signed) == want
    assert want[1] >= 1  # the email it came from


_EMAILS: list[str] = []


def _all_emails(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not _EMAILS:
        _EMAILS.extend(
            r[0]
            for r in con.execute(
                "SELECT DISTINCT unnest(emails) FROM search.contact_search ORDER BY 1"
            ).fetchall()
        )
    return _EMAILS


def _quoted(needle: str) -> str:
    """`needle` inside a double-quoted query value (backslash and quote escaped)."""
    return needle.replace("\\", "\\\\").replace('"', '\\"')


def test_the_sql_binds_the_mask_and_skips_one_character_needles(duck) -> None:
    fields = DuckDBBackend(duck).load_fields({"email": "emails"})
    where, params = compile_query("email:bob", fields)
    assert '"_emails_sig" & CAST(? AS UBIGINT)' in where and "bob" not in where
    assert params == [mask("bob"), mask("bob"), "bob"]
    where, params = compile_query("email:b", fields)
    assert "_emails_sig" not in where and params == ["b"]
    # PostgreSQL's dialect ignores it: its trigram index serves the substring
    pg_where, _ = compile_query("email:bob", fields, dialect=PostgresDialect())
    assert "_emails_sig" not in pg_where


def test_explain_shows_the_prefilter(warehouse, duck) -> None:
    cfg = warehouse[0]
    text = explain(
        duck, "filter: bob Accela >10000", aliases=cfg.search.aliases,
        shorthands=cfg.search.shorthands,
    )  # fmt: skip
    assert '("_emails_sig" & CAST(? AS UBIGINT)) = CAST(? AS UBIGINT)' in text
    assert f"{mask('bob')}, {mask('bob')}, 'bob'" in text
    plan = text.split("plan:", 1)[1]
    assert "_emails_sig" in plan
