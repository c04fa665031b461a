"""The search table's one declaration: its column order, and what each dialect's rendering binds."""

from __future__ import annotations

from crmpipe.config.load import parse_config
from crmpipe.search.selects import duckdb_select, postgres_elements, postgres_select
from crmpipe.search.table import (
    EntityList,
    field_rows,
    safe_name,
    search_columns,
)

CONFIG = """
warehouse: wh.duckdb
sources:
  places:
    path: places.csv
    table: entities
    columns: {entity_id: place_id}
    extra: {title: text, active: boolean}
  people:
    path: contacts.csv
    table: contacts
    columns: {contact_id: id}
"""


def test_columns_in_order_with_entity_prefix_system_ids_and_document_last() -> None:
    cfg = parse_config(CONFIG)
    columns = search_columns(cfg, ["hubspot", "Sales Force!"])
    names = [c.name for c in columns]
    contacts = [c.name for c in cfg.tables()["contacts"].all_columns]
    assert names[: len(contacts)] == contacts
    assert "entity_title" in names and names.count("title") == 1
    assert names[-8:] == [
        "entity_url",
        "domain",
        "tech_names",
        "tech_types",
        "crm",
        "hubspot_ids",
        "sales_force_ids",
        "document",
    ]
    rows = field_rows(columns)
    assert ("tech_names", "text_list", "_tech_names_joined") in rows
    assert ("entity_active", "code", None) not in rows and ("active", "code", None) in rows


def test_dialects_bind_systems_their_own_way() -> None:
    columns = search_columns(parse_config(CONFIG), ["hubspot", "o'brien"])
    sql, params = duckdb_select(columns)
    assert params == ["hubspot", "o'brien"] and sql.count("?") == 2
    assert sql.endswith("ORDER BY c.contact_id")
    pg = postgres_select("v1", columns)
    assert "?" not in pg and "lower(system) = 'o''brien'" in pg
    assert 'CAST(e."active" AS text)' in pg and 'CAST(e."active" AS VARCHAR)' in sql
    ids = next(c.source for c in columns if c.name == "o_brien_ids")
    assert isinstance(ids, EntityList)
    assert postgres_elements("v1", ids) == (
        'SELECT DISTINCT lower(external_id), entity_id FROM "v1"."external_ids" '
        "WHERE entity_id IS NOT NULL AND lower(system) = 'o''brien'"
    )


def test_safe_name() -> None:
    assert safe_name("Sales Force!") == "sales_force"
    assert safe_name("!!!") == "crm"


def test_duckdb_pick_is_the_windows_first_row() -> None:
    """facility_search's first row per entity (its license expiring last, its first address):
    DuckDB's grouped `arg_min` over `create_sort_key` picks the row the window numbers 1, with
    NULL dates, equal dates, descending and ascending terms and a NULL entity among them."""
    import duckdb

    from crmpipe.search.selects import _DuckDB, _Postgres, sort_key_args

    assert sort_key_args("expires_on DESC NULLS LAST, issued_on DESC, license_id") == (
        "expires_on, 'DESC NULLS LAST', issued_on, 'DESC NULLS LAST', license_id, 'ASC NULLS LAST'"
    )
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE lic AS SELECT 'L' || lpad(CAST(i AS VARCHAR), 3, '0') AS license_id, "
        "CASE WHEN i % 17 = 0 THEN NULL ELSE 'E' || (i % 23) END AS entity_id, "
        "CASE WHEN i % 5 = 0 THEN NULL "
        "ELSE DATE '2020-01-01' + CAST((i * 7919) % 9 AS INTEGER) END AS expires_on, "
        "CASE WHEN i % 3 = 0 THEN NULL "
        "ELSE DATE '2019-01-01' + CAST((i * 104729) % 4 AS INTEGER) END AS issued_on "
        "FROM range(400) r(i) ORDER BY hash(i)"
    )
    for order in (
        "expires_on DESC NULLS LAST, issued_on DESC NULLS LAST, license_id",
        "license_id",
        "issued_on NULLS FIRST, expires_on ASC, license_id DESC",
    ):
        window = _Postgres("x").picked("lic", order)  # the window, as PostgreSQL renders it
        picked = _DuckDB().picked("lic", order)
        assert "row_number()" in window and "row_number()" not in picked
        first = f"SELECT * EXCLUDE (_pick) FROM ({window}) WHERE _pick = 1"
        mine = f"SELECT * EXCLUDE (_pick) FROM ({picked})"
        assert con.execute(f"SELECT count(*) FROM ({mine})").fetchone()[0] == 24
        for a, b in ((first, mine), (mine, first)):
            assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0] == 0


def test_duckdb_rows_sorted_first_are_the_rows_in_key_order() -> None:
    """A full build's SELECT (`sorted_first`: the joined rows sorted by key, the columns made
    from them computed after) gives the rows of the plain SELECT in the same order, key order
    (the executor's bounded page reads the first row groups), over contacts stored out of
    order, entities without contacts and contacts without entities."""
    import duckdb

    from crmpipe.model import duckdb_ddl

    cfg = parse_config(CONFIG)
    columns = search_columns(cfg, ["hubspot", "salesforce"])
    con = duckdb.connect()
    con.execute("SET threads = 4")
    con.execute("CREATE SCHEMA core")
    for name in ("contacts", "entities", "techstacks", "external_ids"):
        con.execute(duckdb_ddl(cfg.tables()[name], "core"))
    con.execute(
        "INSERT INTO core.contacts BY NAME SELECT 'k' || lpad(CAST(i AS VARCHAR), 7, '0') "
        "AS contact_id, CASE WHEN i % 11 > 0 THEN 'P' || (i % 997) END AS entity_id, "
        "'F' || (i % 89) AS first_name, CASE WHEN i % 3 > 0 THEN 'L' || (i % 97) END AS "
        "last_name, CASE WHEN i % 7 > 0 THEN ['a' || i || '.x@p' || (i % 13) || '.gov', "
        "'b-' || (i % 31) || '@mail.com'][1:1 + i % 2] END AS emails, 'Title ' || (i % 5) "
        "AS title FROM range(200000) r(i) ORDER BY hash(i)"
    )
    con.execute(
        "INSERT INTO core.entities BY NAME SELECT 'P' || i AS entity_id, 'Place ' || i AS "
        "display_name, 'T' || (i % 3) AS title, i % 2 = 0 AS active FROM range(1100) r(i)"
    )
    con.execute(
        "INSERT INTO core.techstacks BY NAME SELECT 'P' || (i % 900) AS entity_id, "
        "'Tech' || (i % 37) AS name, 'type' || (i % 4) AS type FROM range(3000) r(i)"
    )
    con.execute(
        "INSERT INTO core.external_ids BY NAME SELECT 'P' || (i % 800) AS entity_id, "
        "['a', 'b'][1 + i % 2] AS customer, ['hubspot', 'salesforce'][1 + i % 2] AS system, "
        "'X' || i AS external_id FROM range(2000) r(i)"
    )
    plain, params = duckdb_select(columns)
    first, same = duckdb_select(columns, sorted_first=True)
    assert same == params and "ORDER BY" in first and not first.endswith("c.contact_id")
    rows = con.execute(plain, params).fetchall()
    assert len(rows) == 200_000 and con.execute(first, params).fetchall() == rows
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    # an in-place update's SELECT (`where`) is the plain one
    assert duckdb_select(columns, where="true", sorted_first=True)[0].endswith("contact_id")
