"""Vocabularies for the demo generators: people, local-government titles, US states, formats.

Person names come from Faker's en_US providers (with their frequency weights) so the mix of
names is realistic; the rest is small domain knowledge (titles of local government, area codes
and rough extents of each state) that no library ships. Everything here is plain data plus
helpers that turn it into numpy arrays of choices and probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from faker.providers.address.en_US import Provider as _AddressProvider
from faker.providers.person.en_US import Provider as _PersonProvider

from crmpipe.clean import places

# --------------------------------------------------------------------------------------------
# People

#: Nicknames a CRM often records instead of the given name (share of the given name's holders
#: recorded under a nickname, then the nicknames with their relative weights). Without this the
#: Faker lists, built from birth records, would almost never say "Bob".
NICKNAMES: dict[str, tuple[float, dict[str, float]]] = {
    "Robert": (0.30, {"Bob": 0.5, "Rob": 0.25, "Bobby": 0.25}),
    "William": (0.25, {"Bill": 0.6, "Will": 0.4}),
    "James": (0.20, {"Jim": 0.7, "Jimmy": 0.3}),
    "Michael": (0.20, {"Mike": 1.0}),
    "Richard": (0.25, {"Rick": 0.5, "Rich": 0.3, "Dick": 0.2}),
    "Thomas": (0.25, {"Tom": 1.0}),
    "Joseph": (0.20, {"Joe": 1.0}),
    "Charles": (0.20, {"Chuck": 0.5, "Charlie": 0.5}),
    "Daniel": (0.20, {"Dan": 1.0}),
    "David": (0.15, {"Dave": 1.0}),
    "Christopher": (0.25, {"Chris": 1.0}),
    "Matthew": (0.20, {"Matt": 1.0}),
    "Anthony": (0.20, {"Tony": 1.0}),
    "Steven": (0.20, {"Steve": 1.0}),
    "Kenneth": (0.25, {"Ken": 1.0}),
    "Edward": (0.25, {"Ed": 0.5, "Eddie": 0.5}),
    "Gregory": (0.25, {"Greg": 1.0}),
    "Timothy": (0.25, {"Tim": 1.0}),
    "Jennifer": (0.15, {"Jen": 0.5, "Jenny": 0.5}),
    "Elizabeth": (0.25, {"Liz": 0.4, "Beth": 0.4, "Betsy": 0.2}),
    "Katherine": (0.25, {"Kathy": 0.5, "Kate": 0.5}),
    "Margaret": (0.25, {"Peggy": 0.5, "Maggie": 0.5}),
    "Patricia": (0.25, {"Pat": 0.5, "Trish": 0.5}),
    "Susan": (0.20, {"Sue": 1.0}),
    "Deborah": (0.25, {"Debbie": 0.7, "Deb": 0.3}),
    "Rebecca": (0.25, {"Becky": 1.0}),
    "Kimberly": (0.20, {"Kim": 1.0}),
    "Samantha": (0.20, {"Sam": 1.0}),
}


@dataclass(frozen=True)
class NameVocab:
    """Names with sampling probabilities (one table per gender for first names)."""

    names: np.ndarray  # object array of str
    probs: np.ndarray  # float64, sums to 1


def _with_nicknames(weights: dict[str, float]) -> dict[str, float]:
    out = dict(weights)
    for given, (share, nicks) in NICKNAMES.items():
        w = out.get(given)
        if not w:
            continue
        out[given] = w * (1 - share)
        for nick, part in nicks.items():
            out[nick] = out.get(nick, 0.0) + w * share * part
    return out


def _vocab(weights: dict[str, float]) -> NameVocab:
    names = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=np.float64)
    return NameVocab(names, p / p.sum())


@cache
def first_names(gender: str) -> NameVocab:
    """First names for `gender` ('m' or 'f') from Faker's en_US lists, plus common nicknames."""
    src = _PersonProvider.first_names_male if gender == "m" else _PersonProvider.first_names_female
    return _vocab(_with_nicknames(dict(src)))


@cache
def last_names() -> NameVocab:
    """Last names from Faker's en_US list with its frequency weights."""
    return _vocab(dict(_PersonProvider.last_names))


#: Personal mailbox providers, with their rough share among personal addresses.
PERSONAL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.50),
    ("yahoo.com", 0.18),
    ("hotmail.com", 0.10),
    ("outlook.com", 0.08),
    ("aol.com", 0.08),
    ("comcast.net", 0.06),
)

# --------------------------------------------------------------------------------------------
# Titles and departments of local government

#: Kinds of public-sector entity, decided from the Census summary level (`sum_lev`).
KINDS: tuple[str, ...] = ("muni", "county", "school", "state")


