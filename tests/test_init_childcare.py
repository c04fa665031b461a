"""crmpipe.init on facility lists: feeds, lead lists, header variants, dated drops, dialects,
files that fit no table, and the real childcare folder run end to end with no edits."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.init.guess import InitResult, init, undated
from crmpipe.pipeline import RunSummary, run
from support.shared import shared_folder


def feeds_of(result: InitResult, source: str) -> dict[str, dict[str, str]]:
    return {t: f.columns for t, f in result.config.sources[source].feeds.items()}


def write_csv(
    path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def run_clean(config_path: Path) -> tuple[RunSummary, duckdb.DuckDBPyConnection]:
    """Run the pipeline on a written config: it succeeds, every table balances, nothing is
    quarantined; returns the summary and a read-only connection to the warehouse."""
    cfg = load_config(config_path)
    summary = run(cfg)
    assert summary.status == "success"
    for t in summary.tables:
        assert t.balanced, t
        assert t.quarantined == 0, t
    return summary, duckdb.connect(str(cfg.warehouse_path), read_only=True)


# --- header variants as agencies export them --------------------------------------------------

TX_VARIANT = [
    "Operation #", "Operation/Caregiver Name", "Address1", "City", "State", "Zip", "County",
    "Phone#", "Email Address", "Facility ID", "Type License", "License Monitoring Since",
    "Total Cap", "Primary Caregiver", "Mon", "Tues", "Wed", "Thurs", "Friday",
]  # fmt: skip


def _tx_rows(n: int = 12) -> list[list[str]]:
    hours = "7:30AM - 5:30PM"
    return [
        [
            f"{1239000 + i}", f"Little Stars {i} Learning Center", f"{100 + i} MAIN ST", "WACO",
            "TX", f"7670{i % 10}", "MCLENNAN", f"254-555-{1000 + i}", f"stars{i}@example.org",
            f"{773000 + i}", "Licensed Center", f"2020-09-{i + 1:02d}", f"{20 + i}",
            f"Ann Lee{i}", hours, hours, hours, hours, "CLOSED",
        ]
        for i in range(n)
    ]  # fmt: skip


def test_header_variants(tmp_path: Path) -> None:
    write_csv(tmp_path / "tx_operations.csv", [TX_VARIANT, *_tx_rows()])
    result = init(tmp_path)
    src = result.config.sources["tx_operations"]
    assert src.table == "entities"
    assert src.columns == {
        "display_name": "Operation/Caregiver Name",
        "address": "Address1",
        "city": "City",
        "state": "State",
        "postal_code": "Zip",
        "county": "County",
        "phone": "Phone#",
        "email": "Email Address",
        "entity_id": "Facility ID",
    }
    assert feeds_of(result, "tx_operations") == {
        "contacts": {"full_name": "Primary Caregiver"},
        "licenses": {
            "license_number": "Operation #",
            "license_type": "Type License",
            "issued_on": "License Monitoring Since",
            "capacity": "Total Cap",
        },
        "addresses": {
            "address": "Address1",
            "city": "City",
            "state": "State",
            "postal_code": "Zip",
            "county": "County",
        },
        "schedules": {
            "monday": "Mon",
            "tuesday": "Tues",
            "wednesday": "Wed",
            "thursday": "Thurs",
            "friday": "Friday",
        },
    }
    assert src.extra == {}
    # The facility has its id: no note about lineage keys.
    assert "lineage" not in result.text
    summary, con = run_clean(result.path)
    counts = {t.table: t.loaded for t in summary.tables}
    assert counts == {
        "entities": 12,
        "contacts": 12,
        "licenses": 12,
        "addresses": 12,
        "schedules": 12,
    }
    # The fed rows point at the facility's own id.
    ((linked,),) = con.execute(
        "SELECT count(*) FROM core.licenses l JOIN core.entities e USING (entity_id)"
    ).fetchall()
    assert linked == 12


# --- lead lists versus plain contacts exports --------------------------------------------------


def test_a_person_export_with_a_company_and_its_address_is_a_lead_list(tmp_path: Path) -> None:
    rows = [
        ["Lead ID", "First Name", "Last Name", "Title", "Company", "Street", "City", "State",
         "Zip", "Phone", "Mobile", "Email"],
        *[
            [f"L{i}", f"Ann{i}", f"Lee{i}", "Director", f"Sunny Days {i}", f"{i} Elm St", "Reno",
             "NV", "89501", f"775-555-{1000 + i}", f"775-555-{2000 + i}", f"ann{i}@sunny.org"]
            for i in range(10)
        ],
    ]  # fmt: skip
    write_csv(tmp_path / "crm_leads.csv", rows)
    result = init(tmp_path)
    src = result.config.sources["crm_leads"]
    assert src.table == "entities"
    assert src.columns["display_name"] == "Company"
    assert src.columns["address"] == "Street"
    assert src.columns["phone"] == "Phone"
    assert feeds_of(result, "crm_leads") == {
        "contacts": {
            "first_name": "First Name",
            "last_name": "Last Name",
            "title": "Title",
            "emails": "Email",
            "phone": "Mobile",
        }
    }
    assert "a lead list" in result.guesses[0].notes[0]


@pytest.mark.parametrize(
    "header",
    [
        # HubSpot contacts: a company, but no address.
        ["First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title"],
        # Salesforce contacts: an account name and a city only.
        ["Id", "FirstName", "LastName", "Email", "Phone", "Account Name", "Title", "City"],
    ],
)
def test_a_contacts_export_without_an_address_stays_contacts(
    tmp_path: Path, header: list[str]
) -> None:
    values = {
        "First Name": "Ann", "FirstName": "Ann", "Last Name": "Lee", "LastName": "Lee",
        "Email": "ann@x.org", "Phone Number": "212-555-0101", "Phone": "212-555-0101",
        "Company Name": "Acme", "Account Name": "Acme", "Job Title": "CFO", "Title": "CFO",
        "Id": "003A1", "City": "Reno",
    }  # fmt: skip
    write_csv(tmp_path / "contacts.csv", [header, [values[h] for h in header]])
    src = init(tmp_path).config.sources["contacts"]
    assert src.table == "contacts"
    # its company feeds entities by name only (issue 14, docs/crm-merge.md), never as a facility
    assert set(src.feeds) == {"entities"}
    assert set(src.feeds["entities"].columns) <= {"entity_id", "display_name", "state"}


# --- dated drops -------------------------------------------------------------------------------

NV_HEADER = ["Name", "Credential Number", "Credential Type", "Status", "Address", "State",
             "Phone", "Primary Contact Name"]  # fmt: skip


def _nv_rows(n: int, start: int = 0) -> list[list[str]]:
    return [
        [f"Sunshine Academy {i}", f"{1100 + i}-22", "CENTER", "Active",
         f"{150 + i} N. WILLOW ST MESQUITE, NV 89027", "NV", f"702-555-{1000 + i}", f"Jo Noel{i}"]
        for i in range(start, start + n)
    ]  # fmt: skip


def test_undated_names() -> None:
    assert undated("source_1_20241101.csv") == ("source_1_*.csv", "source 1")
    assert undated("07-07-2023 Texas DHHS.csv") == ("*Texas DHHS.csv", "Texas DHHS")
    assert undated("contacts_2024_01.csv") is None  # a month, not a date
    assert undated("20241101.csv") is None  # nothing but the date names it


def test_dated_drops_become_one_source(tmp_path: Path) -> None:
    write_csv(tmp_path / "source_1_20241101.csv", [NV_HEADER, *_nv_rows(8)])
    write_csv(tmp_path / "source_1_20241201.csv", [NV_HEADER, *_nv_rows(10)])
    tx = [TX_VARIANT, *_tx_rows(6)]
    write_csv(tmp_path / "07-07-2023 Texas DHHS.csv", tx)
    write_csv(tmp_path / "08-01-2023 Texas DHHS.csv", [TX_VARIANT, *_tx_rows(9)])
    result = init(tmp_path)
    srcs = result.config.sources
    assert set(srcs) == {"source_1", "texas_dhhs"}
    assert (srcs["source_1"].path, srcs["source_1"].drops) == ("source_1_*.csv", "newest")
    assert (srcs["texas_dhhs"].path, srcs["texas_dhhs"].drops) == ("*Texas DHHS.csv", "newest")
    guesses = {g.source: g for g in result.guesses}
    # Newest first: the newest drop's header is the mapping.
    assert [f.name for f in guesses["source_1"].files] == [
        "source_1_20241201.csv",
        "source_1_20241101.csv",
    ]
    assert any("dated drops" in n and "drops: newest" in n for n in guesses["texas_dhhs"].notes)
    assert feeds_of(result, "source_1")["licenses"]["license_number"] == "Credential Number"
    # Only the newest drop of each list feeds the product.
    summary, _ = run_clean(result.path)
    assert {t.table: t.read for t in summary.tables}["entities"] == 10 + 9


def test_a_single_dated_file_is_a_drop_too(tmp_path: Path) -> None:
    write_csv(tmp_path / "nevada 2024-11-01.csv", [NV_HEADER, *_nv_rows(5)])
    src = init(tmp_path).config.sources["nevada"]
    assert (src.path, src.drops) == ("nevada *.csv", "newest")


def test_dated_names_that_would_catch_other_files_are_not_grouped(tmp_path: Path) -> None:
    write_csv(tmp_path / "07-07-2023 Texas DHHS.csv", [TX_VARIANT, *_tx_rows(3)])
    write_csv(tmp_path / "Old Texas DHHS.csv", [TX_VARIANT, *_tx_rows(3)])
    srcs = init(tmp_path).config.sources
    assert all(s.drops == "all" and "*" not in s.path for s in srcs.values())


# --- any delimiter or encoding -----------------------------------------------------------------


def test_semicolon_latin1_copy_of_the_nevada_list(tmp_path: Path) -> None:
    real = shared_folder("childcare") / "source1.csv"
    with real.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    for i, row in enumerate(rows[1:6], 1):
        rows[i][0] = row[0] + " GARDERIE ÉTÉ Ñ"  # accents only latin-1 can write
    folder = tmp_path / "data"
    folder.mkdir()
    write_csv(folder / "nevada.csv", rows, delimiter=";", encoding="latin-1")
    result = init(folder)
    src = result.config.sources["nevada"]
    assert (src.format.delimiter, src.format.encoding) == (";", "latin-1")
    expected = init(real.parent, output=tmp_path / "plain.yml").config.sources["source1"]
    assert src.columns == expected.columns
    assert src.feeds == expected.feeds
    summary, con = run_clean(result.path)
    assert {t.table: t.loaded for t in summary.tables}["entities"] == len(rows) - 1
    names = [r[0] for r in con.execute("SELECT display_name FROM core.entities").fetchall()]
    assert sum("ÉTÉ" in n for n in names) == 5


# --- a file that fits no table ------------------------------------------------------------------


def test_a_file_that_fits_no_table_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_csv(tmp_path / "facilities.csv", [NV_HEADER, *_nv_rows(4)])
    write_csv(tmp_path / "inventory.csv", [["sku", "qty", "bin"], ["A1", "3", "x"]])
    result = init(tmp_path)
    assert set(result.config.sources) == {"facilities"}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("inventory.csv: warning: not mapped, skipped")
    out = CliRunner().invoke(app, ["init", str(tmp_path), "--force"])
    assert out.exit_code == 0, out.output
    assert "inventory.csv: warning: not mapped, skipped" in " ".join(out.output.split())


# --- the real childcare folder, end to end ------------------------------------------------------


def test_the_real_childcare_folder_runs_with_no_edits(tmp_path: Path) -> None:
    real = shared_folder("childcare")
    folder = tmp_path / "childcare"
    folder.mkdir()
    for f in real.glob("*.csv"):
        shutil.copy(f, folder / f.name)
    result = init(folder)
    assert result.warnings == []
    summary, con = run_clean(result.path)
    loaded = {f.source: f.rows_loaded for f in summary.files}
    assert set(loaded) == {"source1", "source2", "source3", "salesforce_leads"}
    counts = {t.table: t.loaded for t in summary.tables}
    # One facility per source row.
    assert counts["entities"] == sum(loaded.values())
    per_source = dict(
        con.execute("SELECT _source, count(*) FROM core.entities GROUP BY 1").fetchall()
    )
    assert per_source == loaded
    for table in ("contacts", "licenses", "addresses", "schedules"):
        assert counts[table] > 0, table
    # Every fed row belongs to a facility.
    for table in ("contacts", "licenses", "addresses", "schedules"):
        ((orphans,),) = con.execute(
            f"SELECT count(*) FROM core.{table} t "
            "WHERE NOT EXISTS (SELECT 1 FROM core.entities e WHERE e.entity_id = t.entity_id)"
        ).fetchall()
        assert orphans == 0, table
    # Nothing is quarantined, for a missing key or anything else.
    quarantined = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine'"
    ).fetchall()
    for (name,) in quarantined:
        ((n,),) = con.execute(f'SELECT count(*) FROM quarantine."{name}"').fetchall()
        assert n == 0, name
    # The figures docs/init.md gives for this run.
    assert {t: counts[t] for t in ("entities", "contacts", "licenses", "addresses")} == {
        "entities": 166,
        "contacts": 146,
        "licenses": 127,
        "addresses": 127,
    }
    assert counts["schedules"] == 28


def test_the_documented_childcare_yaml_is_what_init_writes(tmp_path: Path) -> None:
    """docs/init.md's YAML for the real childcare files is init's output, exactly."""
    real = shared_folder("childcare")
    doc = (Path(__file__).resolve().parents[1] / "docs" / "init.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    documented = next(b for b in blocks if "salesforce_leads:" in b)
    folder = tmp_path / "childcare"
    folder.mkdir()
    for f in real.glob("*.csv"):
        shutil.copy(f, folder / f.name)
    assert init(folder).text == documented
