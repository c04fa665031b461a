"""crmpipe.init.guess: the project file guessed from a folder of CSV files."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpipe.config.load import load_config, parse_config
from crmpipe.config.schema import ExtraSpec
from crmpipe.init.guess import InitError, InitResult, init
from crmpipe.init.synonyms import normalize
from crmpipe.init.values import guess_type
from support.shared import shared_folder


def by_file(result: InitResult) -> dict[str, object]:
    return {g.file.name: g for g in result.guesses}


def check_round_trip(result: InitResult) -> None:
    """The written file is the returned text, and it parses to the returned config."""
    assert result.path.read_text(encoding="utf-8") == result.text
    again = load_config(result.path)
    assert again.sources == result.config.sources
    assert again.search == result.config.search
    for name, src in again.sources.items():
        matches = list(again.base_dir.glob(src.path))
        assert matches, f"sources.{name}.path {src.path} matches no file"


# --- the real samples ------------------------------------------------------------------------


def test_pursuit(tmp_path: Path) -> None:
    folder = shared_folder("pursuit")
    # Written next to the test, never into the shared folder.
    result = init(folder, output=tmp_path / "crmpipe.yml")
    check_round_trip(result)
    cfg = result.config
    places = cfg.sources["places"]
    assert places.table == "entities"
    assert places.columns == {
        "entity_id": "place_id",
        "state": "state_abbr",
        "lat": "lat",
        "long": "long",
        "url": "url",
        "display_name": "display_name",
        "parent_id": "parent_id",
        "address": "address",
    }
    assert places.extra == {
        "pop_estimate_2022": "bigint",
        "place_fips": "text",
        "sum_lev": "text",
        "lsadc": "text",
    }
    assert places.format.model_dump(exclude_defaults=True) == {}
    assert places.feeds == {}  # a list of places, not a facility list: nothing fed

    tech = cfg.sources["techstacks"]
    assert tech.table == "techstacks"
    assert tech.columns == {"name": "name", "entity_id": "place_id", "type": "type"}

    mappings = (("crma", "salesforce", "sfdc_id"), ("crmb", "hubspot", "hubspot_id"))
    for name, system, id_col in mappings:
        src = cfg.sources[name]
        assert src.table == "external_ids"
        assert src.columns == {"external_id": id_col, "entity_id": "place_id"}
        assert src.constants == {"customer": name, "system": system}

    assert cfg.search.aliases == {
        "email": "emails",
        "tech": "tech_names",
        "created": "created_at",
        "pop": "pop_estimate_2022",
    }
    guesses = by_file(result)
    assert guesses["places.csv"].confidence > 0.9
    assert any("pop_estimate_2022" in n for n in guesses["places.csv"].notes)
    # Paths are relative to the output file's folder and lead back to the real files.
    assert (cfg.base_dir / places.path).resolve() == (folder / "places.csv").resolve()


def test_childcare(tmp_path: Path) -> None:
    folder = shared_folder("childcare")
    result = init(folder, output=tmp_path / "crmpipe.yml")
    check_round_trip(result)
    srcs = result.config.sources
    # Three agency lists of facilities, and the CRM's existing leads (facilities with a contact):
    # every file is a facility list that feeds further tables from the same rows.
    assert {n: s.table for n, s in srcs.items()} == {
        "source1": "entities",
        "source2": "entities",
        "source3": "entities",
        "salesforce_leads": "entities",
    }
    feeds = {n: {t: f.columns for t, f in s.feeds.items()} for n, s in srcs.items()}
    assert srcs["source1"].columns == {
        "display_name": "Name",
        "address": "Address",
        "state": "State",
        "county": "County",
        "phone": "Phone",
    }
    assert feeds["source1"] == {
        "contacts": {"full_name": "Primary Contact Name", "title": "Primary Contact Role"},
        "licenses": {
            "license_number": "Credential Number",
            "license_type": "Credential Type",
            "status": "Status",
            "issued_on": "First Issue Date",
            "expires_on": "Expiration Date",
        },
        "addresses": {"address": "Address", "state": "State", "county": "County"},
    }
    assert srcs["source2"].columns == {
        "display_name": "Company",
        "phone": "Phone",
        "email": "Email",
        "address": "Address1",
        "city": "City",
        "state": "State",
        "postal_code": "Zip",
    }
    assert feeds["source2"] == {
        "contacts": {"full_name": "Primary Caregiver"},
        "licenses": {"license_type": "Type License", "capacity": "Total Cap"},
        "addresses": {
            "address": "Address1",
            "address2": "Address2",
            "city": "City",
            "state": "State",
            "postal_code": "Zip",
        },
        "schedules": {
            "monday": "Mon",
            "tuesday": "Tues",
            "wednesday": "Wed",
            "thursday": "Thurs",
            "friday": "Friday",
            "saturday": "Saturday",
            "sunday": "Sunday",
        },
    }
    assert srcs["source3"].columns == {
        "display_name": "Operation Name",
        "address": "Address",
        "city": "City",
        "state": "State",
        "postal_code": "Zip",
        "county": "County",
        "phone": "Phone",
        "entity_type": "Type",
        "email": "Email Address",
        "entity_id": "Facility ID",
    }
    assert feeds["source3"] == {
        "licenses": {
            "license_number": "Operation",
            "status": "Status",
            "issued_on": "Issue Date",
            "capacity": "Capacity",
        },
        "addresses": {
            "address": "Address",
            "city": "City",
            "state": "State",
            "postal_code": "Zip",
            "county": "County",
        },
    }
    # The Salesforce Lead export: a company with its address and a person at it.
    assert srcs["salesforce_leads"].columns == {
        "entity_id": "id",
        "display_name": "company",
        "address": "street",
        "city": "city",
        "state": "state",
        "postal_code": "postal_code",
        "phone": "phone",
        "email": "email",
        "url": "website",
        "created_at": "created_date",
    }
    assert feeds["salesforce_leads"] == {
        "contacts": {
            "first_name": "first_name",
            "last_name": "last_name",
            "title": "title",
            "emails": "email",
            "phone": "mobile_phone",
        }
    }
    # Phone is the childcare case's identifier: every source maps it.
    assert all(s.columns.get("phone", "").lower() == "phone" for s in srcs.values())
    # Nothing dropped: every header is mapped (to the facility or a fed table) or an extension.
    for name, src in srcs.items():
        header = by_file(result)[f"{name}.csv"].dialect.header
        kept = set(src.columns.values()) | {
            spec.column or ext for ext, spec in src.extension_columns().items()
        }
        kept |= {h for f in src.feeds.values() for h in f.columns.values()}
        assert kept == set(header), name
    assert srcs["source1"].extension_columns() == {
        "disciplinary_action": ExtraSpec(type="boolean", column="Disciplinary Action")
    }
    # Rows without an id are identified by lineage; nothing says they are quarantined.
    notes = " ".join(by_file(result)["source1.csv"].notes)
    assert "rows are identified by lineage" in notes
    assert "quarantined" not in result.text
    assert result.warnings == []


def test_pipedrive_files_map_onto_the_funnel_tables(tmp_path: Path) -> None:
    folder = shared_folder("pipedrive")
    result = init(folder, output=tmp_path / "crmpipe.yml")
    check_round_trip(result)
    srcs = result.config.sources
    assert {n: s.table for n, s in srcs.items()} == {
        "activity": "activities",
        "activity_types": "activity_types",
        "deal_changes": "deal_changes",
        "fields": "fields",
        "stages": "stages",
        "users": "users",
    }
    assert srcs["activity"].columns["user_id"] == "assigned_to_user"
    assert srcs["users"].columns == {
        "user_id": "id",
        "name": "name",
        "email": "email",
        "modified": "modified",
    }
    assert srcs["fields"].columns["value_options"] == "FIELD_VALUE_OPTIONS"


# --- a synthetic contacts file with messy headers --------------------------------------------

MESSY = (
    "E-mail Address,Work Phone,Job Title,First,Surname,x,Pop Estimate 2022\n"
    "ann.lee@city.gov,(212) 555-0101,Finance Director,Ann,Lee,2125550101,1200\n"
    "bob@town.org,212.555.0102 x12,Clerk,Bob,Ray,3125550102,800\n"
    "cy@county.us,,Treasurer,Cy,Do,4155550103,45000\n"
    "dee@city.gov,+1 646 555 0104,Intern,Dee,Moe,6465550104,\n"
)


def test_messy_contacts(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(MESSY)
    result = init(tmp_path)
    assert result.path == (tmp_path / "crmpipe.yml").resolve()
    check_round_trip(result)
    src = result.config.sources["people"]
    assert src.table == "contacts"
    assert src.columns == {
        "emails": "E-mail Address",
        "phone": "Work Phone",
        "title": "Job Title",
        "first_name": "First",
        "last_name": "Surname",
    }
    # 'x' looks like phones too, but the phone column is taken: kept, typed phone, and said so.
    assert src.extra["x"] == "phone"
    assert src.extra["pop_estimate_2022"] == ExtraSpec(type="bigint", column="Pop Estimate 2022")
    guess = result.guesses[0]
    assert guess.extra["x"] == "x: phone"
    assert any("'x' also looked like phone" in n for n in guess.notes)
    assert result.config.search.aliases["pop"] == "pop_estimate_2022"


def test_phone_guessed_from_values(tmp_path: Path) -> None:
    text = "E-mail Address,Job Title,First,Surname,x\n" + "".join(
        f"p{i}@city.gov,Clerk,P{i},Q{i},{2125550100 + i}\n" for i in range(20)
    )
    (tmp_path / "contacts.csv").write_text(text)
    result = init(tmp_path)
    src = result.config.sources["contacts"]
    assert src.columns["phone"] == "x"
    assert any("'x' → phone" in n and "phone numbers" in n for n in result.guesses[0].notes)


def test_email_state_zip_url_dates_from_values(tmp_path: Path) -> None:
    rows = [
        f"Org {i},o{i}@org{i}.com,{st},{zip_},https://org{i}.example.org,2024-01-{i + 1:02d}"
        for i, (st, zip_) in enumerate([("CA", "90210"), ("TX", "73301"), ("NY", "10001")] * 4)
    ]
    (tmp_path / "orgs.csv").write_text("Organization,a,b,c,d,e\n" + "\n".join(rows) + "\n")
    src = init(tmp_path).config.sources["orgs"]
    assert src.table == "entities"
    assert src.columns == {
        "display_name": "Organization",
        "email": "a",
        "state": "b",
        "postal_code": "c",
        "url": "d",
        "created_at": "e",
    }


def test_header_contradicted_by_values(tmp_path: Path) -> None:
    # 'Email' holds no e-mails at all, 'Contact Email' does: the values decide.
    text = "First,Surname,Email,Contact Email\n" + "".join(
        f"A{i},B{i},yes,a{i}@b.com\n" for i in range(10)
    )
    (tmp_path / "c.csv").write_text(text)
    result = init(tmp_path)
    assert result.config.sources["c"].columns["emails"] == "Contact Email"


def test_two_headers_never_share_a_column(tmp_path: Path) -> None:
    text = "First,Surname,Email,E-mail Address,Email Address\nA,B,a@b.com,c@d.com,e@f.com\n"
    (tmp_path / "c.csv").write_text(text)
    result = init(tmp_path)
    src = result.config.sources["c"]
    assert src.columns["emails"] == "Email"
    assert set(src.extra) == {"e_mail_address", "email_address"}
    assert "address" not in src.columns  # an e-mail address is not a street address
    check_round_trip(result)


def test_non_default_dialect_goes_under_format(tmp_path: Path) -> None:
    text = "Name;Stadt;State;Zip\nMüller GmbH;Köln;CA;90210\nSchmidt AG;Bonn;TX;73301\n"
    (tmp_path / "firms.csv").write_bytes(text.encode("latin-1"))
    result = init(tmp_path)
    src = result.config.sources["firms"]
    assert src.format.delimiter == ";" and src.format.encoding == "latin-1"
    assert src.table == "entities"
    check_round_trip(result)


def test_odd_headers_round_trip(tmp_path: Path) -> None:
    headers = ["First", "Surname", "Email", 'Notes: "internal"', "# of visits", "yes", "2022 sales"]
    row = ["A", "B", "a@b.com", "x", "3", "y", "1.5"]
    (tmp_path / "c.csv").write_text(
        ",".join(h.replace('"', '""').join('""') if '"' in h else h for h in headers)
        + "\n"
        + ",".join(row)
        + "\n"
    )
    result = init(tmp_path)
    check_round_trip(result)
    ext = result.config.sources["c"].extension_columns()
    assert {spec.column or name for name, spec in ext.items()} == set(headers[3:])
    assert ext["c_2022_sales"] == ExtraSpec(type="double", column="2022 sales")


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(MESSY)
    (tmp_path / "crmpipe.yml").write_text("# mine\n")
    with pytest.raises(InitError, match=r"crmpipe\.yml: already exists; pass --force"):
        init(tmp_path)
    assert (tmp_path / "crmpipe.yml").read_text() == "# mine\n"
    result = init(tmp_path, force=True)
    assert (tmp_path / "crmpipe.yml").read_text() == result.text


def test_output_elsewhere_gets_relative_paths(tmp_path: Path) -> None:
    data = tmp_path / "exports"
    data.mkdir()
    (data / "people.csv").write_text(MESSY)
    result = init(data, output=tmp_path / "proj" / "crmpipe.yml")
    assert result.config.sources["people"].path == "../exports/people.csv"
    check_round_trip(result)


def test_unmappable_and_broken_files_are_noted_not_invented(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(MESSY)
    (tmp_path / "deals.csv").write_text("deal_id,stage,amount\n1,won,100\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "readme.txt").write_text("just some text\nno delimiter here\n")
    result = init(tmp_path)
    assert set(result.config.sources) == {"people"}
    notes = {g.file.name: " ".join(g.notes) for g in result.guesses if g.table is None}
    assert "no canonical table fits" in notes["deals.csv"]
    assert "empty" in notes["empty.csv"]
    assert "single column" in notes["readme.txt"]
    # Each skipped file is a warning of init's, named.
    assert sorted(w.split(":")[0] for w in result.warnings) == [
        "deals.csv",
        "empty.csv",
        "readme.txt",
    ]
    lines = [line for line in result.text.splitlines() if "deals.csv: warning: not mapped" in line]
    assert lines and all(line.startswith("#   ") for line in lines)
    check_round_trip(result)


def test_files_with_the_same_columns_become_one_glob_source(tmp_path: Path) -> None:
    for month in ("2024_01", "2024_02", "2024_03"):
        (tmp_path / f"contacts_{month}.csv").write_text(MESSY)
    result = init(tmp_path)
    assert list(result.config.sources) == ["contacts"]
    assert result.config.sources["contacts"].path == "contacts_*.csv"
    assert len(result.guesses[0].files) == 3
    check_round_trip(result)


def test_extension_types_agree_across_sources(tmp_path: Path) -> None:
    head = "Name,City,State,Capacity\n"
    (tmp_path / "a.csv").write_text(head + "A,Reno,NV,12\nB,Elko,NV,7\n")
    (tmp_path / "b.csv").write_text(head + "C,Tulsa,OK,12.5\nD,Enid,OK,7\n")
    (tmp_path / "z.csv").write_text("Name,City,Zip,Capacity\nE,Waco,76701,about 10\n")
    result = init(tmp_path)
    types = {n: s.extension_columns()["capacity"].type for n, s in result.config.sources.items()}
    assert types == {"a": "text", "b": "text", "z": "text"}


def test_external_ids_with_an_unknown_system(tmp_path: Path) -> None:
    (tmp_path / "acme.csv").write_text("acme_account_id,place_id\nA1,p1\nA2,p2\n")
    src = init(tmp_path).config.sources["acme"]
    assert src.table == "external_ids"
    assert src.constants == {"customer": "acme", "system": "acme"}


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InitError, match="no such folder"):
        init(tmp_path / "missing")
    with pytest.raises(InitError, match="no .*csv.* files"):
        init(tmp_path)


# --- the small pieces -------------------------------------------------------------------------


def test_normalize() -> None:
    assert normalize("Pop Estimate 2022") == "pop_estimate_2022"
    assert normalize(" E-mail Address ") == "e_mail_address"
    assert normalize("# of visits") == "of_visits"


@pytest.mark.parametrize(
    "header,values,expected",
    [
        ("Pop Estimate 2022", ["2358", "4874", "11186"], "bigint"),
        ("place_fips", ["124", "100"], "text"),
        ("zip4", ["0123", "4567"], "text"),
        ("score", ["1.5", "2", "-3.25"], "double"),
        ("Expiration Date", ["11/30/23", "6/30/24"], "date"),
        ("modified", ["2024-04-27 04:51:50.980402", "2024-04-10 09:27:18"], "timestamp"),
        ("Infant", ["Y", "N", "y"], "boolean"),
        ("done", ["True", "False"], "boolean"),
        ("Status", ["Active", "Closed"], "text"),
        ("x", ["2125550101", "3125550102"], "phone"),
        ("backup", ["a@b.com", "c@d.org"], "email_list"),
        ("empty", [], "text"),
    ],
)
def test_guess_type(header: str, values: list[str], expected: str) -> None:
    assert guess_type(header, values)[0] == expected


def test_written_text_is_what_parse_config_accepts(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(MESSY)
    result = init(tmp_path)
    assert result.text.startswith("# crmpipe.yml — guessed by `crmpipe init`")
    assert parse_config(result.text).sources == result.config.sources


def test_extension_names_avoid_stored_companion_columns(tmp_path: Path) -> None:
    # The phone column is stored with a `phone_ext` companion: a 'Phone Ext' header must not
    # become an extension of that name.
    text = "First,Surname,Phone,Phone Ext\n" + "".join(
        f"A{i},B{i},212-555-01{i:02d},{i}\n" for i in range(10)
    )
    (tmp_path / "c.csv").write_text(text)
    src = init(tmp_path).config.sources["c"]
    assert src.columns["phone"] == "Phone"
    assert "phone_ext" not in src.extra
    assert src.extension_columns()["phone_ext_2"].column == "Phone Ext"


def test_tsv_files_get_a_tab_delimiter(tmp_path: Path) -> None:
    rows = "".join(f"Org {i}\tAustin, TX\t{73301 + i}\n" for i in range(5))
    (tmp_path / "orgs.tsv").write_text("Company\tCity\tZip\n" + rows)
    result = init(tmp_path)
    src = result.config.sources["orgs"]
    assert src.format.delimiter == "\t"
    assert src.columns == {"display_name": "Company", "city": "City", "postal_code": "Zip"}
    check_round_trip(result)


def test_documented_example(tmp_path: Path) -> None:
    """docs/init.md's example: its CSV in, exactly its YAML out."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "init.md").read_text(encoding="utf-8")
    csv_text = re.search(r"```csv\n(.*?)```", doc, re.S).group(1)
    yaml_text = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "people.csv").write_text(csv_text)
    result = init(folder)
    assert result.text == yaml_text


