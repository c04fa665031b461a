"""The postings of the e-mails' tokens (search.tokens) and the searches they answer.

- After a run and an in-place update that changes, adds and removes addresses, moves contacts
  to other entities and deletes contacts, the postings (sorted ones not stale, plus the tail)
  are exactly those of a full rebuild; a full rebuild empties the tail and the stale keys.
- A query of one `email:` term (values without a separator) alone or beside entity-level terms
  is answered from the postings (the registry names them), with exactly the answer of the scan:
  pages, capped and exact counts, negations and needles holding a separator (scanned).
- The page of a query answered from the postings is read by key (an ART index on the key).
- A tail larger than MAX_TAIL of the sorted postings remakes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from crmpipe.build.core import build_searches
from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.search import DuckDBBackend, search
from crmpipe.search import tokens as tk
from crmpipe.search.compiler import compile_search
from crmpipe.search.fields import Field
from crmpipe.warehouse.connection import connect
from support.answers import answer, read_only, update_in_place

TABLES = tk.names("contact_search", "emails")
#: Queries the postings answer (one e-mail term, entity terms beside it) and a few they don't.
QUERIES = [
    "email:bob",
    "email:o",
    "email:gov",
    "email:BOB,smith",
    "filter: bob Accela >10000",
    "email:jo tech:accela pop>1000",
    "email:an state:CA",
    "email:an -state:CA",
    "email:e (state:CA OR state:TX) -crm:a",
    "email:zzzq",
    "email:newaddr",
    "email:changed tech:planted",
    "email:bob.",
    "email:@",
    "email:.gov",
    "email:-",
    "email:a_b",
    "-email:bob",
    "email:bob email:smith",
    "email:bob title:a",
    "email:bob fin",
    "email:bob OR state:CA",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """A small public-sector case, run; then contacts changed and the index step run in
    place."""
    folder = tmp_path_factory.mktemp("tokens")
    case = pursuit.generate(folder, contacts=1500, seed=11)
    cfg = load_config(case.config_path)
    run(cfg)
    update_in_place(cfg, _change)
    yield cfg, Path(cfg.warehouse_path)


def _change(con: duckdb.DuckDBPyConnection) -> None:
    """New addresses on four contacts, none on one, three moved to an entity whose tech names
    change, four deleted."""
    keys = [
        r[0]
        for r in con.execute(
            "SELECT contact_id FROM core.contacts ORDER BY hash(contact_id) LIMIT 12"
        ).fetchall()
    ]
    entity = con.execute(
        "SELECT entity_id FROM core.entities WHERE entity_id IN (SELECT entity_id FROM "
        "core.techstacks) ORDER BY 1 LIMIT 1"
    ).fetchone()[0]
    con.execute(
        "UPDATE core.contacts SET emails = ['newaddr.changed@x-y.gov', 'bob_smith@z.org'] "
        "WHERE contact_id IN (SELECT unnest(?))",
        [keys[:4]],
    )
    con.execute("UPDATE core.contacts SET emails = NULL WHERE contact_id = ?", [keys[4]])
    con.execute(
        "UPDATE core.contacts SET entity_id = ? WHERE contact_id IN (SELECT unnest(?))",
        [entity, keys[5:8]],
    )
    con.execute(
        "INSERT INTO core.techstacks (entity_id, name, type) VALUES (?, 'Planted', 'x')",
        [entity],
    )
    con.execute("DELETE FROM core.contacts WHERE contact_id IN (SELECT unnest(?))", [keys[8:]])


@pytest.fixture(scope="module")
def duck(warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from read_only(warehouse[1])


def _postings(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The live postings (tok, key, entity key). (Their rowids may be stale: a checkpoint
    compacts a row group with deleted rows; the page then reads by key.)"""
    t = TABLES
    return con.execute(
        f"SELECT tok, key_, ek_ FROM (SELECT * FROM {t['tokens']} WHERE "
        f"key_ NOT IN (SELECT key_ FROM {t['stale']}) UNION ALL SELECT * FROM {t['tail']}) "
        "ORDER BY ALL"
    ).fetchall()


def _expected(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT DISTINCT t.tok, contact_id, _entity_key FROM search.contact_search, "
        "unnest(string_split_regex(_emails_joined, '[@.+_\\-\\x1f]+')) t(tok) "
        "WHERE t.tok <> '' ORDER BY ALL"
    ).fetchall()