def kind_of_sum_lev(sum_lev: str) -> str:
    """The entity kind of a Census summary level: 160/60 places and towns, 50 counties, ..."""
    return {"50": "county", "970": "school", "40": "state", "360": "state"}.get(
        sum_lev.strip(), "muni"
    )


# (title, department, weight in municipalities, counties, school districts, state agencies)
_TITLES: tuple[tuple[str, str, float, float, float, float], ...] = (
    # administration and elected officials
    ("City Manager", "Administration", 3, 0, 0, 0),
    ("Assistant City Manager", "Administration", 1.5, 0, 0, 0),
    ("Town Manager", "Administration", 1.5, 0, 0, 0),
    ("Town Administrator", "Administration", 1, 0, 0, 0),
    ("City Administrator", "Administration", 1.2, 0, 0, 0),
    ("County Administrator", "Administration", 0, 3, 0, 0),
    ("County Manager", "Administration", 0, 2, 0, 0),
    ("County Executive", "Administration", 0, 0.8, 0, 0),
    ("Agency Director", "Administration", 0, 0, 0, 2),
    ("Deputy Director", "Administration", 0, 0, 0, 2),
    ("Chief of Staff", "Administration", 0.3, 0.3, 0, 1),
    ("Program Manager", "Administration", 0.3, 0.5, 0.3, 3),
    ("Executive Assistant", "Administration", 1.5, 1.2, 1, 1),
    ("Administrative Assistant", "Administration", 2.5, 2.5, 2, 2),
    ("Office Manager", "Administration", 1, 1, 0.5, 0.5),
    ("Receptionist", "Administration", 0.8, 0.6, 0.5, 0.3),
    ("Grants Manager", "Administration", 0.5, 0.6, 0.4, 1),
    ("Mayor", "City Council", 3, 0, 0, 0),
    ("Vice Mayor", "City Council", 0.5, 0, 0, 0),
    ("Mayor Pro Tem", "City Council", 0.5, 0, 0, 0),
    ("Council Member", "City Council", 6, 0, 0, 0),
    ("Councilmember", "City Council", 2, 0, 0, 0),
    ("City Council Member", "City Council", 1.5, 0, 0, 0),
    ("Alderman", "City Council", 1, 0, 0, 0),
    ("County Commissioner", "Board of Commissioners", 0, 5, 0, 0),
    ("Commission Chair", "Board of Commissioners", 0, 1, 0, 0),
    ("Clerk to the Board", "Board of Commissioners", 0, 1, 0, 0),
    ("Board Member", "Board of Education", 0, 0, 3, 0),
    ("School Board President", "Board of Education", 0, 0, 1, 0),
    # clerks and records
    ("City Clerk", "Clerk's Office", 4, 0, 0, 0),
    ("Town Clerk", "Clerk's Office", 2, 0, 0, 0),
    ("Deputy Clerk", "Clerk's Office", 3, 1.5, 0, 0),
    ("Deputy City Clerk", "Clerk's Office", 1.5, 0, 0, 0),
    ("Assistant City Clerk", "Clerk's Office", 1, 0, 0, 0),
    ("Records Clerk", "Clerk's Office", 1, 0.8, 0, 0.3),
    ("County Clerk", "Clerk's Office", 0, 3, 0, 0),
    ("Deputy County Clerk", "Clerk's Office", 0, 1.5, 0, 0),
    ("Register of Deeds", "Register of Deeds", 0, 1, 0, 0),
    # finance
    ("Finance Director", "Finance", 4, 3, 0.5, 1),
    ("Director of Finance", "Finance", 3, 2, 1, 1),
    ("Finance Officer", "Finance", 2, 1.5, 0.5, 0.5),
    ("Finance Manager", "Finance", 1.5, 1, 0.5, 0.5),
    ("Assistant Finance Director", "Finance", 1, 0.8, 0, 0.3),
    ("Deputy Finance Director", "Finance", 0.7, 0.5, 0, 0.3),
    ("Finance Clerk", "Finance", 1.5, 1, 0, 0),
    ("Chief Financial Officer", "Finance", 0.7, 0.7, 1, 1),
    ("Treasurer", "Finance", 2, 1, 0.5, 0),
    ("City Treasurer", "Finance", 1, 0, 0, 0),
    ("Accounts Payable Clerk", "Finance", 2.5, 2, 1, 0.5),
    ("Accounts Payable Specialist", "Finance", 1, 1, 0.5, 0.5),
    ("Accounts Receivable Clerk", "Finance", 1, 0.8, 0.3, 0.3),
    ("Manager, Accounts Payable", "Finance", 0.3, 0.3, 0, 0.3),
    ("Payroll Specialist", "Finance", 1.5, 1.5, 1, 0.5),
    ("Payroll Clerk", "Finance", 1, 1, 0.5, 0),
    ("Budget Analyst", "Finance", 1, 1.5, 0.3, 2),
    ("Budget Manager", "Finance", 0.6, 0.8, 0, 1),
    ("Accountant", "Finance", 1.5, 1.5, 0.5, 1),
    ("Controller", "Finance", 0.6, 0.5, 0.3, 0.5),
    ("Comptroller", "Finance", 0.4, 0.5, 0, 1),
    ("Revenue Manager", "Finance", 0.5, 0.5, 0, 0.5),
    ("Utility Billing Clerk", "Finance", 1.5, 0, 0, 0),
    ("Utility Billing Supervisor", "Finance", 0.5, 0, 0, 0),
    ("Bookkeeper", "Business Office", 0.3, 0, 1, 0),
    ("Business Manager", "Business Office", 0, 0, 2, 0),
    ("County Treasurer", "Treasurer's Office", 0, 2, 0, 0),
    ("Deputy Treasurer", "Treasurer's Office", 0.3, 1, 0, 0),
    ("Tax Collector", "Tax Office", 0.5, 1.5, 0, 0),
    ("Revenue Commissioner", "Tax Office", 0, 1, 0, 0),
    ("Tax Assessor", "Assessor's Office", 0, 1.5, 0, 0),
    ("County Assessor", "Assessor's Office", 0, 1.5, 0, 0),
    ("Appraiser", "Assessor's Office", 0, 1, 0, 0),
    ("Purchasing Agent", "Purchasing", 1, 1, 0.5, 0.5),
    ("Purchasing Manager", "Purchasing", 0.7, 0.7, 0.3, 0.5),
    ("Procurement Officer", "Purchasing", 0.7, 0.7, 0, 2),
    ("Contract Specialist", "Purchasing", 0.3, 0.3, 0, 1.5),
    # public safety
    ("Chief of Police", "Police", 3, 0, 0, 0),
    ("Police Chief", "Police", 1.5, 0, 0, 0),
    ("Deputy Police Chief", "Police", 0.7, 0, 0, 0),
    ("Police Captain", "Police", 1, 0, 0, 0),
    ("Police Lieutenant", "Police", 1, 0, 0, 0),
    ("Police Sergeant", "Police", 1, 0, 0, 0),
    ("Police Officer", "Police", 2, 0, 0, 0),
    ("Records Supervisor", "Police", 0.5, 0, 0, 0),
    ("Sheriff", "Sheriff's Office", 0, 2, 0, 0),
    ("Chief Deputy", "Sheriff's Office", 0, 1, 0, 0),
    ("Jail Administrator", "Sheriff's Office", 0, 0.8, 0, 0),
    ("Fire Chief", "Fire", 3, 0.5, 0, 0),
    ("Deputy Fire Chief", "Fire", 0.8, 0, 0, 0),
    ("Assistant Fire Chief", "Fire", 0.6, 0, 0, 0),
    ("Fire Marshal", "Fire", 1, 0.5, 0, 0.3),
    ("Battalion Chief", "Fire", 0.8, 0, 0, 0),
    ("Fire Captain", "Fire", 0.6, 0, 0, 0),
    ("Emergency Management Coordinator", "Emergency Management", 0.8, 1, 0, 0.5),
    ("Emergency Management Director", "Emergency Management", 0.3, 1, 0, 0.5),
    ("EMA Director", "Emergency Management", 0, 1, 0, 0),
    ("911 Director", "Emergency Management", 0, 0.8, 0, 0),
    # technology
    ("IT Manager", "Information Technology", 2.5, 2, 0.5, 1),
    ("IT Director", "Information Technology", 2, 2, 0.5, 1),
    ("Director of Information Technology", "Information Technology", 1, 1, 0, 0.5),
    ("Director, Information Technology", "Information Technology", 0.3, 0.3, 0, 0.3),
    ("Chief Information Officer", "Information Technology", 0.7, 0.7, 0.3, 1),
    ("Network Administrator", "Information Technology", 1.2, 1.2, 1, 1),
    ("Systems Administrator", "Information Technology", 1, 1, 0.5, 1),
    ("Systems Analyst", "Information Technology", 0.5, 0.5, 0, 1.5),
    ("IT Specialist", "Information Technology", 1, 1, 0.5, 1),
    ("GIS Coordinator", "Information Technology", 0.8, 1, 0, 0.5),
    ("GIS Analyst", "Information Technology", 0.8, 0.8, 0, 0.5),
    ("Help Desk Technician", "Information Technology", 0.6, 0.6, 0.5, 0.5),
    ("Technology Director", "Technology", 0, 0, 2, 0),
    ("Director of Technology", "Technology", 0, 0, 1.5, 0),
    ("Technology Coordinator", "Technology", 0, 0, 1.5, 0),
    # planning, building, development
    ("Planning Director", "Planning & Zoning", 2, 1.5, 0, 0),
    ("Director of Planning", "Planning & Zoning", 1, 0.8, 0, 0),
    ("City Planner", "Planning & Zoning", 1.5, 0, 0, 0),
    ("Senior Planner", "Planning & Zoning", 1, 1, 0, 0),
    ("Zoning Administrator", "Planning & Zoning", 1.2, 1, 0, 0),
    ("Planning and Zoning Administrator", "Planning & Zoning", 0.6, 0.5, 0, 0),
    ("Building Official", "Building & Inspections", 2, 1.5, 0, 0),
    ("Chief Building Official", "Building & Inspections", 1, 0.8, 0, 0),
    ("Building Inspector", "Building & Inspections", 1.5, 1.2, 0, 0),
    ("Permit Technician", "Building & Inspections", 1.5, 1.2, 0, 0),
    ("Code Enforcement Officer", "Code Enforcement", 1.5, 1, 0, 0),
    ("Community Development Director", "Community Development", 1.5, 1, 0, 0),
    ("Economic Development Director", "Economic Development", 1.2, 1, 0, 0.5),
    ("City Engineer", "Engineering", 1.5, 0, 0, 0),
    ("County Engineer", "Engineering", 0, 1.2, 0, 0),
    ("Civil Engineer", "Engineering", 0.8, 0.8, 0, 0.5),
    # people
    ("HR Director", "Human Resources", 2, 2, 1, 1),
    ("Human Resources Director", "Human Resources", 1.5, 1.5, 0.5, 0.5),
    ("Director of Human Resources", "Human Resources", 1, 1, 1, 0.5),
    ("HR Manager", "Human Resources", 1, 1, 0.5, 0.5),
    ("Human Resources Generalist", "Human Resources", 1, 1, 0.5, 0.5),
    ("HR Specialist", "Human Resources", 0.8, 0.8, 0.5, 0.8),
    ("Benefits Coordinator", "Human Resources", 0.5, 0.5, 0.5, 0.3),
    ("Risk Manager", "Human Resources", 0.4, 0.5, 0.2, 0.3),
    # parks, works, utilities
    ("Parks & Recreation Director", "Parks & Recreation", 2, 0.8, 0, 0),
    ("Parks and Recreation Director", "Parks & Recreation", 1, 0.5, 0, 0),
    ("Director of Parks and Recreation", "Parks & Recreation", 0.8, 0.3, 0, 0),
    ("Recreation Supervisor", "Parks & Recreation", 1, 0.3, 0, 0),
    ("Recreation Coordinator", "Parks & Recreation", 1, 0.3, 0, 0),
    ("Parks Superintendent", "Parks & Recreation", 0.6, 0.3, 0, 0),
    ("Aquatics Coordinator", "Parks & Recreation", 0.4, 0, 0, 0),
    ("Public Works Director", "Public Works", 3, 1.5, 0, 0),
    ("Director of Public Works", "Public Works", 1.5, 1, 0, 0),
    ("Public Works Superintendent", "Public Works", 1, 0.5, 0, 0),
    ("Street Superintendent", "Public Works", 0.8, 0, 0, 0),
    ("Road Superintendent", "Public Works", 0, 1, 0, 0),
    ("Solid Waste Director", "Public Works", 0.3, 0.6, 0, 0),
    ("Fleet Manager", "Public Works", 0.5, 0.5, 0.3, 0.3),
    ("Utilities Director", "Utilities", 1, 0.3, 0, 0),
    ("Water Superintendent", "Utilities", 1, 0.2, 0, 0),
    ("Wastewater Superintendent", "Utilities", 0.7, 0.2, 0, 0),
    ("Facilities Manager", "Facilities", 0.6, 0.6, 0.5, 0.5),
    ("Facilities Director", "Facilities", 0, 0, 0.8, 0),
    ("Maintenance Director", "Facilities", 0, 0, 0.8, 0),
    # legal, courts, elections
    ("City Attorney", "Legal", 1.2, 0, 0, 0),
    ("Assistant City Attorney", "Legal", 0.6, 0, 0, 0),
    ("County Attorney", "Legal", 0, 1, 0, 0),
    ("General Counsel", "Legal", 0, 0, 0.3, 0.7),
    ("Paralegal", "Legal", 0.4, 0.4, 0, 0.4),
    ("Court Clerk", "Courts", 1, 0.5, 0, 0),
    ("Court Administrator", "Courts", 0.5, 0.5, 0, 0),
    ("Municipal Judge", "Courts", 0.4, 0, 0, 0),
    ("Clerk of Court", "Courts", 0, 2, 0, 0),
    ("Circuit Clerk", "Courts", 0, 1, 0, 0),
    ("Probate Judge", "Courts", 0, 1, 0, 0),
    ("Elections Director", "Elections", 0, 1.2, 0, 0),
    ("Registrar of Voters", "Elections", 0, 0.8, 0, 0),
    # community services
    ("Library Director", "Library", 1, 0.8, 0, 0),
    ("Librarian", "Library", 0.8, 0.6, 1, 0),
    ("Communications Director", "Communications", 0.8, 0.6, 0.6, 0.8),
    ("Public Information Officer", "Communications", 1, 1, 0.3, 1),
    ("Communications Manager", "Communications", 0.6, 0.5, 0.3, 0.5),
    ("Health Director", "Health", 0, 0.8, 0, 0.5),
    ("Social Services Director", "Social Services", 0, 0.8, 0, 0.3),
    ("Animal Control Officer", "Animal Services", 0.5, 0.6, 0, 0),
    ("Extension Agent", "Extension Office", 0, 0.4, 0, 0),
    ("Coroner", "Coroner's Office", 0, 0.4, 0, 0),
    ("Policy Analyst", "Policy", 0, 0, 0, 2),
    # schools
    ("Superintendent", "Superintendent's Office", 0, 0, 3, 0),
    ("Assistant Superintendent", "Superintendent's Office", 0, 0, 2, 0),
    ("Deputy Superintendent", "Superintendent's Office", 0, 0, 0.8, 0),
    ("Principal", "Schools", 0, 0, 5, 0),
    ("Assistant Principal", "Schools", 0, 0, 3, 0),
    ("Teacher", "Schools", 0, 0, 5, 0),
    ("School Secretary", "Schools", 0, 0, 2, 0),
    ("School Counselor", "Student Services", 0, 0, 2, 0),
    ("Registrar", "Student Services", 0, 0, 0.6, 0),
    ("Director of Special Education", "Special Education", 0, 0, 1.2, 0),
    ("Special Education Coordinator", "Special Education", 0, 0, 1, 0),
    ("Director of Curriculum and Instruction", "Curriculum & Instruction", 0, 0, 1.2, 0),
    ("Curriculum Coordinator", "Curriculum & Instruction", 0, 0, 0.8, 0),
    ("Director of Transportation", "Transportation", 0, 0, 1, 0.5),
    ("Transportation Director", "Transportation", 0, 0.3, 0.8, 0),
    ("Food Service Director", "Food Services", 0, 0, 1, 0),
    ("Child Nutrition Director", "Food Services", 0, 0, 0.6, 0),
    ("Athletic Director", "Athletics", 0, 0, 1, 0),
)