# --- properties -------------------------------------------------------------------------------

_header = st.text(
    alphabet=st.sampled_from(list("aBz é:#'\"{}[],&*!|>%@-?=\\\n")), min_size=1, max_size=10
).map(str.strip)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(extra=st.lists(_header, max_size=6))
def test_any_header_survives_the_round_trip(tmp_path: Path, extra: list[str]) -> None:
    """Whatever a header holds, the written YAML reads back to exactly that header."""
    headers = list(dict.fromkeys(["First", "Surname", "Email", *[h for h in extra if h]]))
    folder = tmp_path / "h"
    folder.mkdir(exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers)
    writer.writerow(["Ann", "Lee", "ann@x.org", *["v"] * (len(headers) - 3)])
    (folder / "c.csv").write_text(buf.getvalue())
    result = init(folder, force=True)
    src = load_config(result.path).sources["c"]
    kept = list(src.columns.values()) + [
        spec.column or name for name, spec in src.extension_columns().items()
    ]
    assert sorted(kept) == sorted(headers)


def test_duplicate_and_missing_headers_use_the_loaders_names(tmp_path: Path) -> None:
    # The loader (crmpipe.ingest.read) reads an empty header as column<n> and a repeat as name_2.
    text = "sfdc_id,place_id,\n1,p1,\n2,p2,\n"
    (tmp_path / "crm.csv").write_text(text)
    (tmp_path / "people.csv").write_text("First,Surname,Email,Email,\nA,B,a@b.com,c@d.com,z\n")
    result = init(tmp_path)
    check_round_trip(result)
    crm = result.config.sources["crm"]
    assert crm.table == "external_ids"  # the empty third column doesn't count
    people = result.config.sources["people"]
    assert people.columns["emails"] == "Email"
    assert people.extension_columns()["email_2"].type == "email_list"
    assert people.extra["column5"] == "text"
    notes = " ".join(g for g in result.guesses[1].notes)
    assert "duplicate header 'Email': it is read as 'Email_2'" in notes
    assert "column 5 has no header: it is read as 'column5'" in notes


def test_other_model_tables_need_their_columns_named(tmp_path: Path) -> None:
    # id/name/email is 3/4 of `users`, but the file isn't named like it: a contacts list.
    (tmp_path / "people.csv").write_text("id,name,email\n1,Ann Lee,ann@x.org\n")
    # Named like the table and naming its key and 3/4 of its columns: users.
    (tmp_path / "users.csv").write_text("id,name,email\n1,Ann Lee,ann@x.org\n")
    srcs = init(tmp_path).config.sources
    assert srcs["people"].table == "contacts"
    assert srcs["people"].columns == {"contact_id": "id", "full_name": "name", "emails": "email"}
    assert srcs["users"].table == "users"
