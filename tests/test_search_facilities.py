"""facility_search: a small facilities project built, then searched by field, number, phone,
license status and free text; unknown fields and tables; the documented examples; the CLI, the
shell's `\\table` and the API's `table=`; the rule deciding which search tables a project builds;
and (tests marked pg) the same answers from the published PostgreSQL version."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import parse_config
from crmpipe.config.schema import Config
from crmpipe.search import QueryError, search
from crmpipe.search.catalog import planned_tables, search_table
from crmpipe.shell.session import Shell
from support import query_docs
from support.facilities import ACTIVE, MONTESSORI_TX_50, PHONE_702, make_facility_project
from support.server import Server

REAL = Path("/work/shared/data/childcare")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return make_facility_project(tmp_path_factory.mktemp("facilities"))


@pytest.fixture()
def con(project: Config) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(project.warehouse_path), read_only=True)
    yield c
    c.close()


def names(con: Any, query: str, **kwargs: Any) -> list[str]:
    result = search(con, query, table="facilities", columns=["display_name"], **kwargs)
    return [r[0] for r in result.rows]


def test_both_search_tables_are_built_with_their_fields(con) -> None:
    counts = dict(
        con.execute("SELECT table_name, count(*) FROM meta.search_fields GROUP BY ALL").fetchall()
    )
    assert set(counts) == {"contact_search", "facility_search"}
    assert con.execute("SELECT count(*) FROM search.facility_search").fetchone()[0] == 5
    row = con.execute(
        "SELECT license_status, capacity, city, contact_names, sources, document "
        "FROM search.facility_search WHERE display_name = 'Sunrise Montessori Academy'"
    ).fetchone()
    assert row[:3] == ("Active", 120, "Austin") and row[3] is None and row[4] == ["texas"]
    assert row[5] == "sunrise montessori academy austin licensed center info@sunrise.org"


def test_a_facility_merged_across_lists_has_both_sources(con) -> None:
    """Desert Kids, on both agencies' lists, is one facility that came from both (the
    resolution's lineage), found by either source."""
    row = con.execute(
        "SELECT sources FROM search.facility_search WHERE display_name = 'Desert Kids'"
    ).fetchall()
    assert row == [(["nevada", "texas"],)]
    texas = ["Desert Kids", "Sunrise Montessori Academy", "Tiny Steps", "Montessori of Plano"]
    assert names(con, "source:texas") == texas
    assert names(con, "source:nevada") == ["Little Montessori", "Desert Kids"]


def test_field_number_phone_status_and_free_text(con) -> None:
    assert names(con, "name: montessori state:TX capacity>50") == MONTESSORI_TX_50
    assert names(con, "phone:702") == PHONE_702
    assert names(con, "license_status:active") == ACTIVE
    assert names(con, "montessori") == ["Little Montessori", *MONTESSORI_TX_50]
    assert names(con, "pineda") == ["Little Montessori"]  # a contact's name, in the document
    assert names(con, "contact: smith") == ["Desert Kids"]


def test_unknown_field_lists_the_facility_fields(con) -> None:
    with pytest.raises(QueryError, match="did you mean: license_status"):
        search(con, "licence_status:active", table="facilities")
    with pytest.raises(QueryError) as info:
        search(con, "title:director", table="facilities")  # a contact field, not a facility's
    assert "title" not in info.value.suggestions


def test_default_table_and_unknown_table(con) -> None:
    assert search(con, "title:director").columns[0] == "contact_id"  # contacts when built
    with pytest.raises(QueryError, match="unknown search table 'shops'; known tables: contacts"):
        search(con, "x", table="shops")
    assert search_table("facility").name == "facility_search"


def test_documented_facility_examples_run(con) -> None:
    examples = query_docs.examples("facility-query")
    assert "name: montessori state:TX capacity>50" in examples and len(examples) >= 8
    for query in examples:
        assert names(con, query), query  # every example finds something here
    for query, message in query_docs.error_examples("facility-query-error"):
        with pytest.raises(QueryError) as info:
            search(con, query, table="facilities")
        assert str(info.value) == message


