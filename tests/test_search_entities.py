"""The entity table of DuckDB's search table (search.entities) and the terms tested on it.

- After a run and after an in-place update that changes entities (a population, new tech
  names), moves a contact to another entity, leaves one without an entity and points one at an
  entity id no entity has, the entity table holds exactly one row per entity key with the values
  the search table's rows have; a full rebuild makes the same table; the registry names it on
  the entity-level fields only.
- Two or more entity-level terms of one AND beside a term on the contact's columns are written
  as one probe of the entity key, their values bound; one alone, or entity terms alone, are
  written as before.
- Queries through the entity table answer exactly what the same terms on the contact rows
  answer: negations, alternatives, ranges, lists, contacts without an entity.
- Should two entity ids share a key, the table is dropped: the terms are written one by one.
- In place, only the entity keys of the rewritten rows are made again, to the same table.
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
from crmpipe.search.entities import refresh, update
from crmpipe.search.fields import Field
from crmpipe.warehouse.connection import connect
from support.answers import answer

ENTITY_TABLE = "search.contact_search_entities"
#: Entity-level terms two or more at a time (and a few mixed with contact terms).
QUERIES = [
    "tech:accela pop>10000 title:a",
    "filter: bob Accela >10000",
    "state:CA pop>1000 email:gov",
    "state:CA,TX -pop<5000 -title:clerk",
    "-state:CA -tech:accela email:o",
    "-(state:CA tech:accela email:gov)",
    "-(state:CA tech:accela) title:a",
    "-state:CA -pop>1000 title:a",
    "(tech:accela OR crm:a) pop>1000",
    "(state:CA OR state:TX) display_name:county",
    "lat:30..40 long:-100..-80 fin",
    "crm:a,b tech_types:cms domain:gov",
    "entity_type:county -crm:a email:gov",
    "tech:planted pop>0 email:.",
    "tech:planted -pop>0 -email:zzz",
    "city:spring OR state:NY pop>100 title:a",
    "(fin OR accela) pop>5000 state:TX",
    "NOT (tech:accela -state:CA title:a)",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """A small public-sector case, run; then entities and contacts changed and the search table
    updated in place (the index step of an incremental run)."""
    folder = tmp_path_factory.mktemp("entities")
    case = pursuit.generate(folder, contacts=1500, seed=7)
    cfg = load_config(case.config_path)
    run(cfg)
    con = connect(cfg.warehouse_path)
    try:
        first, second = (
            r[0]
            for r in con.execute(
                "SELECT DISTINCT entity_id FROM core.contacts WHERE entity_id IS NOT NULL "
                "ORDER BY 1 LIMIT 2"
            ).fetchall()
        )
        con.execute("UPDATE core.entities SET pop_estimate_2022 = 7 WHERE entity_id = ?", [first])
        con.execute(
            "INSERT INTO core.techstacks (entity_id, name, type) VALUES (?, 'Planted', 'x')",
            [second],
        )
        keys = [
            r[0]
            for r in con.execute(
                "SELECT contact_id FROM core.contacts WHERE entity_id <> ? ORDER BY 1 LIMIT 3",
                [first],
            ).fetchall()
        ]
        con.execute("UPDATE core.contacts SET entity_id = ? WHERE contact_id = ?", [first, keys[0]])
        con.execute("UPDATE core.contacts SET entity_id = NULL WHERE contact_id = ?", [keys[1]])
        con.execute(
            "UPDATE core.contacts SET entity_id = 'no-such-entity' WHERE contact_id = ?",
            [keys[2]],
        )
        # the one contact of an entity moves to another: that entity's key has no rows left
        ((alone,),) = con.execute(
            "SELECT min(contact_id) FROM core.contacts WHERE entity_id IN (SELECT entity_id "
            "FROM core.contacts GROUP BY 1 HAVING count(*) = 1) AND entity_id <> ? "
            "AND entity_id <> 'no-such-entity' AND contact_id NOT IN (SELECT unnest(?))",
            [first, keys],
        ).fetchall()
        assert alone is not None
        con.execute("UPDATE core.contacts SET entity_id = ? WHERE contact_id = ?", [first, alone])
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


def _entity_table_holds(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    columns = [d[0] for d in con.execute(f"SELECT * FROM {ENTITY_TABLE} LIMIT 0").description]
    assert columns[0] == "_entity_key" and "pop_estimate_2022" in columns
    assert "contact_id" not in columns and "document" not in columns
    assert "_entity_rows" in columns  # each key's count of search rows
    counts = con.execute(
        "SELECT _entity_key, count(*) FROM search.contact_search GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert (
        con.execute(f"SELECT _entity_key, _entity_rows FROM {ENTITY_TABLE} ORDER BY 1").fetchall()
        == counts
    )
    picked = ", ".join(f'"{c}"' for c in columns if c != "_entity_rows")
    want = con.execute(
        f"SELECT DISTINCT {picked} FROM search.contact_search ORDER BY ALL"
    ).fetchall()
    got = con.execute(f"SELECT {picked} FROM {ENTITY_TABLE} ORDER BY ALL").fetchall()
    assert got == want  # one row per key, the rows' own values
    assert len({r[0] for r in got}) == len(got) > 10
    ((keys,),) = con.execute(
        "SELECT count(*) FROM search.contact_search WHERE _entity_key IS DISTINCT FROM "
        "hash(entity_id)"
    ).fetchall()
    assert keys == 0
    return got


def test_the_entity_table_holds_every_entity_after_an_in_place_update(duck) -> None:
    rows = _entity_table_holds(duck)
    null_key = duck.execute("SELECT hash(NULL::VARCHAR)").fetchone()[0]
    assert null_key in {r[0] for r in rows}  # the contact left without an entity
    ((moved,),) = duck.execute(
        "SELECT count(*) FROM search.contact_search WHERE entity_id = 'no-such-entity' "
        "AND _entity_key IN (SELECT _entity_key FROM search.contact_search_entities)"
    ).fetchall()
    assert moved == 1
    ((planted,),) = duck.execute(
        f"SELECT count(*) FROM {ENTITY_TABLE} WHERE list_contains(tech_names, 'planted')"
    ).fetchall()
    assert planted == 1


def test_a_full_rebuild_makes_the_same_entity_table(warehouse, duck, tmp_path: Path) -> None:
    cfg, path = warehouse
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    con = connect(copy)
    try:
        before = _entity_table_holds(con)
        assert build_searches(con, cfg, full=True)["contact_search"].changed is None
        assert _entity_table_holds(con) == before
    finally:
        con.close()


def test_the_registry_names_the_entity_table_on_entity_fields_only(duck) -> None:
    rows = duck.execute(
        "SELECT name, entity_table FROM meta.search_fields WHERE table_name = 'contact_search'"
    ).fetchall()
    named = {name for name, table in rows if table == ENTITY_TABLE}
    assert {"pop_estimate_2022", "state", "tech_names", "crm", "display_name"} <= named
    assert not named & {"contact_id", "entity_id", "emails", "title", "created_at", "document"}
    assert {table for _, table in rows} == {ENTITY_TABLE, None}
    fields = DuckDBBackend(duck).load_fields({"pop": "pop_estimate_2022"})
    assert fields["pop"].entity_table == ENTITY_TABLE  # aliases keep it


def test_entity_terms_are_one_probe_with_their_values_bound(duck) -> None:
    fields = DuckDBBackend(duck).load_fields({"tech": "tech_names", "pop": "pop_estimate_2022"})
    where, params = compile_query("tech:Accela pop>10000 title:clerk", fields)
    assert where == (
        '("_entity_key" IN (SELECT "_entity_key" FROM "search"."contact_search_entities" '
        'WHERE ("pop_estimate_2022" > ? AND "_tech_names_hash" IN (SELECT hash FROM '
        '"search"."contact_search_tech_names" WHERE contains(text, ?)))) AND '
        'contains(lower("title"), ?))'
    )
    assert params == [10000, "accela", "clerk"]
    where, params = compile_query("state:CA title:clerk", fields)  # one alone: as before
    assert "_entity_key" not in where and params == ["ca", "clerk"]
    # entity terms alone (no contact term whose scan they'd shorten): one by one, as before
    where, params = compile_query("tech:Accela pop>10000", fields)
    assert "_entity_key" not in where and params == [10000, "accela"]
    where, _ = compile_query("(tech:Accela pop>10000) title:clerk", fields)  # nested: grouped
    assert where.count('"_entity_key" IN') == 1


def _plain(fields: dict[str, Field]) -> dict[str, Field]:
    return {k: dataclasses.replace(f, entity_table=None) for k, f in fields.items()}


@pytest.mark.parametrize("query", QUERIES)
def test_the_entity_table_changes_noanswer(warehouse, duck, query: str) -> None:
    cfg = warehouse[0]
    grouped = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    plain = _plain(grouped)
    got = answer(duck, cfg, query, grouped)
    assert got == answer(duck, cfg, query, plain), query


def test_the_entity_queries_are_telling(warehouse, duck) -> None:
    """Most of QUERIES match some rows and not all (an agreement on empty answers says little)."""
    cfg = warehouse[0]
    fields = DuckDBBackend(duck).load_fields(cfg.search.aliases)
    (total,) = duck.execute("SELECT count(*) FROM search.contact_search").fetchone()
    totals = [answer(duck, cfg, q, fields)[1] for q in QUERIES]
    assert sum(0 < t < total for t in totals) >= len(QUERIES) * 0.7, totals


def _toy(path: Path, more: str) -> duckdb.DuckDBPyConnection:
    """A search table `search.t` of entity ids, keys and one entity value: two rows of 'a'
    (key 1), one of 'b' (key 2), and the rows `more`."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA search")
    con.execute("CREATE TABLE search.t (entity_id VARCHAR, _entity_key UBIGINT, pop BIGINT)")
    con.execute(f"INSERT INTO search.t VALUES ('a', 1, 10), ('a', 1, 10), ('b', 2, 20), {more}")
    return con


