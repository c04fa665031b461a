"""Facility resolution (issue 11, point 6): phone first, then name + address with Splink.

Hand-made lists from three agencies feed `entities` (and `contacts` through `feeds:`); each case
plants one situation: a chain's shared number, a 7-digit local number, name and address
variants without a phone, two facilities at one address.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crmpipe.build.core import build_searches
from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.resolution.explain import explain
from crmpipe.resolution.run import evaluate, resolve
from crmpipe.warehouse.connection import connect
from support.facilities import CONFIG as FACILITIES
from support.facilities import make_facility_project

CONFIG = """\
sources:
  nv:
    path: nv*.csv
    table: entities
    columns: {display_name: Name, address: Address, state: State, phone: Phone}
    feeds:
      contacts: {columns: {full_name: Contact}}
      schedules: {columns: {monday: Contact}}
  ok:
    path: ok*.csv
    table: entities
    columns: {display_name: Company, address: Address1, city: City, state: State,
              postal_code: Zip, phone: Phone}
    feeds:
      contacts: {columns: {full_name: Caregiver}}
      schedules: {columns: {monday: Caregiver}}
  tx:
    path: tx*.csv
    table: entities
    columns: {display_name: Operation Name, address: Address, city: City, state: State,
              postal_code: Zip, phone: Phone}