#: Endings of titles that get a "Senior ..." variant, and of those that get "Assistant/Deputy/
#: Interim ..." variants: the long tail real exports have.
_SENIOR_ENDINGS = (
    "Clerk",
    "Analyst",
    "Specialist",
    "Accountant",
    "Engineer",
    "Inspector",
    "Technician",
    "Coordinator",
    "Administrator",
    "Generalist",
    "Agent",
)
_HEAD_ENDINGS = ("Director", "Manager", "Superintendent", "Official", "Engineer", "Planner")
_RANK_PREFIXES = ("Assistant ", "Deputy ", "Interim ", "Senior ", "Acting ", "Chief ")


@dataclass(frozen=True)
class TitleVocab:
    """Titles, the department each belongs to, and per-kind sampling probabilities."""

    titles: np.ndarray  # object array of str
    title_dept: np.ndarray  # int index into departments, per title
    departments: np.ndarray  # object array of str
    probs: dict[str, np.ndarray]  # kind -> probabilities over titles


@cache
def titles() -> TitleVocab:
    """The title vocabulary with its long tail of ranked variants."""
    rows: dict[str, tuple[str, np.ndarray]] = {}
    for title, dept, *w in _TITLES:
        rows[title] = (dept, np.array(w, dtype=np.float64))
    for title, dept, *w in _TITLES:
        weights = np.array(w, dtype=np.float64)
        if title.startswith(_RANK_PREFIXES) or "," in title:
            continue
        variants: list[tuple[str, float]] = []
        if title.endswith(_SENIOR_ENDINGS):
            variants.append((f"Senior {title}", 0.25))
        if title.endswith(_HEAD_ENDINGS):
            variants += [
                (f"Assistant {title}", 0.12),
                (f"Deputy {title}", 0.06),
                (f"Interim {title}", 0.03),
            ]
        for name, share in variants:
            if name not in rows:
                rows[name] = (dept, weights * share)
    names = list(rows)
    depts = sorted({d for d, _ in rows.values()})
    dept_index = {d: i for i, d in enumerate(depts)}
    w = np.stack([rows[n][1] for n in names])
    probs = {k: w[:, i] / w[:, i].sum() for i, k in enumerate(KINDS)}
    return TitleVocab(
        titles=np.array(names, dtype=object),
        title_dept=np.array([dept_index[rows[n][0]] for n in names], dtype=np.int32),
        departments=np.array(depts, dtype=object),
        probs=probs,
    )


