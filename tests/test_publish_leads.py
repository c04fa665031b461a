"""The childcare case published to PostgreSQL (docs/postgres.md, docs/childcare.md): the 3NF
tables (facility = entities, contacts, licenses, addresses, schedules) and the leads product
with primary and foreign keys, the same rows as DuckDB; a row naming no facility fails the
publish; each version dated `leads_YYYYMMDD` by its newest feeding drop, rollback by label."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.pipeline import run
from crmpipe.publish import PublishError, publish, published_versions, rollback
from crmpipe.publish.plan import read_plan

NEVADA = (
    "Name,Credential Type,Credential Number,Status,Expiration Date,Address,State,Phone,"
    "Primary Contact Name,Subsidy\n"
    'SUNSHINE ACADEMY,CENTER,1106-22,Active,11/30/23,"150 N. WILLOW ST MESQUITE, NV 89027",'
    "NV,702-393-9400,JANEECE NOEL,Y\n"
    'LITTLE STARS,FAMILY,2201-19,Inactive,1/31/24,"9 ELM AVE RENO, NV 89501",NV,'
    "775-555-0101,,N\n"
)
#: The next drop: Little Stars is active again, and a new facility appears.
NEVADA_DEC = NEVADA.replace("2201-19,Inactive", "2201-19,Active") + (
    'BRIGHT PATH,CENTER,3301-24,Active,12/31/25,"1 PINE RD HENDERSON, NV 89002",NV,'
    "702-555-0177,ANN LEE,Y\n"
)
OKLAHOMA = (
    "Company,Phone,Address1,City,State,Zip,Mon,Tues,Total Cap\n"
    "Sunshine Academy,(702) 393-9400,150 N Willow St,Mesquite,NV,89027,7:30AM - 5:30PM,"
    "CLOSED,45\n"
    "Tulsa Tots,(918) 555-0142,4 Oak St,Tulsa,OK,74103,6AM - 6PM,6AM - 6PM,30\n"
)
CRM = (
    "id,company,first_name,last_name,street,city,state,postal_code,phone,mobile_phone,email\n"
    "00Q5e00000AbCdEFG2,Little Stars,Mary,Hill,9 Elm Ave,Reno,NV,89501,775-555-0101,"
    "775-555-0199,mary@littlestars.org\n"
)
CONFIG = """
sources:
  nevada:
    path: nevada_*.csv
    table: entities
    drops: newest
    columns: {display_name: Name, address: Address, state: State, phone: Phone}
    extra: {accepts_financial_aid: {type: boolean, column: Subsidy}}
    feeds:
      contacts: {columns: {full_name: Primary Contact Name}}
      licenses:
        columns: {license_number: Credential Number, license_type: Credential Type,
                  status: Status, expires_on: Expiration Date}
      addresses: {columns: {address: Address, state: State}}
  oklahoma:
    path: oklahoma.csv
    table: entities
    columns: {display_name: Company, phone: Phone, address: Address1, city: City, state: State,
              postal_code: Zip}
    feeds:
      licenses: {columns: {capacity: Total Cap}}
      addresses: {columns: {address: Address1, city: City, state: State, postal_code: Zip}}
      schedules: {columns: {monday: Mon, tuesday: Tues}}
  salesforce_leads:
    path: crm.csv
    table: entities
    columns: {entity_id: id, display_name: company, address: street, city: city, state: state,
              postal_code: postal_code, phone: phone, email: email}
    feeds:
      contacts: {columns: {first_name: first_name, last_name: last_name, emails: email,
                           phone: mobile_phone}}
resolve:
  entities: {enabled: true}
"""

THREE_NF = ("entities", "contacts", "licenses", "addresses", "schedules")
LEADS_MARTS = ("leads", "lead_provenance")


def make_leads_project(folder: Path) -> Config:
    """The hand-written lists (a dated Nevada drop, Oklahoma with hours, a CRM export), built."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nevada_20241101.csv").write_text(NEVADA)
    (folder / "oklahoma.csv").write_text(OKLAHOMA)
    (folder / "crm.csv").write_text(CRM)
    (folder / "crmpipe.yml").write_text(CONFIG)
    cfg = load_config(folder / "crmpipe.yml")
    run(cfg)
    return cfg


def _publish(cfg: Config, dsn: str, **kwargs: Any) -> Any:
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as duck:
        return publish(duck, dsn, cfg=cfg, **kwargs)


def _text(rows: list[tuple]) -> list[tuple]:
    """Rows compared as text, cell for cell (lists element-wise, floats by value)."""

    def cell(v: Any) -> Any:
        if isinstance(v, list):
            return [cell(x) for x in v]
        if isinstance(v, float):
            return round(v, 9)
        return None if v is None else str(v)

    return [tuple(cell(v) for v in r) for r in rows]


@pytest.fixture()
def project(tmp_path: Path) -> Config:
    return make_leads_project(tmp_path / "leads")