"""

NV = """\
Name,Address,State,Phone,Contact
EOS FITNESS - SAHARA,"8125 W. SAHARA AVE LAS VEGAS, NV 89117",NV,702-308-3384,Ann Lee
LITTLE ACORNS DAYCARE,"12 OAK ST RENO, NV 89501",NV,555-0199,Bea Cruz
SUNSHINE ACADEMY PRE-SCHOOL,"150 N. WILLOW ST MESQUITE, NV 89027",NV,,Cy Dunn
KIDS KINGDOM LEARNING CENTER,"77 E. PINE AVE ELKO, NV 89801",NV,,Di Eames
HAPPY TREES MONTESSORI,"400 ELM ST CARSON CITY, NV 89701",NV,775-882-1000,Ed Fox
"""

OK = """\
Company,Address1,City,State,Zip,Phone,Caregiver
Bright Horizons Kids,4935 Blue Diamond Rd,Las Vegas,NV,89139,(702) 308-3384,Flo Gray
Little Acorn Learning Center,12 Oak Street,Reno,NV,89501,(775) 555-0199,Gus Hill
SUNSHINE ACADEMY PRESCHOOL INC,150 North Willow Street,Mesquite,NV,89027,,Hal Ives
Tiny Steps Daycare,400 Elm Street,Carson City,NV,89701,775-882-2000,Ida Jones
"""

TX = """\
Operation Name,Address,City,State,Zip,Phone
Kids Kingdon Learning Center,77 East Pine Avenue,Elko,NV,89801,
"""

#: (source, row) → the true facility.
TRUTH = {
    ("nv", 1): "eos",
    ("nv", 2): "acorns",
    ("nv", 3): "sunshine",
    ("nv", 4): "kingdom",
    ("nv", 5): "trees",
    ("ok", 1): "bright",
    ("ok", 2): "acorns",
    ("ok", 3): "sunshine",
    ("ok", 4): "tiny",
    ("tx", 1): "kingdom",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "crmpipe.yml").write_text(CONFIG, encoding="utf-8")
    for name, text in (("nv.csv", NV), ("ok.csv", OK), ("tx.csv", TX)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _golden(project: Path) -> dict[tuple[str, int], str]:
    con = connect(project / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute("SELECT source, row, golden_id FROM core.entity_sources").fetchall()
    finally:
        con.close()
    return {(s, r): g for s, r, g in rows}


def test_on_by_default_with_several_sources(project: Path) -> None:
    cfg = load_config(project / "crmpipe.yml")
    assert cfg.resolve_spec("entities").enabled
    assert "entities" in cfg.resolved_tables()
    one = CONFIG.split("  ok:")[0]
    (project / "crmpipe.yml").write_text(one, encoding="utf-8")
    assert not load_config(project / "crmpipe.yml").resolve_spec("entities").enabled


def test_facility_rules(project: Path) -> None:
    summary = run(load_config(project / "crmpipe.yml"))
    g = _golden(project)
    assert len(g) == len(TRUTH)
    assert g["nv", 1] != g["ok", 1]  # a chain's number: very different name and address
    assert g["nv", 2] == g["ok", 2]  # 555-0199 in NV and (775) 555-0199
    assert g["nv", 3] == g["ok", 3]  # name and address variants, no phone
    assert g["nv", 4] == g["tx", 1]  # a typo in the name, no phone: Splink
    assert g["nv", 5] != g["ok", 4]  # one address, two facilities
    assert len(set(g.values())) == len(set(TRUTH.values()))
    entities = next(t for t in summary.tables if t.table == "entities")
    assert entities.read == 10 and entities.merged == 3 and entities.balanced


def test_lineage(project: Path) -> None:
    run(load_config(project / "crmpipe.yml"))
    con = connect(project / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute(
            "SELECT source, file, row, matched_by, match_probability, golden_id, record_id "
            "FROM core.entity_sources"
        ).fetchall()
        golden = {r[0] for r in con.execute("SELECT entity_id FROM core.entities").fetchall()}
        raw = con.execute(
            "SELECT _phone_raw FROM resolved.entity_records WHERE _source = 'nv' AND _row = 2"
        ).fetchone()[0]
    finally:
        con.close()
    assert raw == "555-0199"  # kept from cleaning's issue: the 7-digit feature reads it
    via = {(s, r): (m, p) for s, _, r, m, p, _, _ in rows}
    assert {s for s, *_ in rows} == {"nv", "ok", "tx"}
    assert all(Path(f).name == f"{s}.csv" for s, f, *_ in rows)
    assert {g for *_, g, _ in rows} == golden
    for *_, m, _, g, rec in rows:  # the record naming its golden facility is `self`
        assert (m == "self") == (rec == g or list(x[5] for x in rows).count(g) == 1)
    pairs = {
        ("nv", 2): "phone (7 digits)",
        ("nv", 3): "name+address",
        ("nv", 4): "splink",
    }
    for (src, row), rule in pairs.items():
        other = next(k for k in TRUTH if TRUTH[k] == TRUTH[src, row] and k != (src, row))
        got = {via[src, row][0], via[other][0]}
        assert got == {"self", rule}, (src, row, got)
    assert 0.9 <= via["nv", 4][1] <= 1.0 or 0.9 <= via["tx", 1][1] <= 1.0
    assert all(p == 1.0 for m, p in via.values() if m != "splink")


def test_contacts_point_at_golden_facilities(project: Path) -> None:
    summary = run(load_config(project / "crmpipe.yml"))
    con = connect(project / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        dangling = con.execute(
            "SELECT count(*) FROM core.contacts c ANTI JOIN core.entities e USING (entity_id)"
        ).fetchone()[0]
        same = con.execute(
            "SELECT count(DISTINCT entity_id) FROM core.contacts "
            "WHERE full_name IN ('Cy Dunn', 'Hal Ives')"
        ).fetchone()[0]
        n = con.execute("SELECT count(*) FROM core.contacts").fetchone()[0]
        schedules = con.execute(
            "SELECT count(*), count(DISTINCT entity_id), count(*) FILTER (WHERE entity_id "
            "NOT IN (SELECT entity_id FROM core.entities)) FROM core.schedules"
        ).fetchone()
    finally:
        con.close()
    assert n == 9 and dangling == 0
    # one schedule per source row, each now naming its golden facility
    assert schedules == (9, 7, 0)
    sched = next(t for t in summary.tables if t.table == "schedules")
    assert sched.merged == 0 and sched.balanced
    assert same == 1  # both Sunshine caregivers now name the one golden facility


def test_explain_and_evaluate(project: Path) -> None:
    cfg = load_config(project / "crmpipe.yml")
    run(cfg)
    g = _golden(project)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        ex = explain(con, cfg.tables()["entities"], g["tx", 1], cfg.resolve_spec("entities"))
        ex7 = explain(con, cfg.tables()["entities"], g["nv", 2], cfg.resolve_spec("entities"))
    finally:
        con.close()
    assert len(ex.members) == 2 and [p.rule for p in ex.pairs] == ["splink"]
    steps = {s.comparison: s.level for s in ex.pairs[0].steps}
    assert steps["facility_name"] == "Jaro-Winkler >= 0.92 or contained"
    assert steps["street_address"] == "same number and street"
    assert ex7.pairs[0].rule == "phone (7 digits)"
    assert {s.comparison: s.level for s in ex7.pairs[0].steps}["phone"] == "same last 7 digits"

    truth = project / "truth.csv"
    lines = ["source,row,facility_id,malformed"]
    lines += [f"{s},{r},{t},false" for (s, r), t in TRUTH.items()]
    lines.append("tx,99,broken,true")  # a row meant for rejects: not counted
    truth.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (ev,) = evaluate(cfg, truth)
    assert ev.table == "entities" and ev.unmatched_truth_rows == 0
    assert ev.true_pairs == 3 and ev.f1 == 1.0


#: The hand-written config for the real files (/tmp/cc/crmpipe.yml, trimmed), paths relative.
CHILDCARE_CONFIG = """\
sources:
  source1:
    path: source1*.csv
    table: entities
    drops: newest
    columns: {display_name: Name, address: Address, state: State, county: County,
              phone: Phone}
    feeds:
      contacts: {columns: {full_name: Primary Contact Name, title: Primary Contact Role}}
      licenses: {columns: {license_number: Credential Number, status: Status}}
  source2:
    path: source2*.csv
    table: entities
    drops: newest
    columns: {display_name: Company, phone: Phone, email: Email, address: Address1,
              city: City, state: State, postal_code: Zip}
    feeds:
      contacts: {columns: {full_name: Primary Caregiver}}
  source3:
    path: source3*.csv
    table: entities
    drops: newest
    columns: {display_name: Operation Name, phone: Phone, email: Email Address,
              address: Address, city: City, state: State, postal_code: Zip, county: County}
    feeds:
      licenses: {columns: {license_number: Operation, status: Status}}
