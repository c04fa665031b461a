"""The leads product (marts.leads) and its field-level provenance (docs/childcare.md)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from crmpipe.config.load import parse_config
from crmpipe.marts.leads import COLUMN_ORDER
from crmpipe.pipeline import run
from crmpipe.warehouse.connection import connect

NEVADA = (
    "Name,Credential Type,Credential Number,Status,Expiration Date,Address,State,Phone,"
    "Primary Contact Name,Subsidy\n"
    'SUNSHINE ACADEMY,CENTER,1106-22,Active,11/30/23,"150 N. WILLOW ST MESQUITE, NV 89027",'
    "NV,702-393-9400,JANEECE NOEL,Y\n"
    'LITTLE STARS,FAMILY,2201-19,Inactive,1/31/24,"9 ELM AVE RENO, NV 89501",NV,'
    "775-555-0101,,N\n"
)
OKLAHOMA = (
    "Company,Phone,Address1,City,State,Zip,Mon,Tues,Total Cap\n"
    "Sunshine Academy,(702) 393-9400,150 N Willow St,Mesquite,NV,89027,7:30AM - 5:30PM,"
    "CLOSED,45\n"
)
CRM = (
    "id,company,first_name,last_name,street,city,state,postal_code,phone,mobile_phone,email\n"
    "00Q5e00000AbCdEFG2,Little Stars,Mary,Hill,9 Elm Ave,Reno,NV,89501,775-555-0101,"
    "775-555-0199,mary@littlestars.org\n"
)

CONFIG = """
sources:
  nevada:
    path: nevada.csv
    table: entities
    drops: newest
    columns: {display_name: Name, address: Address, state: State, phone: Phone}
    extra: {accepts_financial_aid: {type: boolean, column: Subsidy}}
    feeds:
      contacts: {columns: {full_name: Primary Contact Name}}
      licenses:
        columns:
          license_number: Credential Number
          license_type: Credential Type
          status: Status
          expires_on: Expiration Date
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


def _project(folder: Path, extra: str = "") -> object:
    (folder / "nevada.csv").write_text(NEVADA)
    (folder / "oklahoma.csv").write_text(OKLAHOMA)
    (folder / "crm.csv").write_text(CRM)
    # Oklahoma's list is the newer file: its values win the newest-non-null rule.
    now = time.time()
    for i, name in enumerate(("nevada.csv", "crm.csv", "oklahoma.csv")):
        os.utime(folder / name, (now - 300 + i * 100, now - 300 + i * 100))
    text = CONFIG + extra
    (folder / "crmpipe.yml").write_text(text)
    return parse_config(text, folder / "crmpipe.yml")


def _leads(cfg) -> dict[str, dict]:
    con = connect(cfg.warehouse_path)
    try:
        cur = con.execute("SELECT * FROM marts.leads")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return {r["company"].upper(): r for r in rows}
    finally:
        con.close()


def _provenance(cfg, company: str) -> dict[str, tuple]:
    con = connect(cfg.warehouse_path)
    try:
        rows = con.execute(
            "SELECT p.column_name, p.value, p.source, p.row FROM marts.lead_provenance p "
            "JOIN marts.leads l USING (entity_id) WHERE upper(l.company) = ?",
            [company],
        ).fetchall()
        return {c: (v, s, r) for c, v, s, r in rows}
    finally:
        con.close()


def test_one_lead_per_facility_merged_across_sources_and_matched_to_the_crm(tmp_path):
    cfg = _project(tmp_path)
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    leads = _leads(cfg)
    assert set(leads) == {"SUNSHINE ACADEMY", "LITTLE STARS"}
    sunshine, stars = leads["SUNSHINE ACADEMY"], leads["LITTLE STARS"]
    # The exercise's columns, in its order, then the product's own.
    con = connect(cfg.warehouse_path)
    cols = [r[0] for r in con.execute("DESCRIBE marts.leads").fetchall()]
    con.close()
    assert cols == [
        "entity_id",
        *COLUMN_ORDER,
        "crm_lead_id",
        "is_new_lead",
        "sources",
        "first_seen",
        "last_seen",
    ]
    # Sunshine: in two agency lists, not in the CRM: a new lead with values from both.
    assert sunshine["sources"] == ["nevada", "oklahoma"]
    assert (sunshine["crm_lead_id"], sunshine["is_new_lead"]) == (None, True)
    assert sunshine["license_number"] == "1106-22"
    assert sunshine["license_status"] == "Active"
    assert sunshine["certificate_expiration_date"].isoformat() == "2023-11-30"
    assert sunshine["capacity"] == 45
    assert sunshine["schedule"] == "Mon 7:30AM - 5:30PM; Tue CLOSED"
    assert sunshine["accepts_financial_aid"] is True
    assert sunshine["phone"] == "+17023939400"
    assert (sunshine["city"], sunshine["zip"]) == ("Mesquite", "89027")
    # Little Stars: the CRM already has it, with a second phone (the contact's mobile).
    assert stars["crm_lead_id"] == "00Q5e00000AbCdEFG2"
    assert stars["is_new_lead"] is False
    assert stars["sources"] == ["nevada", "salesforce_leads"]
    assert (stars["first_name"], stars["last_name"]) == ("Mary", "Hill")
    assert stars["email"] == "mary@littlestars.org"
    assert {stars["phone"], stars["phone2"]} == {"+17755550101", "+17755550199"}