def test_3nf_tables_and_leads_published_with_keys(project: Config, pg_db: str) -> None:
    result = _publish(project, pg_db)
    assert result.orphans == {}
    assert result.label == "leads_20241101"
    with duckdb.connect(str(project.warehouse_path), read_only=True) as duck:
        duck_counts = {
            t: duck.execute(f"SELECT count(*) FROM core.{t}").fetchone()[0] for t in THREE_NF
        }
        duck_counts |= {
            t: duck.execute(f"SELECT count(*) FROM marts.{t}").fetchone()[0] for t in LEADS_MARTS
        }
        lead_cols = [d[0] for d in duck.execute("SELECT * FROM marts.leads LIMIT 0").description]
        cols = ", ".join(f'"{c}"' for c in lead_cols)
        duck_leads = duck.execute(f"SELECT {cols} FROM marts.leads ORDER BY entity_id").fetchall()
        duck_prov = duck.execute(
            "SELECT * FROM marts.lead_provenance ORDER BY entity_id, column_name"
        ).fetchall()
    assert duck_counts["schedules"] == 2 and duck_counts["leads"] >= 3
    with psycopg.connect(pg_db, autocommit=True) as pg:
        pg_counts = {
            t: pg.execute(f"SELECT count(*) FROM crmpipe.{t}").fetchone()[0]
            for t in THREE_NF + LEADS_MARTS
        }
        assert pg_counts == duck_counts
        assert result.tables["schedules"] == 2
        keys = {
            (table, contype): (cols, ref, valid)
            for table, contype, cols, ref, valid in pg.execute(
                "SELECT conrelid::regclass::text, contype::text, "
                "array(SELECT attname::text FROM unnest(conkey) k JOIN pg_attribute a "
                "ON a.attrelid = conrelid AND a.attnum = k ORDER BY k), "
                "confrelid::regclass::text, convalidated FROM pg_constraint "
                "WHERE connamespace = 'crmpipe'::regnamespace AND contype IN ('p', 'f')"
            ).fetchall()
        }
        for table, key in [
            ("entities", ["entity_id"]),
            ("contacts", ["contact_id"]),
            ("licenses", ["license_id"]),
            ("addresses", ["address_id"]),
            ("schedules", ["schedule_id"]),
            ("leads", ["entity_id"]),
            ("lead_provenance", ["entity_id", "column_name"]),
        ]:
            assert keys[(f"crmpipe.{table}", "p")][0] == key, table
        for table in ("contacts", "licenses", "addresses", "schedules", *LEADS_MARTS):
            cols_, ref, valid = keys[(f"crmpipe.{table}", "f")]
            assert (cols_, ref, valid) == (["entity_id"], "crmpipe.entities", True), table
        # Every foreign key has an index leading with its column.
        indexed = {
            r[0]
            for r in pg.execute(
                "SELECT i.indrelid::regclass::text FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE a.attname = 'entity_id' AND i.indrelid::regclass::text LIKE 'crmpipe.%'"
            ).fetchall()
        }
        assert {f"crmpipe.{t}" for t in THREE_NF + LEADS_MARTS} <= indexed
        pg_leads = pg.execute(
            f'SELECT {cols} FROM crmpipe.leads ORDER BY entity_id COLLATE "C"'
        ).fetchall()
        assert _text(pg_leads) == _text(duck_leads)
        pg_prov = pg.execute(
            'SELECT * FROM crmpipe.lead_provenance ORDER BY entity_id COLLATE "C", '
            'column_name COLLATE "C"'
        ).fetchall()
        assert _text(pg_prov) == _text(duck_prov)
        assert len(pg_prov) > 0
        comment = pg.execute("SELECT obj_description('crmpipe'::regnamespace)").fetchone()[0]
        assert comment == "crmpipe published version 1 (leads_20241101)"


def test_a_row_naming_no_facility_fails_the_publish(project: Config, pg_db: str) -> None:
    """A license whose facility is missing (quarantined, say): the publish fails in verify,
    saying which table; nothing serves a version with a broken key."""
    with duckdb.connect(str(project.warehouse_path)) as duck:
        (victim,) = duck.execute(
            "SELECT entity_id FROM core.licenses l WHERE NOT EXISTS (SELECT 1 FROM core.schedules "
            "s WHERE s.entity_id = l.entity_id) AND NOT EXISTS (SELECT 1 FROM core.addresses a "
            "WHERE a.entity_id = l.entity_id) ORDER BY 1 LIMIT 1"
        ).fetchone() or (None,)
        if victim is None:
            (victim,) = duck.execute("SELECT min(entity_id) FROM core.licenses").fetchone()
        duck.execute("DELETE FROM core.entities WHERE entity_id = ?", [victim])
    with pytest.raises(PublishError, match=r"entity_id names no facility in entities") as info:
        _publish(project, pg_db)
    assert "previous version still serves" in str(info.value)
    assert [(v.version, v.status) for v in published_versions(pg_db)] == [(1, "failed")]


