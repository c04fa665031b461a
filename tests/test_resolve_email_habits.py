"""Real email habits and name variations, on hand-made pairs (issue 15): an alias of another
convention at the workplace, a personal mailbox, a shared role inbox, nicknames from the
`nicknames` package, first and last swapped, an initial — and the near-misses that must stay
apart (two people behind one `info@`, two colleagues whose addresses both fit one name)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.resolution.emails import (
    is_personal_sql,
    is_role_sql,
    letters_sql,
    name_fits_sql,
    name_locals_sql,
    name_part_sql,
    own_sql,
    work_sql,
)
from crmpipe.resolution.nicknames import forms_sql
from crmpipe.warehouse.connection import connect

HEADER = "id,place,first,last,email,phone,title\n"
CRM_A = [
    "a1,e1,Angela,Wright,angela.wright@e102.gov,555-201-0101,City Clerk",
    "a2,e1,Maria,Lopez,info@e102.gov,555-201-0102,Planner",
    "a3,e1,Robert,Chen,rchen@e102.gov,555-201-0103,Finance Director",
    "a4,e1,William,Smith,wsmith@e102.gov,555-201-0104,Building Inspector",
    "a5,e1,Karen,Hughes,khughes@e102.gov,555-201-0105,Treasurer",
    "a6,e1,John,Santos,jsantos@e102.gov,555-201-0106,Engineer",
    "a7,e2,Janet,Baker,jbaker@e205.org,555-301-0107,Librarian",
    "a8,e2,Paul,Young,pyoung@e205.org,555-301-0108,Police Chief",
    "a9,e1,Melissa,Cooper,mcooper@e102.gov,555-201-0100,Program Manager",
]
CRM_B = [
    # an alias of another convention at the same workplace, no phone
    "b1,e1,Angela,Wright,awright@e102.gov,,City Clerk",
    # another person behind the same shared inbox, same family name
    "b2,e1,Carlos,Lopez,info@e102.gov,555-201-0192,Engineer",
    # a personal mailbox with the same name and phone
    "b3,e1,ROBERT,CHEN,robert.chen77@gmail.com,555.201.0103,",
    # a nickname, an alias of the formal name at the same domain
    "b4,e1,Bill,Smith,william.smith@e102.gov,,Building Inspector",
    # first and last swapped, no email
    "b5,e1,Hughes,Karen,,(555) 201-0105,Treasurer",
    # a colleague whose address fits John Santos's too (jordans@, jsantos@ both fit Jordan)
    "b6,e1,Jordan,Santos,jordans@e102.gov,555-201-0196,Accountant",
    # an initial for the first name, same phone
    "b7,e2,J.,Baker,,+1 555 301 0107,Librarian",
    # a personal mailbox that is the office's: still a role inbox
    "b8,e2,Sandra,Young,office@e205.org,,Fire Chief",
    # a colleague on the office's main line with the same title: another last name outright
    "b9,e1,Melissa,Koch,,555-201-0100,Program Manager",
]
PROJECT = """\
warehouse: .crmpipe/warehouse.duckdb
sources:
  entities:
    path: entities.csv
    table: entities
    columns: {entity_id: place_id, display_name: name}
  crm_a:
    path: a.csv
    table: contacts
    columns: &cols {contact_id: id, entity_id: place, first_name: first, last_name: last,
      emails: email, phone: phone, title: title}
  crm_b:
    path: b.csv
    table: contacts
    columns: *cols