def test_a_shared_key_drops_the_entity_table(tmp_path: Path) -> None:
    con = _toy(tmp_path / "collide.duckdb", "(NULL, 3, NULL)")
    assert refresh(con, "t", "entity_id", ["pop"]) == "search.t_entities"
    got = con.execute("SELECT * FROM search.t_entities ORDER BY 1").fetchall()
    assert got == [(1, "a", 2, 10), (2, "b", 1, 20), (3, None, 1, None)]
    con.execute("INSERT INTO search.t VALUES ('c', 2, 30)")  # 'c' keyed as 'b' is
    assert refresh(con, "t", "entity_id", ["pop"]) is None
    con.execute("DELETE FROM search.t WHERE entity_id = 'c'")
    assert refresh(con, "t", "entity_id", ["pop"]) == "search.t_entities"
    con.execute("INSERT INTO search.t VALUES ('d', 3, 40)")  # an id keyed as NULL is
    assert refresh(con, "t", "entity_id", ["pop"]) is None
    tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert tables == [("t",)]


def test_the_entity_table_follows_the_rewritten_rows(tmp_path: Path) -> None:
    """In place, only the keys of the rewritten rows are made again: a key whose rows are gone
    loses its row, a new or changed one gets the rows' values, the others stay; a key that
    may have come to be shared makes the table whole (dropped where it is)."""
    con = _toy(tmp_path / "touched.duckdb", "('e', 5, 50), ('g', 6, 60), ('g', 6, 60)")
    assert refresh(con, "t", "entity_id", ["pop"]) == "search.t_entities"

    def rewrite(where: str, rows: str) -> str | None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE gone AS SELECT _entity_key, count(*) AS n_ "
            f"FROM search.t WHERE {where} GROUP BY 1"
        )
        con.execute(f"DELETE FROM search.t WHERE {where}")
        con.execute("CREATE OR REPLACE TEMP TABLE mark AS SELECT max(rowid) AS m FROM search.t")
        con.execute(f"INSERT INTO search.t VALUES {rows}")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE new AS SELECT rowid AS r_ FROM search.t "
            "WHERE rowid > (SELECT m FROM mark)"
        )
        return update(con, "t", "entity_id", ["pop"], "gone", "new")

    # 'a' changes (every row rewritten), 'b' loses its row, 'd' comes, one 'g' row leaves
    made = rewrite(
        "entity_id IN ('a', 'b') OR rowid = 5", "('a', 1, 11), ('a', 1, 11), ('d', 4, 40)"
    )
    assert made == "search.t_entities"
    got = con.execute("SELECT * FROM search.t_entities ORDER BY 1").fetchall()
    assert got == [(1, "a", 2, 11), (4, "d", 1, 40), (5, "e", 1, 50), (6, "g", 1, 60)]
    assert refresh(con, "t", "entity_id", ["pop"]) == "search.t_entities"
    assert con.execute("SELECT * FROM search.t_entities ORDER BY 1").fetchall() == got
    # 'f' keyed as 'e', whose row stays: shared, the table goes
    assert rewrite("false", "('f', 5, 70)") is None
    tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert ("t_entities",) not in tables
    # 'h' keyed as 'g', whose rows all go: not shared, but made whole to be sure
    con.execute("DELETE FROM search.t WHERE entity_id = 'f'")
    assert refresh(con, "t", "entity_id", ["pop"]) == "search.t_entities"
    assert rewrite("entity_id = 'g'", "('h', 6, 80)") == "search.t_entities"
    got = con.execute("SELECT * FROM search.t_entities ORDER BY 1").fetchall()
    assert got == [(1, "a", 2, 11), (4, "d", 1, 40), (5, "e", 1, 50), (6, "h", 1, 80)]