def test_public_sector_versions_are_labelled_by_build_date(tmp_path: Path) -> None:
    """Without the leads product a version is `build_YYYYMMDD`; undated files give their
    modification day; a dated file name wins over modification days."""
    folder = tmp_path / "ps"
    folder.mkdir()
    (folder / "c.csv").write_text("id,first,last\n1,Ann,Lee\n")
    (folder / "crmpipe.yml").write_text(
        "sources:\n  c:\n    path: c.csv\n    table: contacts\n"
        "    columns: {contact_id: id, first_name: first, last_name: last}\n"
    )
    day = time.mktime((2024, 3, 5, 12, 0, 0, 0, 0, -1))
    os.utime(folder / "c.csv", (day, day))
    cfg = load_config(folder / "crmpipe.yml")
    run(cfg)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as duck:
        assert read_plan(duck, cfg).label == "build_20240305"


def test_dated_versions_and_rollback_by_label(project: Config, pg_db: str) -> None:
    first = _publish(project, pg_db)
    assert (first.version, first.label) == (1, "leads_20241101")
    # The next Nevada drop arrives: the product is rebuilt from it, and published.
    folder = project.warehouse_path.parent
    while not (folder / "crmpipe.yml").exists():
        folder = folder.parent
    (folder / "nevada_20241201.csv").write_text(NEVADA_DEC)
    run(project)
    second = _publish(project, pg_db, full=True)
    assert (second.version, second.label) == (2, "leads_20241201")
    versions = {v.label: (v.version, v.status, v.schema) for v in published_versions(pg_db)}
    assert versions == {
        "leads_20241201": (2, "serving", "crmpipe"),
        "leads_20241101": (1, "previous", "crmpipe_v1"),
    }

    def companies(dsn: str) -> list[str]:
        with psycopg.connect(dsn, autocommit=True) as pg:
            return [r[0].upper() for r in pg.execute("SELECT company FROM crmpipe.leads")]

    assert "BRIGHT PATH" in companies(pg_db)

    # Back to the November drop by its label; forward again by label.
    assert rollback(pg_db, "leads_20241101") == "crmpipe_v1"
    assert "BRIGHT PATH" not in companies(pg_db)
    status = {v.label: v.status for v in published_versions(pg_db)}
    assert status == {"leads_20241101": "serving", "leads_20241201": "rolled_back"}
    with pytest.raises(PublishError, match="kept versions: leads_20241201"):
        rollback(pg_db, "leads_20240101")
    with pytest.raises(PublishError, match="serving already"):
        rollback(pg_db, "leads_20241101")
    assert rollback(pg_db, "leads_20241201") == "crmpipe_v2"
    status = {v.label: v.status for v in published_versions(pg_db)}
    assert status == {"leads_20241201": "serving", "leads_20241101": "previous"}

    # Publishing the same drop again: a label names one version, so the second gets `_2`.
    third = _publish(project, pg_db, full=True)
    assert third.label == "leads_20241201_2"

    # The CLI: `rollback --to LABEL` names the label and lists what is kept.
    out = CliRunner().invoke(
        app,
        ["rollback", "-c", str(folder / "crmpipe.yml"), "--pg", pg_db, "--to", "leads_20241101"],
    )
    assert out.exit_code == 0, out.output
    assert "crmpipe_v1 serves again as schema crmpipe: leads_20241101" in out.stdout
    assert "leads_20241201_2 (rolled_back)" in out.stdout
    assert date(2024, 11, 1).strftime("leads_%Y%m%d") in out.stdout


def test_a_merge_in_a_new_drop_reaches_the_published_lineage_and_sources(
    project: Config, pg_db: str
) -> None:
    """The next Nevada drop lists Tulsa Tots, an Oklahoma facility, too: both rows resolve into
    one facility, and the published lineage and facility_search's sources say it came from
    both lists, as the warehouse's do. The drop is published as a version of its own."""
    _publish(project, pg_db)
    folder = project.warehouse_path.parent
    while not (folder / "crmpipe.yml").exists():
        folder = folder.parent
    tulsa = (
        'TULSA TOTS,FAMILY,4401-20,Active,6/30/25,"4 OAK ST TULSA, OK 74103",OK,918-555-0142,,N\n'
    )
    (folder / "nevada_20241201.csv").write_text(NEVADA + tulsa)
    run(project)
    second = _publish(project, pg_db)
    # a new drop is a dated version of its own, never a change of the previous one in place
    assert (second.mode, second.label) == ("full", "leads_20241201")
    assert "each leads drop is a dated version of its own (leads_20241201)" in second.notes[0]
    sql = (
        "SELECT upper(display_name), sources FROM {} ORDER BY entity_id{}",
        "SELECT golden_id, source, row, matched_by FROM {} ORDER BY 1, 2, 3",
    )
    with psycopg.connect(pg_db, autocommit=True) as pg:
        sources = pg.execute(sql[0].format("crmpipe.facility_search", ' COLLATE "C"')).fetchall()
        lineage = pg.execute(sql[1].format("crmpipe.entity_sources")).fetchall()
    assert ("TULSA TOTS", ["nevada", "oklahoma"]) in sources
    with duckdb.connect(str(project.warehouse_path), read_only=True) as duck:
        assert sources == duck.execute(sql[0].format("search.facility_search", "")).fetchall()
        assert lineage == duck.execute(sql[1].format("core.entity_sources")).fetchall()