"""


def test_real_childcare_files(tmp_path: Path) -> None:
    data = Path("/work/shared/data/childcare")
    if not (data / "source1.csv").is_file():
        pytest.skip("the real childcare files are not here")
    for f in data.glob("source*.csv"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "crmpipe.yml").write_text(CHILDCARE_CONFIG, encoding="utf-8")
    cfg = load_config(tmp_path / "crmpipe.yml")
    assert "entities" in cfg.resolved_tables()  # three lists: on without being asked
    summary = run(cfg)
    assert all(t.balanced for t in summary.tables)
    con = connect(cfg.warehouse_path, read_only=True)
    try:
        lineage, staged = con.execute(
            "SELECT (SELECT count(*) FROM core.entity_sources), "
            "(SELECT count(*) FROM staging.entities)"
        ).fetchone()
        chain = con.execute(
            "SELECT count(DISTINCT golden_id), count(*) FROM core.entity_sources s "
            "JOIN resolved.entity_records r ON r._file = s.file AND r._row = s.row "
            "WHERE r.display_name LIKE 'EOS FITNESS%'"
        ).fetchone()
    finally:
        con.close()
    assert lineage == staged
    assert chain == (4, 4)  # four gyms, three sharing one number, stay four facilities


def test_resolve_brings_every_search_table_up_to_date(tmp_path: Path) -> None:
    """`crmpipe resolve` after a settings change that splits a facility: facility_search (and
    contact_search beside it) show the new golden records, as a fresh build of them would —
    not the ones of the last run (facility_search was left as it was, one row short)."""
    cfg = make_facility_project(tmp_path)
    (tmp_path / "crmpipe.yml").write_text(
        FACILITIES + "resolve:\n  entities:\n    threshold: 0.999999\n"
        "    comparisons: {phone: 'off', display_name: 'off'}\n",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "crmpipe.yml")
    resolve(cfg, full=True)
    con = connect(cfg.warehouse_path)
    try:
        golden = con.execute("SELECT list(entity_id ORDER BY entity_id) FROM core.entities")
        ids = golden.fetchall()[0][0]
        assert len(ids) == 6  # Desert Kids, on both lists, now two facilities
        searched = con.execute(
            "SELECT list(entity_id ORDER BY entity_id) FROM search.facility_search"
        ).fetchall()[0][0]
        assert searched == ids
        tables = ("facility_search", "contact_search")
        kept = {t: con.execute(f"SELECT * FROM search.{t} ORDER BY ALL").fetchall() for t in tables}
        con.execute("BEGIN TRANSACTION")
        build_searches(con, cfg, full=True)  # what a fresh build makes of the same tables
        for t in tables:
            assert con.execute(f"SELECT * FROM search.{t} ORDER BY ALL").fetchall() == kept[t]
        con.execute("ROLLBACK")
    finally:
        con.close()