def test_the_postings_after_an_in_place_update_are_a_full_builds(warehouse, duck) -> None:
    got = _postings(duck)
    assert got == _expected(duck)
    assert any(tok == "newaddr" for tok, *_ in got) and len(got) > 3000
    ((tail,),) = duck.execute(f"SELECT count(*) FROM {TABLES['tail']}").fetchall()
    ((stale,),) = duck.execute(f"SELECT count(*) FROM {TABLES['stale']}").fetchall()
    assert tail > 0 and stale >= 12


def test_a_full_rebuild_empties_the_tail(warehouse, tmp_path: Path) -> None:
    cfg, path = warehouse
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    con = connect(copy)
    try:
        build_searches(con, cfg, full=True)
        assert _postings(con) == _expected(con)
        for part in ("tail", "stale"):
            assert con.execute(f"SELECT count(*) FROM {TABLES[part]}").fetchone() == (0,)
        ((spread,),) = con.execute(
            f"SELECT count(*) FROM {TABLES['vocab']} WHERE hi_ - lo_ + 1 <> n_"
        ).fetchall()
        assert spread == 0
    finally:
        con.close()


def test_the_registry_names_the_postings_on_emails_only(duck) -> None:
    rows = duck.execute(
        "SELECT name, token_table FROM meta.search_fields WHERE token_table IS NOT NULL"
    ).fetchall()
    assert rows == [("emails", TABLES["tokens"])]


def _plain(fields: dict[str, Field]) -> dict[str, Field]:
    return {k: dataclasses.replace(f, token_table=None) for k, f in fields.items()}


def test_which_queries_the_postings_answer(warehouse, duck) -> None:
    fields = DuckDBBackend(duck).load_fields(warehouse[0].search.aliases)
    shorthands = warehouse[0].search.shorthands
    answered = {
        q: compile_search(q, fields, shorthands=shorthands).tokens is not None for q in QUERIES
    }
    assert [q for q, yes in answered.items() if yes] == QUERIES[:12]
    plain = compile_search("filter: bob Accela >10000", fields, shorthands=shorthands)
    assert (
        compile_search(
            "filter: bob Accela >10000", fields, shorthands=shorthands, dialect="postgres"
        ).tokens
        is None
    )
    assert plain.tokens is not None and plain.tokens.needles == ("bob",)
    assert plain.tokens.entity is not None and "contact_search_entities" in plain.tokens.entity


@pytest.mark.parametrize("query", QUERIES)
def test_the_postings_change_no_answer(warehouse, duck, query: str) -> None:
    cfg = warehouse[0]
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    assert answer(duck, cfg, query, fields) == answer(duck, cfg, query, _plain(fields)), query
    for cap, limit in ((5, 3), (10_000, 50), (None, 7)):
        kwargs = dict(shorthands=cfg.search.shorthands, limit=limit, count_cap=cap)
        got = search(duck, query, fields=fields, **kwargs)
        want = search(duck, query, fields=_plain(fields), **kwargs)
        assert (got.rows, got.total, got.capped) == (want.rows, want.total, want.capped), query


def test_the_token_queries_are_telling(warehouse, duck) -> None:
    cfg = warehouse[0]
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    (total,) = duck.execute("SELECT count(*) FROM search.contact_search").fetchone()
    totals = [answer(duck, cfg, q, fields)[1] for q in QUERIES[:12]]
    assert sum(0 < t < total for t in totals) >= 9, totals


def test_a_page_from_the_postings_is_read_by_key(warehouse, duck) -> None:
    fields = DuckDBBackend(duck).load_fields(warehouse[0].search.aliases)
    got = search(duck, "email:o", fields=fields, limit=20)
    assert "rowid" not in got.sql and "IN (SELECT unnest(" in got.sql
    assert len(got.rows) == 20 and not got.capped
    ((index,),) = duck.execute(
        "SELECT count(*) FROM duckdb_indexes() WHERE schema_name = 'search' "
        "AND table_name = 'contact_search' AND index_name = 'contact_search_key'"
    ).fetchall()
    assert index == 1


def test_a_long_tail_remakes_the_postings(warehouse, tmp_path: Path, monkeypatch) -> None:
    cfg, path = warehouse
    copy = tmp_path / "tail.duckdb"
    copy.write_bytes(path.read_bytes())
    con = connect(copy)
    try:
        con.execute(
            "UPDATE core.contacts SET title = coalesce(title, '') || ' x' WHERE contact_id IN "
            "(SELECT contact_id FROM core.contacts ORDER BY 1 LIMIT 5)"
        )
        monkeypatch.setattr(tk, "MAX_TAIL", 0.0)
        assert build_searches(con, cfg, full=False)["contact_search"].changed
        assert con.execute(f"SELECT count(*) FROM {TABLES['tail']}").fetchone() == (0,)
        assert _postings(con) == _expected(con)
    finally:
        con.close()
