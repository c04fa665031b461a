"""One source row feeding several tables, keys from lineage, dated drops and the processor hook
(the childcare case's mapping features; docs/childcare.md)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from crmpipe.config.load import ConfigError, parse_config
from crmpipe.ingest.drops import drop_date
from crmpipe.pipeline import RunError, run
from crmpipe.warehouse.connection import connect

NEVADA = (
    "Name,Credential Type,Credential Number,Status,Expiration Date,Address,State,Phone,"
    "Primary Contact Name,Primary Contact Role\n"
    'SUNSHINE ACADEMY,CENTER,1106-22,Active,11/30/23,"150 N. WILLOW ST MESQUITE, NV 89027",'
    "NV,346-393-9400,JANEECE NOEL,Other\n"
    'LITTLE STARS,FAMILY,2201-19,Inactive,1/31/24,"9 ELM AVE RENO, NV 89501",NV,'
    "775-555-0101,,\n"
)

CONFIG = """
sources:
  nevada:
    path: "{path}"
    table: entities
    drops: {drops}
    columns: {{display_name: Name, address: Address, state: State, phone: Phone}}
    feeds:
      contacts: {{columns: {{full_name: Primary Contact Name, title: Primary Contact Role}}}}
      licenses:
        columns:
          license_number: Credential Number
          license_type: Credential Type
          status: Status
          expires_on: Expiration Date
"""


def _project(folder: Path, path: str = "nevada*.csv", drops: str = "newest", extra: str = ""):
    text = CONFIG.format(path=path, drops=drops) + extra
    (folder / "crmpipe.yml").write_text(text)
    return parse_config(text, folder / "crmpipe.yml")


def _rows(cfg, sql: str) -> list[tuple]:
    con = connect(cfg.warehouse_path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_one_row_feeds_a_facility_its_contact_and_its_license_keyed_by_lineage(tmp_path):
    (tmp_path / "nevada.csv").write_text(NEVADA)
    cfg = _project(tmp_path)
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    counts = {t.table: (t.read, t.loaded, t.quarantined) for t in summary.tables}
    # No id column: rows are identified by lineage, not quarantined for a missing key.
    assert counts["entities"] == (2, 2, 0)
    # Little Stars names no contact: no empty contact row is made for it.
    assert counts["contacts"] == (1, 1, 0)
    assert counts["licenses"] == (2, 2, 0)
    assert _rows(cfg, "SELECT entity_id, display_name FROM core.entities ORDER BY 1") == [
        ("nevada:1", "SUNSHINE ACADEMY"),
        ("nevada:2", "LITTLE STARS"),
    ]
    # The fed tables point at the facility row they came from.
    assert _rows(
        cfg,
        "SELECT license_id, entity_id, license_number, status, expires_on::VARCHAR "
        "FROM core.licenses ORDER BY 1",
    ) == [
        ("nevada:1", "nevada:1", "1106-22", "Active", "2023-11-30"),
        ("nevada:2", "nevada:2", "2201-19", "Inactive", "2024-01-31"),
    ]
    assert _rows(cfg, "SELECT contact_id, entity_id, full_name, title FROM core.contacts") == [
        ("nevada:1", "nevada:1", "Janeece Noel", "Other")
    ]


def test_a_feed_naming_a_missing_header_is_a_one_line_error(tmp_path):
    (tmp_path / "nevada.csv").write_text(NEVADA)
    text = CONFIG.format(path="nevada*.csv", drops="all").replace(
        "Primary Contact Role", "Contact Role"
    )
    (tmp_path / "crmpipe.yml").write_text(text)
    with pytest.raises(
        RunError,
        match=r"sources\.nevada\.feeds\.contacts\.columns\.title: "
        r"header 'Contact Role' is not in the files",
    ):
        run(parse_config(text, tmp_path / "crmpipe.yml"))


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ("{tickets: {columns: {a: b}}}", "sources.s.feeds.tickets: unknown table 'tickets'"),
        ("{licenses: {columns: {lisence_number: X}}}", "did you mean 'license_number'"),
        ("{entities: {columns: {display_name: X}}}", "is the source's own table"),
    ],
)
def test_feeds_are_validated(tmp_path, feeds, message):
    text = f"sources:\n  s:\n    path: a.csv\n    table: entities\n    feeds: {feeds}\n"
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(text, tmp_path / "crmpipe.yml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("source_1_20241101.csv", "2024-11-01"),
        ("07-07-2023 Texas DHHS.csv", "2023-07-07"),
        ("leads_2024-02-29.csv", "2024-02-29"),
        ("drop_2024_12_01.tsv", "2024-12-01"),
        ("source1.csv", None),
        ("list_20241399.csv", None),
    ],
)
def test_drop_dates_come_from_file_names(name, expected):
    found = drop_date(name)
    assert (found.isoformat() if found else None) == expected


def _touch(path: Path, when: float) -> None:
    os.utime(path, (when, when))


def test_the_newest_drop_feeds_older_ones_stay_in_raw_as_history(tmp_path):
    old = tmp_path / "nevada_20241001.csv"
    old.write_text(NEVADA)
    cfg = _project(tmp_path)
    run(cfg)
    newer = tmp_path / "nevada_20241101.csv"
    newer.write_text(NEVADA.replace("LITTLE STARS", "LITTLE STARS ACADEMY"))
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    names = _rows(cfg, "SELECT display_name FROM core.entities ORDER BY 1")
    assert names == [("LITTLE STARS ACADEMY",), ("SUNSHINE ACADEMY",)]
    # Both drops are kept in raw; reconciliation counts the rows of the feeding drop.
    assert _rows(cfg, "SELECT count(*) FROM raw.nevada") == [(4,)]
    assert {t.table: t.read for t in summary.tables}["entities"] == 2
    ingest = next(s for s in summary.steps if s.step == "ingest")
    assert "newest drop nevada_20241101.csv (2024-11-01) feeds the product" in ingest.detail
    # An older drop arriving late is loaded to raw, not fed, and said so.
    late = tmp_path / "nevada_20240901.csv"
    late.write_text(NEVADA.replace("SUNSHINE ACADEMY", "OLD NAME"))
    summary = run(cfg)
    ingest = next(s for s in summary.steps if s.step == "ingest")
    assert "nevada_20240901.csv is older than nevada_20241101.csv: loaded to raw as history" in (
        ingest.detail
    )
    names = _rows(cfg, "SELECT display_name FROM core.entities ORDER BY 1")
    assert names == [("LITTLE STARS ACADEMY",), ("SUNSHINE ACADEMY",)]


def test_two_drops_of_one_date_the_later_modified_wins(tmp_path):
    a = tmp_path / "nevada_20241101_a.csv"
    b = tmp_path / "nevada_20241101_b.csv"
    a.write_text(NEVADA.replace("LITTLE STARS", "FROM A"))
    b.write_text(NEVADA.replace("LITTLE STARS", "FROM B"))
    now = time.time()
    _touch(a, now)
    _touch(b, now - 3600)
    cfg = _project(tmp_path)
    summary = run(cfg)
    assert ("FROM A",) in _rows(cfg, "SELECT display_name FROM core.entities")
    ingest = next(s for s in summary.steps if s.step == "ingest")
    assert "nevada_20241101_b.csv has the same date; nevada_20241101_a.csv was modified later" in (
        ingest.detail
    )


def test_a_new_column_in_a_newer_drop_is_recorded_as_schema_drift(tmp_path):
    (tmp_path / "nevada_20241001.csv").write_text(NEVADA)
    cfg = _project(tmp_path)
    run(cfg)
    lines = NEVADA.splitlines()
    drifted = [lines[0] + ",Star Level"] + [line + ",3" for line in lines[1:]]
    (tmp_path / "nevada_20241101.csv").write_text("\n".join(drifted) + "\n")
    summary = run(cfg)
    assert _rows(cfg, "SELECT change, column_name FROM meta.schema_changes") == [
        ("added_column", "Star Level")
    ]
    assert summary.run_id in {r[0] for r in _rows(cfg, "SELECT run_id FROM meta.schema_changes")}


PROCESSOR = '''
"""Nevada's list marks closed facilities with a trailing '(CLOSED)' in the name."""