# --------------------------------------------------------------------------------------------
# US states: AP abbreviations, rough extents, area codes, population (millions); the codes and
# names are those of clean.places.STATES, the table state cleaning owns


@dataclass(frozen=True)
class State:
    abbr: str
    name: str
    ap: str  # AP style abbreviation ("Calif."); states AP spells out keep their name
    population_m: float
    lat: tuple[float, float]
    long: tuple[float, float]
    area_codes: tuple[int, ...]


def _s(
    abbr: str,
    ap: str,
    pop: float,
    lat: tuple[float, float],
    long: tuple[float, float],
    codes: str,
) -> State:
    """One state's generation data; its name comes from the one state table, clean.places."""
    return State(
        abbr, places.STATES[abbr][0], ap, pop, lat, long, tuple(int(c) for c in codes.split())
    )


STATES: tuple[State, ...] = (
    _s("AL", "Ala.", 5.1, (30.2, 35.0), (-88.5, -84.9), "205 251 256 334 938"),
    _s("AK", "Alaska", 0.73, (55.0, 71.3), (-165.0, -131.0), "907"),
    _s("AZ", "Ariz.", 7.4, (31.3, 37.0), (-114.8, -109.0), "480 520 602 623 928"),
    _s("AR", "Ark.", 3.0, (33.0, 36.5), (-94.6, -89.6), "479 501 870"),
    _s(
        "CA",
        "Calif.",
        39.0,
        (32.5, 42.0),
        (-124.4, -114.1),
        "209 213 310 408 415 510 530 559 562 619 626 650 661 707 714 760 805 818 831 858 909 "
        "916 925 949 951",
    ),
    _s("CO", "Colo.", 5.8, (37.0, 41.0), (-109.05, -102.05), "303 719 720 970"),
    _s("CT", "Conn.", 3.6, (41.0, 42.05), (-73.7, -71.8), "203 475 860 959"),
    _s("DE", "Del.", 1.0, (38.45, 39.84), (-75.79, -75.05), "302"),
    _s("DC", "D.C.", 0.67, (38.8, 38.99), (-77.12, -76.91), "202"),
    _s(
        "FL",
        "Fla.",
        22.2,
        (25.0, 31.0),
        (-87.6, -80.1),
        "239 305 321 352 386 407 561 727 772 813 850 863 904 941 954",
    ),
    _s(
        "GA",
        "Ga.",
        10.9,
        (30.4, 35.0),
        (-85.6, -80.9),
        "229 404 470 478 678 706 762 770 912",
    ),
    _s("HI", "Hawaii", 1.44, (19.0, 22.2), (-159.8, -155.0), "808"),
    _s("ID", "Idaho", 1.94, (42.0, 49.0), (-117.2, -111.05), "208 986"),
    _s(
        "IL",
        "Ill.",
        12.6,
        (37.0, 42.5),
        (-91.5, -87.5),
        "217 224 309 312 618 630 708 773 815 847",
    ),
    _s("IN", "Ind.", 6.8, (37.8, 41.76), (-88.1, -84.8), "219 260 317 574 765 812"),
    _s("IA", "Iowa", 3.2, (40.4, 43.5), (-96.6, -90.1), "319 515 563 641 712"),
    _s("KS", "Kan.", 2.94, (37.0, 40.0), (-102.05, -94.6), "316 620 785 913"),
    _s("KY", "Ky.", 4.5, (36.5, 39.1), (-89.5, -82.0), "270 502 606 859"),
    _s("LA", "La.", 4.6, (29.0, 33.0), (-94.0, -89.0), "225 318 337 504 985"),
    _s("ME", "Maine", 1.39, (43.1, 47.4), (-71.0, -67.0), "207"),
    _s("MD", "Md.", 6.2, (38.0, 39.7), (-79.4, -75.1), "240 301 410 443"),
    _s(
        "MA",
        "Mass.",
        7.0,
        (41.25, 42.88),
        (-73.5, -69.95),
        "339 351 413 508 617 774 781 857 978",
    ),
    _s(
        "MI",
        "Mich.",
        10.0,
        (41.7, 47.5),
        (-90.4, -82.4),
        "231 248 269 313 517 586 616 734 810 906 947 989",
    ),
    _s("MN", "Minn.", 5.7, (43.5, 49.3), (-97.2, -89.5), "218 320 507 612 651 763 952"),
    _s("MS", "Miss.", 2.9, (30.2, 35.0), (-91.6, -88.1), "228 601 662 769"),
    _s("MO", "Mo.", 6.2, (36.0, 40.6), (-95.7, -89.1), "314 417 573 636 660 816"),
    _s("MT", "Mont.", 1.1, (44.4, 49.0), (-116.0, -104.05), "406"),
    _s("NE", "Neb.", 1.97, (40.0, 43.0), (-104.05, -95.3), "308 402 531"),
    _s("NV", "Nev.", 3.2, (35.0, 42.0), (-120.0, -114.05), "702 725 775"),
    _s("NH", "N.H.", 1.4, (42.7, 45.3), (-72.55, -70.6), "603"),
    _s(
        "NJ",
        "N.J.",
        9.3,
        (38.95, 41.35),
        (-75.55, -73.9),
        "201 551 609 732 848 856 862 908 973",
    ),
    _s("NM", "N.M.", 2.1, (31.35, 37.0), (-109.05, -103.0), "505 575"),
    _s(
        "NY",
        "N.Y.",
        19.7,
        (40.5, 45.0),
        (-79.75, -71.9),
        "212 315 347 516 518 585 607 631 646 716 718 845 914 917 929",
    ),
    _s(
        "NC",
        "N.C.",
        10.7,
        (33.85, 36.58),
        (-84.3, -75.5),
        "252 336 704 743 828 910 919 980 984",
    ),
    _s("ND", "N.D.", 0.78, (45.95, 49.0), (-104.05, -96.55), "701"),
    _s(
        "OH",
        "Ohio",
        11.8,
        (38.4, 41.97),
        (-84.8, -80.52),
        "216 220 234 330 380 419 440 513 567 614 740 937",
    ),
    _s("OK", "Okla.", 4.0, (33.65, 37.0), (-103.0, -94.45), "405 539 580 918"),
    _s("OR", "Ore.", 4.2, (42.0, 46.25), (-124.5, -116.5), "458 503 541 971"),
    _s(
        "PA",
        "Pa.",
        13.0,
        (39.72, 42.26),
        (-80.52, -74.7),
        "215 267 272 412 484 570 610 717 724 814 878",
    ),
    _s("RI", "R.I.", 1.1, (41.15, 42.0), (-71.85, -71.12), "401"),
    _s("SC", "S.C.", 5.3, (32.05, 35.2), (-83.35, -78.55), "803 839 843 854 864"),
    _s("SD", "S.D.", 0.91, (42.5, 45.94), (-104.05, -96.45), "605"),
    _s(
        "TN",
        "Tenn.",
        7.0,
        (35.0, 36.67),
        (-90.3, -81.65),
        "423 615 629 731 865 901 931",
    ),
    _s(
        "TX",
        "Texas",
        30.0,
        (25.85, 36.5),
        (-106.6, -93.52),
        "210 214 254 281 325 346 361 409 430 432 469 512 682 713 737 806 817 830 832 903 915 "
        "936 940 956 972 979",
    ),
    _s("UT", "Utah", 3.4, (37.0, 42.0), (-114.05, -109.05), "385 435 801"),
    _s("VT", "Vt.", 0.65, (42.73, 45.0), (-73.43, -71.47), "802"),
    _s(
        "VA",
        "Va.",
        8.7,
        (36.55, 39.45),
        (-83.65, -75.25),
        "276 434 540 571 703 757 804",
    ),
    _s(
        "WA",
        "Wash.",
        7.8,
        (45.55, 49.0),
        (-124.7, -116.95),
        "206 253 360 425 509 564",
    ),
    _s("WV", "W.Va.", 1.8, (37.2, 40.63), (-82.6, -77.73), "304 681"),
    _s("WI", "Wis.", 5.9, (42.5, 47.05), (-92.85, -86.8), "262 414 534 608 715 920"),
    _s("WY", "Wyo.", 0.58, (41.0, 45.0), (-111.05, -104.05), "307"),
)

