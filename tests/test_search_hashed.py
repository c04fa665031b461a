"""The hashed tech names of DuckDB's search table (search.hashed) and the terms they serve.

- After a run and after an in-place update that brings new tech texts, the pairs table holds
  exactly the distinct (hash, joined text) pairs of the search table, and the registry names it.
- `tech:` terms through the hashes answer exactly what `contains` on the joined text answers,
  on needles that are tricky for it (quotes, wildcards, non-ASCII, the separator, pieces
  spanning two tech names, negations, alternatives), and find the texts the update brought.
- Should two distinct texts share a hash, the pairs table is dropped and the registry says so:
  the terms fall back to `contains`.
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
from crmpipe.search import DuckDBBackend, compile_query
from crmpipe.search.fields import JOIN_SEPARATOR, Field
from crmpipe.search.hashed import refresh
from crmpipe.warehouse.connection import connect
from support.answers import answer

#: Tech names given to a few entities before the in-place update: texts no entity had.
PLANTED = ["Zeta Pay 100%", "O'Brien_Soft", 'Quote "Q" \\ Co', "Straße Süß", "Ünïcode \U0001f469"]
TRICKY = [
    "a", "%", "_", "'", '"', "\\", "ß", "\U0001f469", "accela", "zeta pay", "100%", "o'brien",
    "_soft", 'quote "q"', "\\ co", "straße", "strasse", "süß", "ünïcode", "pay 100%zeta",
    "soft" + JOIN_SEPARATOR + "q", "nothing-like-this",
]  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """A small public-sector case, run; then new tech names for a few entities and the search
    table updated in place (the index step of an incremental run)."""
    folder = tmp_path_factory.mktemp("hashed")
    case = pursuit.generate(folder, contacts=1500, seed=5)
    cfg = load_config(case.config_path)
    run(cfg)
    con = connect(cfg.warehouse_path)
    try:
        entities = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT entity_id FROM core.contacts WHERE entity_id IS NOT NULL "
                "ORDER BY 1 LIMIT ?",
                [len(PLANTED)],
            ).fetchall()
        ]
        for entity, name in zip(entities, PLANTED, strict=True):
            con.execute(
                "INSERT INTO core.techstacks (entity_id, name, type) VALUES (?, ?, 'planted')",
                [entity, name],
            )
        done = build_searches(con, cfg, full=False)
        assert done["contact_search"].changed  # updated in place, not rebuilt
    finally:
        con.close()
    yield cfg, Path(cfg.warehouse_path)


@pytest.fixture(scope="module")
def duck(warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(warehouse[1], read_only=True)
    yield con
    con.close()


def _pairs_hold(con: duckdb.DuckDBPyConnection) -> None:
    want = con.execute(
        "SELECT DISTINCT hash(_tech_names_joined), _tech_names_joined FROM search.contact_search "
        "WHERE _tech_names_joined IS NOT NULL ORDER BY 2"
    ).fetchall()
    got = con.execute(
        "SELECT hash, text FROM search.contact_search_tech_names ORDER BY 2"
    ).fetchall()
    assert got == want and len(got) > 10
    nulls = con.execute(
        "SELECT count(*) FROM search.contact_search WHERE (_tech_names_hash IS NULL) "
        "<> (_tech_names_joined IS NULL)"
    ).fetchone()[0]
    assert nulls == 0


def test_the_pairs_hold_every_text_after_an_in_place_update(duck) -> None:
    _pairs_hold(duck)
    rows = duck.execute("SELECT text FROM search.contact_search_tech_names").fetchall()
    texts = {r[0] for r in rows}
    for name in PLANTED:
        assert any(name.lower() in t.split(JOIN_SEPARATOR) for t in texts), name


def test_a_full_rebuild_makes_the_same_pairs(warehouse, duck, tmp_path: Path) -> None:
    cfg, path = warehouse
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    con = connect(copy)
    try:
        before = con.execute("SELECT * FROM search.contact_search_tech_names ORDER BY 2").fetchall()
        assert build_searches(con, cfg, full=True)["contact_search"].changed is None
        _pairs_hold(con)
        after = con.execute("SELECT * FROM search.contact_search_tech_names ORDER BY 2").fetchall()
        assert after == before
    finally:
        con.close()


def test_the_registry_names_the_hash_of_tech_names_only(duck) -> None:
    rows = duck.execute(
        "SELECT name, hash_column, hash_table FROM meta.search_fields WHERE hash_column IS NOT NULL"
    ).fetchall()
    assert rows == [("tech_names", "_tech_names_hash", "search.contact_search_tech_names")]
    fields = DuckDBBackend(duck).load_fields({"tech": "tech_names"})
    assert fields["tech"].hash_table == "search.contact_search_tech_names"  # aliases keep it


def _plain(fields: dict[str, Field]) -> dict[str, Field]:
    return {k: dataclasses.replace(f, hash_column=None, hash_table=None) for k, f in fields.items()}


def _quoted(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace('"', '\\"')


@pytest.mark.parametrize("needle", TRICKY)
def test_the_hashes_change_noanswer(warehouse, duck, needle: str) -> None:
    cfg = warehouse[0]
    hashed = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    plain = _plain(hashed)
    value = f'"{_quoted(needle)}"'
    for query in (
        f"tech:{value}",
        f"-tech:{value}",
        f"tech:{value},granicus title:a",
        f"(tech:{value} OR crm:a) pop>1000",
        f"email:bob tech:{value} pop>1000",
    ):
        assert answer(duck, cfg, query, hashed) == answer(duck, cfg, query, plain), query


def test_the_planted_names_are_found(warehouse, duck) -> None:
    cfg = warehouse[0]
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    for needle in ("zeta pay 100%", "o'brien_", 'quote "q" \\', "straße süß", "\U0001f469"):
        _, total = answer(duck, cfg, f'tech:"{_quoted(needle)}"', fields)
        assert total >= 1, needle


def test_the_sql_tests_the_distinct_texts_with_the_needle_bound(duck) -> None:
    fields = DuckDBBackend(duck).load_fields({"tech": "tech_names"})
    where, params = compile_query("tech:Accela", fields)
    assert where == (
        '"_tech_names_hash" IN (SELECT hash FROM "search"."contact_search_tech_names" '
        "WHERE contains(text, ?))"
    )
    assert params == ["accela"]


def test_a_shared_hash_drops_the_pairs_and_falls_back(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "collide.duckdb"))
    con.execute("CREATE SCHEMA search")
    con.execute("CREATE TABLE search.t (_x_joined VARCHAR, _x_hash UBIGINT)")
    con.execute("INSERT INTO search.t VALUES ('a', 1), ('b', 2), (NULL, NULL)")
    assert refresh(con, "t", [("x", "_x_joined")]) == {"x": "search.t_x"}
    assert con.execute("SELECT * FROM search.t_x ORDER BY 2").fetchall() == [(1, "a"), (2, "b")]
    con.execute("INSERT INTO search.t VALUES ('c', 1)")  # 'c' hashed as 'a' is
    assert refresh(con, "t", [("x", "_x_joined")]) == {"x": None}
    tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert tables == [("t",)]
