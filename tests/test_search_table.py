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