STATE_INDEX: dict[str, int] = {s.abbr: i for i, s in enumerate(STATES)}

#: ZIP code ranges per state, from Faker's en_US address provider.
ZIP_RANGES: dict[str, tuple[int, int]] = dict(_AddressProvider.states_postcode)

# --------------------------------------------------------------------------------------------
# Place names, streets, urls


#: Name patterns of generated entities per (sum_lev, lsadc): display-name template ({x} = the
#: place name), and the share among generated entities when no real sample gives the mix.
ENTITY_PATTERNS: dict[tuple[str, str], tuple[tuple[str, ...], float]] = {
    ("160", "25"): (("City of {x}",), 0.42),
    ("160", "43"): (("Town of {x}",), 0.13),
    ("160", "47"): (("Village of {x}",), 0.02),
    ("60", "43"): (("Town of {x}",), 0.01),
    ("60", "49"): (("Charter Township of {x}",), 0.01),
    ("50", "6"): (("{x} County",), 0.27),
    ("50", "4"): (("{x} Borough",), 0.01),
    ("970", "0"): (
        (
            "{x} School District",
            "{x} Public Schools",
            "{x} County Schools",
            "{x} City Schools",
            "{x} Unified School District",
        ),
        0.13,
    ),
}

#: Lognormal parameters (mean, sd of ln population) per sum_lev when no real sample is there.
POPULATION_LOGNORMAL: dict[str, tuple[float, float]] = {
    "160": (9.47, 1.86),
    "60": (10.4, 0.6),
    "50": (10.7, 1.38),
    "970": (7.5, 1.47),
    "40": (15.5, 1.04),
    "360": (12.0, 2.0),
}