def drop_closed(rel):
    return rel.filter("NOT contains(Name, '(CLOSED)')")


def not_a_relation(rel):
    return [1, 2]


def drops_lineage(rel):
    return rel.project("Name, Phone")
'''


@pytest.mark.parametrize(
    ("function", "outcome"),
    [
        ("drop_closed", None),
        ("not_a_relation", "returned list; it must return a DuckDB relation"),
        ("drops_lineage", "dropped the lineage columns _source"),
        ("missing", "module 'nevada_hooks' has no function 'missing'"),
    ],
)
def test_the_processor_hook_reshapes_raw_rows_before_mapping(tmp_path, function, outcome):
    (tmp_path / "nevada.csv").write_text(NEVADA.replace("LITTLE STARS", "LITTLE STARS (CLOSED)"))
    (tmp_path / f"nevada_hooks_{function}.py").write_text(PROCESSOR)
    module = f"nevada_hooks_{function}"
    cfg = _project(tmp_path, extra=f"    processor: {module}:{function}\n")
    if outcome is None:
        run(cfg)
        assert _rows(cfg, "SELECT display_name FROM core.entities") == [("SUNSHINE ACADEMY",)]
        return
    with pytest.raises(RunError, match=outcome.replace("nevada_hooks", module)):
        run(cfg)


def test_a_processor_that_is_not_module_colon_function_is_a_config_error(tmp_path):
    text = CONFIG.format(path="a.csv", drops="all") + "    processor: just_a_name\n"
    with pytest.raises(
        ConfigError, match="processor: 'just_a_name' is not package.module:function"
    ):
        parse_config(text, tmp_path / "crmpipe.yml")


TEXAS = (
    "Operation,Operation Name,Phone,Infant,Toddler,Preschool,School\n"
    "1239246,K Street Learning Center,830-429-1010,Y,Y,N,Y\n"
    "1730398,1 on 1 Childcare Academy,832-295-3525,N,N,N,N\n"
)


def test_the_documented_processor_example_runs(tmp_path):
    doc = (Path(__file__).parents[1] / "docs" / "childcare.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    yaml_part = doc.split("```yaml\n  source3:", 1)[1].split("```", 1)[0]
    (tmp_path / "texas.py").write_text(code)
    (tmp_path / "source3.csv").write_text(TEXAS)
    text = (
        "sources:\n  source3:" + yaml_part + "    columns: {display_name: Operation Name}\n"
        "    feeds: {licenses: {columns: {license_number: Operation}}}\n"
    )
    (tmp_path / "crmpipe.yml").write_text(text)
    cfg = parse_config(text, tmp_path / "crmpipe.yml")
    run(cfg)
    assert _rows(cfg, "SELECT display_name, ages_served FROM core.entities ORDER BY 1") == [
        ("1 on 1 Childcare Academy", None),
        ("K Street Learning Center", "infant, toddler, school age"),
    ]


def test_people_in_one_field_become_contacts_and_one_field_addresses_are_parsed(tmp_path):
    two = NEVADA.replace("JANEECE NOEL", "TANIA & NICOLE PINEDA & POBLETE")
    (tmp_path / "nevada.csv").write_text(two)
    cfg = _project(tmp_path, extra="      addresses: {columns: {address: Address, state: State}}\n")
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    assert _rows(
        cfg,
        "SELECT contact_id, entity_id, first_name, last_name, full_name, title "
        "FROM core.contacts ORDER BY 1",
    ) == [
        ("nevada:1", "nevada:1", "Tania", "Pineda", "Tania Pineda", "Other"),
        ("nevada:1#2", "nevada:1", "Nicole", "Poblete", "Nicole Poblete", "Other"),
    ]
    assert _rows(
        cfg,
        "SELECT number, street, unit, city, state, postal_code FROM core.addresses "
        "ORDER BY address_id",
    ) == [
        ("150", "N WILLOW ST", None, "MESQUITE", "NV", "89027"),
        ("9", "ELM AVE", None, "RENO", "NV", "89501"),
    ]
    # The facility gets the city and ZIP its one-field address carries.
    assert _rows(cfg, "SELECT city, postal_code FROM core.entities ORDER BY entity_id") == [
        ("MESQUITE", "89027"),
        ("RENO", "89501"),
    ]


def test_a_file_whose_header_fits_no_mapping_is_a_clear_error_naming_it(tmp_path):
    (tmp_path / "nevada_20241001.csv").write_text(NEVADA)
    cfg = _project(tmp_path)
    run(cfg)
    stray = tmp_path / "nevada_20241101.csv"
    stray.write_text("order_id,sku,qty\n1,A-1,3\n")
    with pytest.raises(
        RunError,
        match=r"nevada_20241101\.csv: its header fits no mapping of "
        r"source nevada \(none of 'Name', 'Address', 'State', 'Phone', \.\.\.\)",
    ):
        run(cfg)
    # The run rolled back: the previous build still serves.
    assert len(_rows(cfg, "SELECT * FROM core.entities")) == 2


def test_a_role_on_its_own_line_is_not_a_last_name(tmp_path):
    """Oklahoma writes the caregiver's role on a line of its own; cleaning joins the lines, so
    people are split from the source's text."""
    (tmp_path / "ok.csv").write_text(
        'Company,Phone,Primary Caregiver\nHELLSTROM CARE,405-555-0100,"Elizabeth Hellstrom\n'
        ' \n Primary Caregiver"\nSUN KIDS,405-555-0101,"Kathryn Bennett\n \n Director"\n'
    )
    text = (
        "sources:\n  ok:\n    path: ok.csv\n    table: entities\n"
        "    columns: {display_name: Company, phone: Phone}\n"
        "    feeds: {contacts: {columns: {full_name: Primary Caregiver}}}\n"
    )
    (tmp_path / "crmpipe.yml").write_text(text)
    cfg = parse_config(text, tmp_path / "crmpipe.yml")
    run(cfg)
    assert _rows(cfg, "SELECT first_name, last_name, full_name FROM core.contacts ORDER BY 1") == [
        ("Elizabeth", "Hellstrom", "Elizabeth Hellstrom"),
        ("Kathryn", "Bennett", "Kathryn Bennett"),
    ]