def test_each_value_says_which_source_row_gave_it(tmp_path):
    cfg = _project(tmp_path)
    run(cfg)
    prov = _provenance(cfg, "SUNSHINE ACADEMY")
    # Newest non-null by default: Oklahoma's file is newer, so its name spelling wins...
    assert prov["company"] == ("Sunshine Academy", "oklahoma", 1)
    # ...and what only Nevada gives comes from Nevada's row.
    assert prov["license_number"] == ("1106-22", "nevada", 1)
    assert prov["capacity"] == ("45", "oklahoma", 1)


def test_source_priority_decides_each_column(tmp_path):
    cfg = _project(tmp_path, "marts: {leads: {source_priority: [nevada]}}\n")
    run(cfg)
    assert _provenance(cfg, "SUNSHINE ACADEMY")["company"] == ("SUNSHINE ACADEMY", "nevada", 1)
    assert _leads(cfg)["SUNSHINE ACADEMY"]["capacity"] == 45  # only Oklahoma has it


def test_a_project_without_lead_lists_builds_no_leads(tmp_path):
    (tmp_path / "c.csv").write_text("id,first,last\n1,Ann,Lee\n")
    text = (
        "sources:\n  c:\n    path: c.csv\n    table: contacts\n"
        "    columns: {contact_id: id, first_name: first, last_name: last}\n"
    )
    (tmp_path / "crmpipe.yml").write_text(text)
    cfg = parse_config(text, tmp_path / "crmpipe.yml")
    run(cfg)
    con = connect(cfg.warehouse_path)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert "leads" not in tables and "lead_provenance" not in tables


def _uncompressed(cfg, table: str) -> set[str]:
    """The text columns of `table` whose every segment is stored uncompressed."""
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        rows = con.execute(
            "SELECT column_name FROM pragma_storage_info(?) WHERE segment_type = 'VARCHAR' "
            "GROUP BY ALL HAVING bool_and(compression = 'Uncompressed')",
            [table],
        ).fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


def test_the_facility_records_near_unique_text_is_stored_uncompressed(tmp_path):
    """build/plain.py: the facilities' key, name, address, phone and e-mails are written
    without compression in each wide copy of the records, and the fed rows' key, facility id
    and address in theirs; the other columns (state, county, codes, lineage) and the golden
    contacts stay compressed. Entities not resolved: nothing changes."""
    from crmpipe.build.plain import FACILITY_PLAIN

    (tmp_path / "facilities").mkdir()
    cfg = _project(tmp_path / "facilities")
    run(cfg)
    for table in (
        "staging.entities",
        "core.entities__unresolved",
        "resolved.entity_records",
        "core.entities",
    ):
        assert _uncompressed(cfg, table) == set(FACILITY_PLAIN), table
    assert _uncompressed(cfg, "core.contacts") == set()  # the golden contacts: as before
    # the rows the lists feed: their key, the facility's id and the one-field address
    for table in ("staging.addresses", "core.addresses"):
        assert _uncompressed(cfg, table) == {"address_id", "entity_id", "address"}, table
    for table in ("staging.contacts", "resolved.contact_records"):
        assert _uncompressed(cfg, table) == {"contact_id", "entity_id"}, table
    (tmp_path / "off").mkdir()
    _project(tmp_path / "off")
    text = CONFIG.replace("entities: {enabled: true}", "entities: {enabled: false}")
    (tmp_path / "off" / "crmpipe.yml").write_text(text)
    off = parse_config(text, tmp_path / "off" / "crmpipe.yml")
    run(off)
    assert _uncompressed(off, "staging.entities") == set()
    assert _uncompressed(off, "core.entities") == set()
    assert _uncompressed(off, "core.addresses") == set()