CITY_PREFIXES: tuple[str, ...] = tuple(_AddressProvider.city_prefixes) + ("Mount", "Fort")
CITY_SUFFIXES: tuple[str, ...] = tuple(dict.fromkeys(_AddressProvider.city_suffixes)) + (
    "field",
    "wood",
    "dale",
    " Springs",
    " Heights",
    " Falls",
)

#: Street names in the style of the real addresses ("101 E Washington St").
STREET_NAMES: tuple[str, ...] = (
    "Main St",
    "N Main St",
    "S Main St",
    "E Main St",
    "W Main St",
    "Court St",
    "Broad St",
    "Market St",
    "Church St",
    "Washington St",
    "E Washington St",
    "Jefferson St",
    "Lincoln Ave",
    "Elm St",
    "Oak St",
    "Maple Ave",
    "Park Ave",
    "1st Ave",
    "2nd St",
    "3rd Ave",
    "Center St",
    "Highland Ave",
    "College St",
    "Mill St",
    "Commerce St",
    "Government St",
    "Civic Center Dr",
    "Municipal Dr",
    "City Hall Plaza",
    "Courthouse Sq",
    "Railroad Ave",
    "Depot St",
)
STREET_SUFFIX_ABBR: tuple[str, ...] = ("St", "Ave", "Rd", "Dr", "Blvd", "Ln", "Way", "Pkwy", "Hwy")