def test_cli_table_option(project: Config) -> None:
    config = str(project.warehouse_path.parent.parent / "crmpipe.yml")
    args = ["search", "-c", config, "--table", "facilities", "-f", "csv"]
    result = CliRunner().invoke(app, [*args, "phone:702"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("entity_id,display_name")
    assert "Desert Kids" in result.output
    bad = CliRunner().invoke(app, ["search", "-c", config, "--table", "nope", "x"])
    assert bad.exit_code != 0 and "known tables: contacts, facilities" in bad.output


def test_shell_switches_table(con) -> None:
    out = io.StringIO()
    shell = Shell(con, console=Console(file=out, width=200, force_terminal=False))
    assert shell.backend.search_spec.label == "contacts"
    shell.run_line("\\table facilities")
    assert "table: facilities" in out.getvalue()
    assert "capacity" in shell.field_names() and "title" not in shell.field_names()
    shell.run_line("license_status:active capacity<100")
    assert "Tiny Steps" in out.getvalue()
    shell.run_line("\\table nope")
    assert shell.errors == 1 and shell.backend.search_spec.label == "facilities"


def test_api_table_parameter(project: Config) -> None:
    with Server(project) as api:
        status, body = api.json("/api/search", q="phone:702", table="facilities")
        assert status == 200, body
        assert [r["display_name"] for r in body["rows"]] == PHONE_702
        status, body = api.json("/api/search", q="title:director")
        assert status == 200 and body["total"] == 1
        status, body = api.json("/api/fields", table="facilities")
        assert "license_status" in [f["name"] for f in body]
        status, body = api.json("/api/facets", table="facilities", fields="status", q="")
        assert status == 200, body
        assert {"value": "Active", "count": 3} in body["fields"]["status"]
        status, body = api.json("/api/search", q="x", table="shops")
        assert status == 400
        assert body["error"] == ("unknown search table 'shops'; known tables: contacts, facilities")


BASE = """
sources:
  a: {path: a.csv, table: entities}
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", []),
        ("  b: {path: b.csv, table: entities}\n", ["facility_search"]),
        ("  c: {path: c.csv, table: contacts}\n", ["contact_search"]),
        (
            "  d: {path: d.csv, table: entities, feeds: {licenses: {columns: {status: S}}}}\n",
            ["facility_search"],
        ),
    ],
)
def test_which_search_tables_a_project_builds(extra: str, expected: list[str]) -> None:
    assert [t.name for t in planned_tables(parse_config(BASE + extra))] == expected


@pytest.mark.skipif(not REAL.exists(), reason="the real childcare files are not here")
def test_real_childcare_files(tmp_path: Path) -> None:
    from crmpipe.config.load import load_config
    from crmpipe.pipeline import run

    config = tmp_path / "crmpipe.yml"
    config.write_text(REAL_CONFIG.replace("DIR", str(REAL)), encoding="utf-8")
    cfg = load_config(config)
    run(cfg)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as c:
        assert names(c, "state:TX")
        assert names(c, "license_status:active")
        assert names(c, "phone:702")


REAL_CONFIG = """
warehouse: wh.duckdb
sources:
  source1:
    path: DIR/source1*.csv
    table: entities
    drops: newest
    columns: {display_name: Name, address: Address, state: State, county: County, phone: Phone}
    feeds:
      contacts: {columns: {full_name: Primary Contact Name, title: Primary Contact Role}}
      licenses:
        columns: {license_number: Credential Number, license_type: Credential Type,
                  status: Status, expires_on: Expiration Date, issued_on: First Issue Date}
      addresses: {columns: {address: Address, state: State, county: County}}
  source2:
    path: DIR/source2*.csv
    table: entities
    drops: newest
    columns: {display_name: Company, phone: Phone, email: Email, address: Address1, city: City,
              state: State, postal_code: Zip}
    feeds:
      contacts: {columns: {full_name: Primary Caregiver}}
      licenses: {columns: {license_type: Type License, capacity: Total Cap}}
      addresses: {columns: {address: Address1, address2: Address2, city: City, state: State,
                            postal_code: Zip}}
  source3:
    path: DIR/source3*.csv
    table: entities
    drops: newest
    columns: {display_name: Operation Name, phone: Phone, email: Email Address, address: Address,
              city: City, state: State, postal_code: Zip, county: County}
    feeds:
      licenses: {columns: {license_number: Operation, license_type: Type, status: Status,
                           issued_on: Issue Date, capacity: Capacity}}
      addresses: {columns: {address: Address, city: City, state: State, postal_code: Zip,
                            county: County}}
"""


# --- PostgreSQL: the published facility_search answers as DuckDB does --------------------

PG_QUERIES = [
    "name: montessori state:TX capacity>50",
    "phone:702",
    "license_status:active",
    "montessori",
    "pineda",
    "capacity>=12 -status:inactive",
    "email:sunrise",
    "source:texas",
    "zip:750",
    "expires<2025-01-01 OR capacity:..20",
    "licence_status:active",
]


@pytest.fixture(scope="module")
def published(project: Config, pg_dsn: str) -> Iterator[Any]:
    """The project published to a database of this module's own; a psycopg connection."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from crmpipe.publish import publish

    name = f"test_search_facilities_{os.getpid()}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    dsn = make_conninfo(pg_dsn, dbname=name)
    with duckdb.connect(str(project.warehouse_path), read_only=True) as duck:
        publish(duck, dsn, cfg=project)
    pg = psycopg.connect(dsn, autocommit=True)
    try:
        yield pg
    finally:
        pg.close()
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _answer(con: Any, query: str) -> Any:
    try:
        r = search(con, query, table="facilities", count_cap=None)
    except QueryError as exc:
        return ("error", str(exc))
    return r.columns, [tuple(str(v) for v in row) for row in r.rows], r.total


@pytest.mark.parametrize(
    "query", PG_QUERIES + query_docs.examples("facility-query"), ids=lambda q: q[:40]
)
def test_postgres_answers_as_duckdb(con, published, query: str) -> None:
    assert _answer(published, query) == _answer(con, query)


def test_postgres_facility_search_matches_the_warehouse(con, published) -> None:
    (columns,) = [
        [d[0] for d in con.execute("SELECT * FROM search.facility_search LIMIT 0").description]
    ]
    cols = ", ".join(f'"{c}"' for c in columns if c != "document")
    duck_rows = con.execute(
        f"SELECT {cols} FROM search.facility_search ORDER BY entity_id"
    ).fetchall()
    pg_rows = published.execute(
        f'SELECT {cols} FROM crmpipe.facility_search ORDER BY entity_id COLLATE "C"'
    ).fetchall()
    assert [tuple(map(str, r)) for r in pg_rows] == [tuple(map(str, r)) for r in duck_rows]
    fks = published.execute(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'crmpipe'::regnamespace"
    ).fetchall()
    assert {"crmpipe.licenses", "crmpipe.addresses"} <= {r[0] for r in fks}
    lineage = published.execute(
        "SELECT golden_id, source FROM crmpipe.entity_sources WHERE matched_by <> 'self'"
    ).fetchall()
    assert lineage == [("nevada:2", "texas")]  # the lineage, published: where sources come from


def test_masked_facility_rows_hide_phones_emails_and_contact_names(project: Config) -> None:
    from crmpipe.api.masking import Masker
    from crmpipe.search.facilities import FACILITY_SEARCH

    masker = Masker(project).for_table(FACILITY_SEARCH)
    columns = ["display_name", "phone", "email", "contact_names", "document"]
    row = ("Little Montessori", "+17025550101", ["a@b.org"], ["tania pineda"], "little ...")
    (masked,) = masker.search_rows(columns, [row])
    assert masked[0] == "Little Montessori" and masked[4] is None
    assert "+17025550101" not in str(masked) and "a@b.org" not in str(masked)
    assert "tania pineda" not in str(masked)
