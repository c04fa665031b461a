"""The two-CRM case (docs/crm-merge.md): a HubSpot and a Salesforce contact export of one
company's customers, with their companies inline, and the truth of who is who.

About 30% of the people are in both CRMs. Company names vary by legal form, case and
punctuation (`Acme Logistics 4 Inc.` in HubSpot, `ACME LOGISTICS 4 INCORPORATED` in
Salesforce); HubSpot's company is free text on each contact, so it varies within the file
too, while a Salesforce account has one name. Some people use a personal address
(`…@gmail.com`), and some changed company between the two CRMs (the old one in Salesforce,
the new one in HubSpot, one personal address in both). Everything is generated in DuckDB SQL
from hashes of the row number, so 1M rows take seconds and the same seed gives the same files.

Files: `data/hubspot_contacts.csv` (HubSpot's "all contacts" export, display-name headers,
commas), `data/salesforce_contacts.csv` (a Data Loader export of Contact, API-name headers,
semicolons, a BOM) and `truth.csv`: `contact_id, person_id, company_id, source` for every row.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from crmpipe.demo.datasets import GeneratedCase

FIRST = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
    "Margaret", "Donald", "Sandra", "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily",
    "Joshua", "Donna", "Kenneth", "Michelle", "Kevin", "Dorothy", "Brian", "Carol", "George",
    "Amanda", "Timothy", "Melissa", "Ronald", "Deborah", "Edward", "Stephanie", "Jason",
    "Rebecca", "Jeffrey", "Sharon", "Ryan", "Laura", "Jacob", "Cynthia", "Gary", "Kathleen",
    "Nicholas", "Amy", "Eric", "Angela", "Jonathan", "Shirley", "Stephen", "Anna", "Larry",
    "Brenda", "Justin", "Pamela", "Scott", "Emma", "Brandon", "Nicole", "Benjamin", "Helen",
    "Samuel", "Samantha", "Gregory", "Katherine", "Alexander", "Christine", "Frank", "Debra",
    "Patrick", "Rachel", "Raymond", "Carolyn", "Jack", "Janet", "Dennis", "Catherine", "Jerry",
    "Maria", "Tyler", "Heather",
)  # fmt: skip
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson",
    "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson",
    "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole",
    "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens",
    "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald",
)  # fmt: skip
BRAND = (
    "Acme", "Apex", "Summit", "Pioneer", "Keystone", "Harbor", "Beacon", "Cascade", "Evergreen",
    "Granite", "Horizon", "Liberty", "Meridian", "Northstar", "Pinnacle", "Redwood", "Sterling",
    "Trident", "Vanguard", "Willow", "Atlas", "Bluewater", "Crescent", "Delta", "Falcon",
    "Golden Gate", "Highland", "Ironwood", "Juniper", "Lakeside", "Maple", "Oakridge", "Prairie",
    "Quantum", "Riverbend", "Silverline", "Timberline", "Union", "Westfield", "Zenith",
)  # fmt: skip
TRADE = (
    "Logistics", "Manufacturing", "Software", "Health Partners", "Foods", "Consulting",
    "Engineering", "Capital", "Builders", "Energy", "Media", "Analytics", "Supply", "Labs",
    "Freight", "Medical", "Systems", "Industries", "Holdings", "Retail",
)  # fmt: skip
#: Legal-form families: how each CRM may spell one company's form.
FORMS = (
    ("Inc.", "Inc", "Incorporated", "INC.", ", Inc."),
    ("LLC", "L.L.C.", "Llc", ", LLC", "LLC."),
    ("Corp.", "Corporation", "Corp", "CORP", ", Corp."),
    ("Co.", "Company", "Co", "CO.", "& Co."),
    ("Ltd", "Limited", "Ltd.", "LTD", ", Ltd."),
)
#: (state, area codes) of the people's phones.
STATES = (
    ("CA", (415, 510, 650, 213, 619)), ("TX", (512, 214, 713, 210, 817)),
    ("NY", (212, 718, 516, 914, 585)), ("FL", (305, 407, 813, 904, 561)),
    ("IL", (312, 773, 847, 630, 217)), ("WA", (206, 425, 253, 509, 360)),
    ("MA", (617, 508, 781, 978, 413)), ("GA", (404, 770, 678, 912, 706)),
    ("CO", (303, 720, 719, 970, 303)), ("OH", (614, 216, 513, 330, 419)),
    ("NC", (704, 919, 336, 910, 828)), ("AZ", (602, 480, 520, 623, 928)),
)  # fmt: skip
TITLES = (
    "Sales Manager", "VP Operations", "Buyer", "Director of IT", "Engineer", "CFO",
    "Account Executive",
)  # fmt: skip
FREE_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")

#: Shares of people: in both CRMs, and of those, who changed company between them.
BOTH, MOVED = 0.30, 0.05
#: People per company, on average.
PER_COMPANY = 8


def _lst(values: tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: tuple, h: str) -> str:
    """SQL: the element of `values` a hash expression picks."""
    return f"{_lst(tuple(str(v) for v in values))}[1 + ({h}) % {len(values)}]"


def _u(*parts: object) -> str:
    """SQL: a uniform number in [0, 1) from a hash of `parts`."""
    return f"(hash({', '.join(str(p) for p in parts)}) % 1000000) / 1000000.0"


def _h(*parts: object) -> str:
    return f"CAST(hash({', '.join(str(p) for p in parts)}) % 1000000007 AS BIGINT)"


def _phone_fmt(digits: str, h: str) -> str:
    """SQL: 10 digits written one of four ways."""
    digits = f"({digits})"
    a, b, c = f"{digits}[1:3]", f"{digits}[4:6]", f"{digits}[7:10]"
    return (
        f"CASE ({h}) % 4 WHEN 0 THEN '(' || {a} || ') ' || {b} || '-' || {c} "
        f"WHEN 1 THEN {a} || '-' || {b} || '-' || {c} WHEN 2 THEN '+1 ' || {a} || ' ' || {b} "
        f"|| ' ' || {c} ELSE {digits} END"
    )


def _company_sql(n: int, seed: int) -> str:
    """SQL of the companies: id, base name, legal-form family, domain, state, account id."""
    per = len(BRAND) * len(TRADE)
    brand = f"{_lst(BRAND)}[1 + (i % {len(BRAND)})]"
    trade = f"{_lst(TRADE)}[1 + ((i // {len(BRAND)}) % {len(TRADE)})]"
    base = f"{brand} || ' ' || {trade} || ' ' || CAST(1 + i // {per} AS VARCHAR)"
    return f"""
    SELECT i AS company_id, {base} AS base,
      CAST({_h("i", seed, "'form'")} % {len(FORMS)} AS INTEGER) AS family,
      regexp_replace(lower({base}), '[^a-z0-9]', '', 'g') || '.com' AS domain,
      CAST({_h("i", seed, "'st'")} % {len(STATES)} AS INTEGER) AS st,
      '001' || lpad(upper(to_hex(i * 7919 + {seed} * 31 + 17)), 12, '0') || 'QAA' AS account_id
    FROM range({n}) t(i)
    """


def _form(variant: str) -> str:
    """SQL: company name spelled with the legal-form variant `variant` (an index 0–4)."""
    forms = "[" + ", ".join(_lst(f) for f in FORMS) + "]"
    v = f"{forms}[1 + family][1 + {variant}]"
    return f"CASE WHEN starts_with({v}, ',') THEN base || {v} ELSE base || ' ' || {v} END"


def _people_sql(people: int, companies: int, seed: int) -> str:
    """SQL of the people: who they are, where they work (and worked), in which CRMs."""
    first, last = _pick(FIRST, _h("p", seed, "'f'")), _pick(LAST, _h("p", seed, "'l'"))
    return f"""
    WITH p0 AS (
      SELECT p AS person_id, {first} AS first, {last} AS last,
        CAST({_h("p", seed, "'co'")} % {companies} AS BIGINT) AS company_id,
        {_u("p", seed, "'in'")} AS r_in, {_u("p", seed, "'mv'")} AS r_mv,
        {_u("p", seed, "'pe'")} AS r_personal,
        lpad(CAST(2000000 + {_h("p", seed, "'d'")} % 7999999 AS VARCHAR), 7, '0') AS desk7,
        lpad(CAST(2000000 + {_h("p", seed, "'m'")} % 7999999 AS VARCHAR), 7, '0') AS mobile7,
        {_h("p", seed, "'ac'")} % 5 AS ac, {_h("p", seed, "'ps'")} % {len(STATES)} AS pst,
        {_h("p", seed, "'fd'")} AS hfree
      FROM range({people}) t(p)),
    p1 AS (
      SELECT *, CASE WHEN r_in < {BOTH} THEN 'both' WHEN r_in < {BOTH + (1 - BOTH) / 2}
          THEN 'hubspot' ELSE 'salesforce' END AS crms,
        r_in < {BOTH * MOVED} AS moved,
        row_number() OVER (PARTITION BY company_id, first, last ORDER BY person_id) AS twin
      FROM p0)
    SELECT p1.*,
      CASE WHEN moved THEN (company_id + 1 + {_h("person_id", seed, "'old'")}
        % {max(companies - 1, 1)}) % {companies} ELSE company_id END AS old_company_id,
      lower(first) || '.' || lower(last) || CASE WHEN twin > 1 THEN CAST(twin AS VARCHAR) ELSE ''
        END AS local,
      lower(first) || lower(last) || CAST(person_id AS VARCHAR) || '@'
        || {_pick(FREE_DOMAINS, "hfree")} AS personal
    FROM p1
    """


def _rows_sql(crm: str, seed: int) -> str:
    """SQL of one CRM's contact rows (before formatting): person, company, email, phones."""
    moved_side = "old_company_id" if crm == "salesforce" else "company_id"
    return f"""
    SELECT p.*, p.{moved_side} AS row_company,
      CASE WHEN moved OR r_personal < 0.12 THEN personal
        WHEN crm_mix < 0.15 THEN personal
        ELSE local || '@' || c.domain END AS email,
      c.base, c.family, c.domain, c.account_id, c.st AS company_st,
      {_lst(tuple(s for s, _ in STATES))}[1 + c.st] AS state,
      '[' || CAST(1 + c.st AS VARCHAR) || ']' AS st_key,
      {_u("person_id", seed, f"'{crm}v'")} AS r_var,
      {_h("person_id", seed, f"'{crm}h'")} AS hv
    FROM (SELECT *, {_u("person_id", seed, f"'{crm}mix'")} AS crm_mix FROM people
          WHERE crms IN ('both', '{crm}')) p
    JOIN companies c ON c.company_id = p.{moved_side}
    """