# --------------------------------------------------------------------------------------------
# Technology vocabulary used only when the real techstacks sample is absent: (name, type, weight)

FALLBACK_TECHS: tuple[tuple[str, str, int], ...] = (
    ("Google Forms", "forms", 240),
    ("CivicPlus", "cms", 227),
    ("WordPress", "cms", 191),
    ("Neogov", "hr", 175),
    ("CivicPlus", "agenda", 150),
    ("Revize", "cms", 83),
    ("CivicRec", "parks", 72),
    ("RecDesk", "parks", 65),
    ("Granicus", "agenda", 54),
    ("Laserfiche", "agenda", 52),
    ("Paymentus", "payment", 49),
    ("ActiveNetwork", "parks", 48),
    ("InvoiceCloud", "payment", 44),
    ("Tyler Technologies", "erp", 44),
    ("SeeClickFix", "crm", 43),
    ("PowerDMS", "erp", 43),
    ("Accela", "permitting", 40),
    ("Granicus", "cms", 39),
    ("Swagit", "agenda", 36),
    ("Tyler Technologies", "permitting", 35),
    ("eCode360", "agenda", 34),
    ("iWorq", "permitting", 32),
    ("BS&A", "erp", 26),
    ("DocuSign", "esign", 26),
    ("EnerGov (Tyler Technologies)", "permitting", 22),
    ("OnBase", "agenda", 22),
    ("CitizenServe", "permitting", 17),
    ("GovPayNow", "payment", 17),
    ("MyRec", "parks", 15),
    ("eTrakit", "permitting", 14),
    ("OpenGov", "erp", 12),
    ("Municode", "agenda", 10),
    ("CivicLive", "cms", 10),
    ("Xpress Pay", "payment", 7),
    ("OpenCities", "cms", 13),
    ("Questica", "finance", 3),
    ("Legistar", "agenda", 1),
)

#: Distribution of the number of techs per entity (0..6), shaped like the real sample.
FALLBACK_TECH_COUNTS: tuple[float, ...] = (317, 200, 107, 95, 95, 64, 122)