"""


def _write(folder: Path, name: str, lines: list[str], mtime: int) -> None:
    path = folder / name
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (mtime, mtime))


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """record id → golden id, after one run of the hand-made project."""
    folder = tmp_path_factory.mktemp("habits")
    (folder / "entities.csv").write_text("place_id,name\ne1,Town\ne2,City\n", encoding="utf-8")
    _write(folder, "a.csv", CRM_A, 1_700_000_000)
    _write(folder, "b.csv", CRM_B, 1_700_086_400)
    (folder / "crmpipe.yml").write_text(PROJECT, encoding="utf-8")
    run(load_config(folder / "crmpipe.yml"))
    con = connect(folder / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute("SELECT record_id, golden_id FROM core.contact_sources").fetchall()
    finally:
        con.close()
    return dict(rows)


def test_an_alias_at_the_same_domain_without_phone_merges(golden: dict[str, str]) -> None:
    assert golden["a1"] == golden["b1"]


def test_two_people_sharing_a_role_inbox_stay_apart(golden: dict[str, str]) -> None:
    assert golden["a2"] != golden["b2"]


def test_a_personal_mailbox_is_no_mismatch(golden: dict[str, str]) -> None:
    assert golden["a3"] == golden["b3"]


def test_a_nickname_from_the_package_merges(golden: dict[str, str]) -> None:
    assert golden["a4"] == golden["b4"]  # Bill ~ William, wsmith@ and william.smith@


def test_first_and_last_swapped_merge(golden: dict[str, str]) -> None:
    assert golden["a5"] == golden["b5"]


def test_colleagues_whose_addresses_fit_one_name_stay_apart(golden: dict[str, str]) -> None:
    assert golden["a6"] != golden["b6"]


def test_an_initial_merges(golden: dict[str, str]) -> None:
    assert golden["a7"] == golden["b7"]


def test_a_role_inbox_is_no_evidence_for_a_namesake_family(golden: dict[str, str]) -> None:
    assert golden["a8"] != golden["b8"]
    assert len(set(golden.values())) == 18 - 5


def test_colleagues_on_one_line_with_one_title_stay_apart(golden: dict[str, str]) -> None:
    """Same entity, phone, title and first name, another last name outright, no shared
    address: the shared evidence is the office's, not the person's (settings.names_guard)."""
    assert golden["a9"] != golden["b9"]


def _one(sql: str) -> object:
    return duckdb.connect().execute(f"SELECT {sql}").fetchone()[0]


def test_email_helpers() -> None:
    assert _one(is_role_sql("'front.desk2@x.gov'")) is True
    assert _one(is_role_sql("'awright@x.gov'")) is False
    assert _one(is_personal_sql("'a@gmail.com'")) is True
    assert _one(is_personal_sql("'a@yahoo.co.uk'")) is True
    assert _one(is_personal_sql("'a@e102.gov'")) is False
    addresses = "['info@x.gov', 'a.b@gmail.com', 'ab@x.gov']"
    assert _one(own_sql(addresses)) == ["a.b@gmail.com", "ab@x.gov"]
    assert _one(work_sql(addresses)) == "ab@x.gov"
    assert _one(own_sql("['info@x.gov']")) is None
    assert _one(letters_sql("'angela.wright84+crm@x.gov'")) == "angela.wright"
    locals_ = _one(name_locals_sql("'angela'", "'wright'"))
    for local in ("angela.wright", "awright", "angelaw", "angela", "angela_wright",
                  "angelawright", "wright.angela"):  # fmt: skip
        assert local in locals_
    assert _one(name_locals_sql("NULL", "'wright'")) is None


def test_name_fits_is_list_contains_of_the_name_locals() -> None:
    """`name_fits_sql` (the record's `emails_wfits`) gives what `list_contains` of the list
    `name_locals_sql` makes gives, NULLs included, without making the list."""
    names = ["angela", "o'brien", "josé", "mary-jo", "a", ".", "", None, "wright", "li"]
    locals_ = ["angela.wright", "awright", "obrien", "jose.obrien", "marojo", "a", "li.a", "x",
               "wright", "", None, "maryjo.li", "lwright", "wrighta"]  # fmt: skip
    rows = [(f, l, w) for f in names for l in names for w in locals_]  # noqa: E741
    con = duckdb.connect()
    con.execute("CREATE TABLE t (f VARCHAR, l VARCHAR, w VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    fits = name_fits_sql("w", "fp", "lp")
    got = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE fits), count(*) FILTER (WHERE fits IS NULL), "
        f"count(*) FILTER (WHERE fits IS DISTINCT FROM listed) FROM (SELECT {fits} AS fits, "
        f"list_contains({name_locals_sql('f', 'l')}, w) AS listed FROM (SELECT *, "
        f"{name_part_sql('f')} AS fp, {name_part_sql('l')} AS lp FROM t))"
    ).fetchall()
    assert got[0][0] == len(rows) and got[0][1] > 20 and got[0][2] > 0
    assert got[0][3] == 0


def test_nickname_forms_come_from_the_package() -> None:
    bill, william = _one(forms_sql("'bill'")), _one(forms_sql("'william'"))
    assert set(bill) & set(william)
    assert "robert" in _one(forms_sql("'bob'"))
    assert _one(forms_sql("'zorblax'")) == ["zorblax"]
    assert _one(forms_sql("NULL")) is None


def test_the_alias_level_makes_the_name_local_parts_of_the_pair_it_compares() -> None:
    """The local parts a name makes are not a stored feature of every record (~170 bytes each,
    written, copied into Splink and joined there): the alias level makes them of the names of
    the pair it compares. Angela Wright's `awright@` fits her name; Jordan Santos's `jordans@`
    is no alias of John Santos's `jsantos@` (John's name doesn't make `jordans`, and the names
    differ)."""
    from crmpipe.config.schema import ResolveSpec
    from crmpipe.model import CONTACTS
    from crmpipe.resolution.features import derive_features, feature_columns
    from crmpipe.resolution.settings import splink_settings

    spec = ResolveSpec()
    features = derive_features(CONTACTS, spec)
    assert "emails_names" not in dict(feature_columns(CONTACTS, features))
    settings = splink_settings(CONTACTS, features, spec, prior=1e-4)
    [emails] = [c for c in settings["comparisons"] if c["output_column_name"] == "emails"]
    [alias] = [lv for lv in emails["comparison_levels"] if "aliases" in lv["label_for_charts"]]

    def pair(left: tuple[str, str, str, bool], right: tuple[str, str, str, bool]) -> object:
        cols = []
        for side, (first, last, local, fits) in (("l", left), ("r", right)):
            cols += [
                f"'{first}' AS first_name_{side}",
                f"'{last}' AS last_name_{side}",
                f"['{first}'] AS first_name_canon_{side}",
                f"'e102.gov' AS emails_wdomain_{side}",
                f"'{local}' AS emails_wlocal_{side}",
                f"'{local}' AS emails_wletters_{side}",
                f"{fits} AS emails_wfits_{side}",
            ]
        return _one(f"({alias['sql_condition']}) FROM (SELECT {', '.join(cols)})")

    assert pair(("angela", "wright", "angela.wright", True), ("angela", "wright", "awright", True))
    assert not pair(("john", "santos", "jsantos", True), ("jordan", "santos", "jordans", True))