def _area(state_idx: str, ac: str) -> str:
    codes = "[" + ", ".join("[" + ", ".join(str(c) for c in cs) + "]" for _, cs in STATES) + "]"
    return f"CAST({codes}[1 + {state_idx}][1 + {ac}] AS VARCHAR)"


def generate(folder: Path, *, contacts: int = 10_000, seed: int = 0) -> GeneratedCase:
    """Write the two exports (about `contacts` rows together) and the truth into `folder`."""
    folder = Path(folder)
    data = folder / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    people = max(2, round(contacts / (1 + BOTH)))
    companies = max(2, people // PER_COMPANY)
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE companies AS {_company_sql(companies, seed)}")
        con.execute(f"CREATE TABLE people AS {_people_sql(people, companies, seed)}")
        counts = {}
        for crm in ("hubspot", "salesforce"):
            con.execute(f"CREATE TABLE {crm} AS {_rows_sql(crm, seed)}")
        counts.update(_write_hubspot(con, data / "hubspot_contacts.csv", seed))
        counts.update(_write_salesforce(con, data / "salesforce_contacts.csv", seed))
        truth = folder / "truth.csv"
        con.execute(
            f"""COPY (
              SELECT CAST(100001 + rn AS VARCHAR) AS contact_id, person_id, row_company AS
                company_id, 'hubspot' AS source FROM (SELECT *, row_number() OVER
                (ORDER BY person_id) - 1 AS rn FROM hubspot)
              UNION ALL
              SELECT sf_id, person_id, row_company, 'salesforce' FROM (SELECT *, {_sf_id()}
                AS sf_id FROM salesforce)
              ORDER BY source, contact_id) TO '{truth}' (HEADER)"""
        )
        (both,) = con.execute("SELECT count(*) FROM people WHERE crms = 'both'").fetchone()
        (moved,) = con.execute("SELECT count(*) FROM people WHERE moved").fetchone()
        counts |= {"people": people, "companies": companies, "people_in_both": both,
                   "moved": moved}  # fmt: skip
    finally:
        con.close()
    files = [data / "hubspot_contacts.csv", data / "salesforce_contacts.csv"]
    config = folder / "crmpipe.yml"
    return GeneratedCase(folder, config, truth, files, counts)


def _sf_id() -> str:
    return "'003' || lpad(upper(to_hex(person_id * 104729 + 7)), 12, '0') || 'QAE'"


def _date(h: str) -> str:
    """SQL: a creation timestamp in 2019–2025 from a hash."""
    return f"TIMESTAMP '2019-01-01' + to_seconds(CAST(({h}) % 220000000 AS BIGINT))"


def _write_hubspot(con: duckdb.DuckDBPyConnection, path: Path, seed: int) -> dict[str, int]:
    """HubSpot: display-name headers; the company is free text typed per contact."""
    phone_digits = f"{_area('pst', 'ac')} || CASE WHEN hv % 10 < 6 THEN mobile7 ELSE desk7 END"
    name = _form("CASE WHEN r_var < 0.7 THEN 0 ELSE hv % 5 END")
    name = f"CASE WHEN hv % 7 = 0 THEN lower({name}) ELSE {name} END"
    con.execute(
        f"""COPY (
          SELECT CAST(100001 + row_number() OVER (ORDER BY person_id) - 1 AS VARCHAR)
              AS "Record ID",
            first AS "First Name", last AS "Last Name",
            CASE WHEN hv % 23 = 0 THEN upper(email) ELSE email END AS "Email",
            {_phone_fmt(phone_digits, "hv // 3")} AS "Phone Number",
            {_pick(TITLES, "hv // 11")} AS "Job Title",
            {name} AS "Company Name", state AS "State/Region",
            strftime({_date("hv // 13")}, '%Y-%m-%d %H:%M') AS "Create Date"
          FROM hubspot ORDER BY person_id) TO '{path}' (HEADER)"""
    )
    return {path.name: con.execute("SELECT count(*) FROM hubspot").fetchone()[0]}


def _write_salesforce(con: duckdb.DuckDBPyConnection, path: Path, seed: int) -> dict[str, int]:
    """Salesforce Data Loader: API-name headers, semicolons, a BOM; one name per account."""
    desk = f"{_area('pst', 'ac')} || desk7"
    mobile = f"{_area('pst', 'ac')} || mobile7"
    sfv, sfu = _h("company_id", seed, "'sfv'"), _h("company_id", seed, "'sfu'")
    account = _form(f"{sfv} % 5")
    account = f"CASE WHEN {sfu} % 3 = 0 THEN upper({account}) ELSE {account} END"
    tmp = path.with_suffix(".tmp")
    con.execute(
        f"""COPY (
          SELECT {_sf_id()} AS "Id", account_id AS "AccountId", {account} AS "Account.Name",
            CASE WHEN hv % 29 = 0 THEN upper(first) ELSE first END AS "FirstName",
            CASE WHEN hv % 31 = 0 THEN upper(last) ELSE last END AS "LastName",
            email AS "Email",
            CASE WHEN hv % 10 < 8 THEN {_phone_fmt(desk, "hv // 5")} END AS "Phone",
            CASE WHEN hv % 10 >= 4 THEN {_phone_fmt(mobile, "hv // 7")} END AS "MobilePhone",
            {_pick(TITLES, "hv // 11")} AS "Title",
            state AS "MailingState",
            strftime({_date("hv // 17")}, '%Y-%m-%dT%H:%M:%S.000+0000') AS "CreatedDate"
          FROM salesforce ORDER BY person_id) TO '{tmp}' (HEADER, DELIMITER ';')"""
    )
    with path.open("wb") as out, tmp.open("rb") as src:
        out.write("\ufeff".encode())
        shutil.copyfileobj(src, out, 1 << 20)
    tmp.unlink()
    return {path.name: con.execute("SELECT count(*) FROM salesforce").fetchone()[0]}
