"""`crmpipe init DIR`: guess a starting `crmpipe.yml` from the CSV files in a folder.

Each file is sniffed (crmpipe.ingest.sniff), a sample of its values is read, and every header is
matched to a canonical column by its name (synonyms), by keywords in it, and by what its values
look like; the table follows from which columns matched. Whatever maps to nothing is kept as a
typed extension column, so the guess never drops a field. The result is meant to be reviewed: it
says how each guess was made, and writes nothing it can't support from the files.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crmpipe.config.schema import DEFAULT_FILE, Config, ConfigError, parse_config
from crmpipe.ingest.sniff import Dialect, SniffError, raw_names, read_records, sniff
from crmpipe.model import TABLES, Role, physical_columns

#: File name patterns looked at (`.txt` only when the sniffer finds a delimiter in it).
PATTERNS: tuple[str, ...] = ("*.csv", "*.tsv", "*.txt")

#: Records read per file to guess from values.
SAMPLE_RECORDS = 1000


class InitError(ConfigError):
    """A problem that stops `crmpipe init`, as one line saying what to do.

    A ConfigError, so every command's one-line error reporting already knows it.
    """


@dataclass
class FileGuess:
    """What init guessed for one file."""

    file: Path
    source: str
    table: str | None
    confidence: float
    columns: dict[str, str] = field(default_factory=dict)  # canonical column -> header
    extra: dict[str, str] = field(default_factory=dict)  # unmapped header -> "name: type"
    notes: list[str] = field(default_factory=list)  # what was guessed from values, kept, why
    dialect: Dialect | None = None
    constants: dict[str, str] = field(default_factory=dict)  # external_ids: customer, system
    files: list[Path] = field(default_factory=list)  # every file of the source, when a glob
    pattern: str | None = None  # the glob written as `path` for files with the same columns


@dataclass
class InitResult:
    """The written project file (validated), its text and where it went, plus every guess."""

    config: Config
    text: str
    path: Path
    guesses: list[FileGuess]


# --- header names ---------------------------------------------------------------------------


def normalize(header: str) -> str:
    """`Pop Estimate 2022` → `pop_estimate_2022`: lower-case, non-alphanumerics → one `_`."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def _match_forms(header: str) -> list[str]:
    """Forms of a header compared against synonyms: normalized, and with camelCase split."""
    plain = normalize(header)
    camel = normalize(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip()))
    return [plain] if camel == plain else [plain, camel]


_EMAIL_NAMES = [
    "emails", "email", "e_mail", "email_address", "e_mail_address", "work_email", "contact_email",
    "primary_email", "business_email", "email_addresses", "mail", "email_1", "email1",
]  # fmt: skip
_PHONE_NAMES = [
    "phone", "phone_number", "telephone", "tel", "mobile", "cell", "work_phone", "phone_no",
    "telephone_number", "mobile_phone", "cell_phone", "business_phone", "office_phone",
    "main_phone", "contact_phone", "primary_phone", "phone_1", "phone1", "mobile_number",
]  # fmt: skip
_ENTITY_ID_NAMES = [
    "place_id", "entity_id", "account_id", "facility_id", "operation_id", "company_id",
    "organization_id", "organisation_id", "org_id", "agency_id", "business_id", "location_id",
]  # fmt: skip

#: Header names (normalized) for each canonical column, best first, shared by every table.
SYNONYMS: dict[str, list[str]] = {
    "entity_id": _ENTITY_ID_NAMES,
    "phone": _PHONE_NAMES,
    "first_name": ["first_name", "first", "fname", "given_name", "firstname", "forename"],
    "last_name": ["last_name", "surname", "lname", "family_name", "lastname", "last"],
    "full_name": [
        "full_name", "name", "contact_name", "primary_contact_name", "fullname", "contact",
        "person_name", "person", "primary_contact", "contact_full_name", "display_name",
    ],
    "title": [
        "title", "job_title", "position", "role", "primary_contact_role", "jobtitle",
        "designation", "job_role", "contact_title", "job_position",
    ],
    "department": ["department", "dept", "division", "department_name", "team"],
    "url": [
        "url", "website", "web_site", "homepage", "home_page", "web", "website_url", "site",
        "web_address", "link", "domain",
    ],
    "created_at": [
        "created_at", "created", "create_date", "date_added", "created_date", "creation_date",
        "date_created", "added", "added_at", "created_on", "signup_date", "registration_date",
        "add_time", "create_time",
    ],
    "address": [
        "address", "street", "address1", "street_address", "address_1", "address_line_1",
        "address_line1", "addr", "street1", "street_1", "mailing_address", "physical_address",
        "location_address", "full_address",
    ],
    "city": ["city", "town", "municipality", "locality", "city_name"],
    "county": ["county", "county_name", "parish", "borough"],
    "state": [
        "state", "state_abbr", "st", "province", "state_code", "state_province",
        "state_name", "state_abbreviation", "region_code",
    ],
    "postal_code": [
        "postal_code", "zip", "zip_code", "postcode", "zipcode", "zip5", "postal", "post_code",
    ],
    "lat": ["lat", "latitude"],
    "long": ["long", "lng", "lon", "longitude"],
    "parent_id": [
        "parent_id", "parent", "parent_place_id", "parent_entity_id", "parent_account_id",
    ],
    "owner": ["owner", "owner_name", "account_owner", "sales_rep", "rep"],
    "customer": ["customer", "customer_name", "client"],
    "system": ["system", "crm", "source_system", "crm_system", "crm_name"],
    "external_id": [
        "external_id", "sfdc_id", "salesforce_id", "hubspot_id", "crm_id", "record_id",
        "pipedrive_id", "zoho_id", "dynamics_id", "netsuite_id", "source_id", "customer_id",
        "external_key",
    ],
}  # fmt: skip

#: Synonyms that depend on the table (`name` is a place's name, a person's, or a product's).
TABLE_SYNONYMS: dict[tuple[str, str], list[str]] = {
    ("entities", "entity_id"): [*_ENTITY_ID_NAMES, "id"],
    ("entities", "display_name"): [
        "display_name", "name", "facility_name", "operation_name", "organization", "company",
        "account_name", "place_name", "organization_name", "organisation", "organisation_name",
        "company_name", "business_name", "org_name", "account", "entity_name", "agency",
        "agency_name", "institution", "legal_name", "provider_name", "program_name",
    ],
    ("entities", "entity_type"): [
        "entity_type", "type", "facility_type", "operation_type", "org_type",
        "organization_type", "place_type", "account_type", "business_type", "provider_type",
    ],
    ("entities", "email"): _EMAIL_NAMES,
    ("contacts", "emails"): _EMAIL_NAMES,
    ("contacts", "contact_id"): [
        "contact_id", "id", "person_id", "lead_id", "record_id", "people_id", "contactid",
    ],
    ("techstacks", "name"): [
        "name", "tech", "technology", "tech_name", "technology_name", "product", "product_name",
        "software", "vendor", "tool", "platform", "tech_names",
    ],
    # The sales-funnel tables (a Pipedrive export): ids are often just `id`.
    ("users", "user_id"): ["user_id", "id", "owner_id"],
    ("users", "name"): ["name", "full_name", "user_name"],
    ("users", "modified"): ["modified", "modified_at", "updated_at", "update_time"],
    ("stages", "stage_id"): ["stage_id", "id"],
    ("stages", "stage_name"): ["stage_name", "name", "label"],
    ("activity_types", "activity_type_id"): ["activity_type_id", "id", "type_id"],
    ("activity_types", "active"): ["active", "is_active", "active_flag"],
    ("fields", "field_id"): ["field_id", "id"],
    ("fields", "field_key"): ["field_key", "key"],
    ("fields", "value_options"): ["value_options", "field_value_options", "options"],
    ("deals", "deal_id"): ["deal_id", "id"],
    ("deals", "owner_id"): ["owner_id", "user_id", "owner"],
    ("deals", "created_at"): ["created_at", "add_time", "created", "create_date"],
    ("deals", "stage_changed_at"): ["stage_changed_at", "stage_change_time"],
    ("deals", "lost_at"): ["lost_at", "lost_time"],
    ("deals", "updated_at"): ["updated_at", "update_time", "modified"],
    ("deal_changes", "changed_field_key"): ["changed_field_key", "field_key"],
    ("activities", "activity_id"): ["activity_id", "id"],
    ("activities", "user_id"): ["user_id", "assigned_to_user", "owner_id", "assigned_to"],
    ("activities", "due_to"): ["due_to", "due_date", "due_time", "due"],
    ("techstacks", "type"): [
        "type", "category", "tech_type", "technology_type", "kind", "product_type",
        "software_type", "tech_category",
    ],
}  # fmt: skip

#: Keywords that, appearing among a header's words, suggest a column (weaker than a synonym).
KEYWORDS: dict[str, tuple[frozenset[str], ...]] = {
    "emails": (frozenset({"email"}), frozenset({"e", "mail"})),
    "email": (frozenset({"email"}), frozenset({"e", "mail"})),
    "phone": tuple(frozenset({w}) for w in ("phone", "telephone", "tel", "mobile", "cell")),
    "postal_code": (frozenset({"zip"}), frozenset({"zipcode"}), frozenset({"postal"})),
    "url": (frozenset({"website"}), frozenset({"url"}), frozenset({"homepage"})),
    "address": (frozenset({"address"}), frozenset({"street"})),
    "city": (frozenset({"city"}),),
    "county": (frozenset({"county"}),),
    "state": (frozenset({"state"}),),
    "first_name": (frozenset({"first", "name"}),),
    "last_name": (frozenset({"last", "name"}),),
    "title": (frozenset({"title"}),),
    "created_at": (frozenset({"created"}), frozenset({"added"})),
    "display_name": tuple(
        frozenset({w, "name"})
        for w in (
            "company",
            "facility",
            "operation",
            "organization",
            "business",
            "account",
            "agency",
            "place",
            "entity",
            "provider",
            "program",
            "school",
        )
    ),  # fmt: skip
    "full_name": tuple(
        frozenset({w, "name"}) for w in ("contact", "person", "owner", "director", "caregiver")
    ),
}

#: How much each matched column says "this file is that table" (contacts vs entities).
SIGNATURES: dict[str, dict[str, float]] = {
    "contacts": {
        "first_name": 3, "last_name": 3, "full_name": 2, "emails": 3, "title": 3,
        "department": 2, "phone": 1, "contact_id": 1, "entity_id": 1, "url": 0.5,
        "created_at": 0.5,
    },
    "entities": {
        "display_name": 3, "address": 2, "city": 2, "state": 2, "postal_code": 2, "county": 2,
        "lat": 2, "long": 2, "parent_id": 2, "entity_type": 1, "phone": 1, "email": 0.5,
        "url": 1, "entity_id": 0.5, "created_at": 0.5,
    },
}  # fmt: skip

_PERSON = ("first_name", "last_name", "full_name")
_PLACE = ("address", "city", "state", "postal_code", "county", "lat", "long", "url", "phone",
          "email", "parent_id")  # fmt: skip

#: CRM names found in a mapping file's id header → the `system` constant.
SYSTEMS: dict[str, str] = {
    "sfdc": "salesforce", "salesforce": "salesforce", "sf": "salesforce",
    "hubspot": "hubspot", "hs": "hubspot", "pipedrive": "pipedrive", "zoho": "zoho",
    "dynamics": "dynamics", "msd": "dynamics", "netsuite": "netsuite", "marketo": "marketo",
    "freshsales": "freshsales", "copper": "copper", "insightly": "insightly",
}  # fmt: skip

#: Words in a header that mark whole numbers as codes (leading zeros matter), not quantities.
CODE_WORDS = frozenset({
    "id", "ids", "code", "codes", "fips", "geoid", "lsad", "lsadc", "sumlev", "lev", "zip",
    "zipcode", "number", "num", "no", "nbr", "phone", "fax", "ssn", "ein", "npi", "naics", "sic",
    "ansi", "gnis", "key", "sku", "isbn", "account",
})  # fmt: skip

#: Words that rule a date column out as `created_at` (when it's guessed from values).
NOT_CREATED = frozenset({
    "expiration", "expires", "expiry", "expire", "exp", "end", "due", "birth", "dob", "birthday",
    "modified", "updated", "update", "last", "renewal", "renew", "close", "closed", "closing",
    "deleted", "until", "to", "changed", "change",
})  # fmt: skip
CREATED_HINTS = frozenset({"created", "added", "since", "first", "start", "issue", "issued",
                           "registered", "opened", "open", "signup", "joined", "date"})  # fmt: skip

NULL_TOKENS = frozenset({"", "n/a", "na", "null", "none", "-", "--", "nil", "nan", "#n/a", "?"})


# --- what values look like --------------------------------------------------------------------

US_STATES: dict[str, str] = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california",
    "CO": "colorado", "CT": "connecticut", "DE": "delaware", "FL": "florida", "GA": "georgia",
    "HI": "hawaii", "ID": "idaho", "IL": "illinois", "IN": "indiana", "IA": "iowa",
    "KS": "kansas", "KY": "kentucky", "LA": "louisiana", "ME": "maine", "MD": "maryland",
    "MA": "massachusetts", "MI": "michigan", "MN": "minnesota", "MS": "mississippi",
    "MO": "missouri", "MT": "montana", "NE": "nebraska", "NV": "nevada", "NH": "new hampshire",
    "NJ": "new jersey", "NM": "new mexico", "NY": "new york", "NC": "north carolina",
    "ND": "north dakota", "OH": "ohio", "OK": "oklahoma", "OR": "oregon", "PA": "pennsylvania",
    "RI": "rhode island", "SC": "south carolina", "SD": "south dakota", "TN": "tennessee",
    "TX": "texas", "UT": "utah", "VT": "vermont", "VA": "virginia", "WA": "washington",
    "WV": "west virginia", "WI": "wisconsin", "WY": "wyoming", "DC": "district of columbia",
    "PR": "puerto rico", "VI": "virgin islands", "GU": "guam", "AS": "american samoa",
    "MP": "northern mariana islands",
}  # fmt: skip
_STATE_NAMES = frozenset(US_STATES.values())

_EMAIL = re.compile(r"[^@\s;,<>]+@[^@\s;,<>]+\.[A-Za-z]{2,}")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+((x|ext\.?|extension|#)\s*\d+)?$", re.I)
_ZIP = re.compile(r"^\d{3,5}(-?\d{4})?$")  # 3-4 digits: a ZIP whose leading zeros were lost
_URL = re.compile(
    r"^(https?://)?(www\.)?[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}(:\d+)?([/?#]\S*)?$", re.I
)
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(
    r"""^(
        \d{4}-\d{1,2}-\d{1,2}
      | \d{4}/\d{1,2}/\d{1,2}
      | \d{1,2}/\d{1,2}/(\d{2}|\d{4})
      | \d{1,2}\.\d{1,2}\.\d{4}
      | [A-Za-z]{3,9}\.?\s\d{1,2},?\s\d{4}
    )$""",
    re.X,
)
_TIMESTAMP = re.compile(
    r"""^(\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/(\d{2}|\d{4}))
        [T\s]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s?([AaPp][Mm])?(Z|[+-]\d{2}:?\d{2})?$""",
    re.X,
)
_BOOLEANS = frozenset({"true", "false", "yes", "no", "y", "n", "t", "f"})


def is_email(v: str) -> bool:
    return bool(_EMAIL.search(v)) and not v.lower().startswith(("http://", "https://"))


def is_phone(v: str) -> bool:
    """A North American number: 10 digits (11 with a leading 1), area code not 0/1."""
    if not _PHONE_CHARS.match(v):
        return False
    main = re.split(r"(?i)x|ext|#", v)[0]
    digits = re.sub(r"\D", "", main)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] not in "01"


def is_state(v: str) -> bool:
    return v.upper() in US_STATES or v.lower() in _STATE_NAMES


def is_zip(v: str) -> bool:
    return bool(_ZIP.match(v))


def is_url(v: str) -> bool:
    return "@" not in v and bool(_URL.match(v)) and not _FLOAT.match(v)


def is_date(v: str) -> bool:
    return bool(_DATE.match(v) or _TIMESTAMP.match(v))


def _in_range(lo: float, hi: float) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        return bool(_FLOAT.match(v)) and lo <= float(v) <= hi

    return check


#: The value test for each role that has one (a header's claim is checked against it).
ROLE_CHECKS: dict[Role, Callable[[str], bool]] = {
    Role.EMAIL_LIST: is_email,
    Role.PHONE: is_phone,
    Role.STATE: is_state,
    Role.POSTAL_CODE: is_zip,
    Role.URL: is_url,
    Role.LAT: _in_range(-90, 90),
    Role.LONG: _in_range(-180, 180),
    Role.DATE: is_date,
    Role.TIMESTAMP: is_date,
}

#: Columns that may be guessed from values alone: (check, share of values needed, score, what).
VALUE_GUESSES: dict[str, tuple[Callable[[str], bool], float, float, str]] = {
    "emails": (is_email, 0.7, 0.8, "e-mail addresses"),
    "email": (is_email, 0.7, 0.8, "e-mail addresses"),
    "phone": (is_phone, 0.8, 0.7, "phone numbers"),
    "url": (is_url, 0.8, 0.65, "URLs"),
    "state": (lambda v: v.upper() in US_STATES, 0.9, 0.6, "US state codes"),
    "postal_code": (lambda v: bool(re.match(r"^\d{5}$", v)), 0.95, 0.55, "5-digit ZIP codes"),
    "created_at": (is_date, 0.9, 0.45, "dates"),
}


def _values(records: list[list[str]], index: int) -> list[str]:
    """The non-null sample values of one column, whitespace-trimmed."""
    out = []
    for rec in records:
        v = rec[index].strip() if index < len(rec) else ""
        if v.lower() not in NULL_TOKENS:
            out.append(v)
    return out


def _share(values: list[str], check: Callable[[str], bool]) -> float:
    return sum(1 for v in values if check(v)) / len(values) if values else 0.0


def guess_type(header: str, values: list[str]) -> tuple[str, str]:
    """Extension type for a column, from its sampled values, and why (for the notes)."""
    if not values:
        return "text", "no values in the sample"
    words = set(normalize(header).split("_"))
    lower = {v.lower() for v in values}
    if lower <= _BOOLEANS:
        return "boolean", "only yes/no values"
    for kind, check, what in (
        ("email_list", is_email, "e-mail addresses"),
        ("phone", is_phone, "phone numbers"),
    ):
        if _share(values, check) >= 0.9:
            return kind, f"values are {what}"
    if all(_INT.match(v) for v in values):
        if words & CODE_WORDS or normalize(header).endswith("id"):
            return "text", "whole numbers, but the name says it is a code or id"
        if any(re.match(r"^[-+]?0\d", v) for v in values):
            return "text", "whole numbers with leading zeros (a code)"
        if any(len(v.lstrip("+-")) > 18 for v in values):
            return "text", "numbers too long for bigint"
        return "bigint", "all sampled values are whole numbers"
    if all(_FLOAT.match(v) for v in values):
        return "double", "all sampled values are numbers"
    if all(_TIMESTAMP.match(v) or _DATE.match(v) for v in values):
        if any(_TIMESTAMP.match(v) for v in values):
            return "timestamp", "all sampled values are dates with times"
        return "date", "all sampled values are dates"
    if _share(values, is_url) >= 0.9 and _share(values, lambda v: "://" in v or "www." in v) > 0.5:
        return "url", "values are URLs"
    return "text", "text values"


# --- matching headers to a table's columns ---------------------------------------------------


@dataclass
class _Match:
    header: str
    index: int
    column: str
    score: float
    how: str  # "name", "keyword", "values"
    why: str


def _synonyms(table: str, column: str) -> list[str]:
    specific = TABLE_SYNONYMS.get((table, column))
    if specific is not None:
        return specific
    if column in ("emails", "email"):
        return _EMAIL_NAMES
    return SYNONYMS.get(column, [column])


def _candidates(table: str, header: str, index: int, values: list[str]) -> list[_Match]:
    """Every canonical column of `table` this header could be, with a score in (0, 1]."""
    forms = _match_forms(header)
    words: set[str] = set()
    for f in forms:
        words |= set(f.split("_"))
    out: list[_Match] = []
    tbl = TABLES[table]
    for col in tbl.columns:
        score, how, why = 0.0, "", ""
        names = _synonyms(table, col.name)
        for f in forms:
            if f == col.name:
                score, how, why = 1.0, "name", "same name"
                break
            if f in names:
                score = max(score, 0.95 - 0.002 * names.index(f))
                how, why = "name", "known header name"
        if not score:
            for kw in KEYWORDS.get(col.name, ()):
                if kw <= words:
                    score, how = 0.6, "keyword"
                    why = f"header contains {' + '.join(sorted(kw))!r}"
                    break
        if (
            table == "external_ids"
            and col.name == "external_id"
            and not score
            and ("id" in words or forms[0].endswith("id"))
        ):
            score, how, why = 0.55, "keyword", "an id column"
        if (
            score
            and col.role is not Role.EMAIL_LIST
            and len(values) >= 3
            and ("email" in words or "mail" in words or _share(values, is_email) >= 0.7)
        ):
            score = 0.0  # e.g. 'Email Address' is not an address
        check = ROLE_CHECKS.get(col.role)
        if score and check and len(values) >= 3:
            share = _share(values, check)
            if share < 0.5:
                score *= 0.4
                why += f", but only {share:.0%} of its values fit {col.role.value}"
            elif share >= 0.9:
                score = min(1.0, score + 0.05)
        if not score and col.name in VALUE_GUESSES and len(values) >= 3:
            vcheck, need, vscore, what = VALUE_GUESSES[col.name]
            share = _share(values, vcheck)
            if col.name == "created_at":
                if words & NOT_CREATED:
                    share = 0.0
                elif words & CREATED_HINTS:
                    vscore += 0.1
            if col.name == "url" and _share(values, lambda v: "://" in v or "www." in v) < 0.5:
                share = 0.0  # bare 'a.b' values are too often names or numbers
            if share >= need:
                score, how, why = vscore, "values", f"{share:.0%} of sampled values are {what}"
        if score:
            out.append(_Match(header, index, col.name, score, how, why))
    return out


@dataclass
class _Assignment:
    table: str
    matches: dict[str, _Match]  # canonical column -> match
    losers: list[tuple[_Match, _Match]]  # (lost, to the winner)


def _assign(table: str, headers: list[str], records: list[list[str]]) -> _Assignment:
    """Headers → columns of `table`, one to one, best score first (greedy)."""
    cands: list[_Match] = []
    for i, h in enumerate(headers):
        if h:
            cands.extend(_candidates(table, h, i, _values(records, i)))
    cands.sort(key=lambda m: (-m.score, m.index))
    taken: dict[str, _Match] = {}
    used: set[int] = set()
    losers: list[tuple[_Match, _Match]] = []
    for m in cands:
        if m.index in used:
            continue
        if m.column in taken:
            if m.score >= 0.6:
                losers.append((m, taken[m.column]))
            continue
        if m.score < 0.4:
            continue
        taken[m.column] = m
        used.add(m.index)
    # A loser that found another column later isn't a loser.
    losers = [(lo, w) for lo, w in losers if lo.index not in used]
    return _Assignment(table, taken, losers)


#: The tables guessed by their own rules below; any other table of the model is guessed by how
#: completely a file's headers name its columns.
_RULED = ("entities", "contacts", "techstacks", "external_ids")


def _choose_table(
    named: list[str], assignments: dict[str, _Assignment], stem: str = ""
) -> tuple[str | None, float, str]:
    """The table the file most likely is, a confidence in [0, 1], and the reason.

    `named` are the columns that count: an empty column without a header doesn't; `stem` is
    the file's name, a hint for tables named after their export (`users.csv` → users).
    """
    ext = assignments["external_ids"].matches
    if "entity_id" in ext and "external_id" in ext:
        others = [h for h in named if h not in {m.header for m in ext.values()}]
        if not others and len(named) <= 4:
            return "external_ids", _mean(ext.values()), "an id column beside an entity id"
    tech = assignments["techstacks"].matches
    if {"entity_id", "name", "type"} <= set(tech):
        others = [h for h in named if h not in {m.header for m in tech.values()}]
        if len(others) <= 2:
            return "techstacks", _mean(tech.values()), "name + type + entity id"

    fitted = _fitted_table(named, assignments, stem)
    if fitted:
        return fitted

    scores: dict[str, float] = {}
    for t in ("contacts", "entities"):
        m = assignments[t].matches
        sig = SIGNATURES[t]
        total = sum(sig.get(c, 0) * x.score for c, x in m.items())
        if t == "contacts":
            person = any(c in m for c in _PERSON)
            context = any(c in m for c in ("emails", "title", "phone", "department")) or (
                "first_name" in m and "last_name" in m
            )
            ok = person and context
        else:
            place = sum(1 for c in _PLACE if c in m)
            ok = ("display_name" in m and place >= 1) or ("entity_id" in m and place >= 2)
        scores[t] = total if ok else 0.0
    best = max(scores, key=lambda t: scores[t])
    if scores[best] <= 0:
        return None, 0.0, "no canonical table fits its columns"
    other = min(scores.values())
    margin = 1 - other / scores[best]
    matched = assignments[best].matches.values()
    coverage = len(matched) / max(len(named), 1)
    conf = _mean(matched) * (0.6 + 0.25 * margin + 0.15 * min(1.0, coverage * 2))
    reason = "person columns" if best == "contacts" else "place/organisation columns"
    return best, conf, reason


def _fitted_table(
    named: list[str], assignments: dict[str, _Assignment], stem: str
) -> tuple[str, float, str] | None:
    """A table (other than the ruled four) whose columns the headers name: its key and at least
    3/4 of its columns, with at most 1/4 of the headers left over, and a file named like the
    table — or exactly its columns, whatever the file's name."""
    best: tuple[float, str, float] | None = None
    for t, a in assignments.items():
        if t in _RULED:
            continue
        tbl = TABLES[t]
        by_name = [m for m in a.matches.values() if m.how == "name"]
        if not set(tbl.key) <= {m.column for m in by_name}:
            continue
        cov_table = len(by_name) / len(tbl.columns)
        cov_file = len(by_name) / max(len(named), 1)
        similar = _similar(normalize(stem), t)
        if not ((cov_table >= 0.75 and cov_file >= 0.75 and similar) or
                (cov_table == 1 and cov_file == 1)):  # fmt: skip
            continue
        fit = (cov_table + cov_file) / 2 + (0.1 if similar else 0.0)
        conf = _mean(by_name) * min(1.0, (cov_table + cov_file) / 2 + (0.05 if similar else 0))
        if best is None or fit > best[0]:
            best = (fit, t, conf)
    if best is None:
        return None
    return best[1], best[2], f"its headers name the columns of {best[1]}"


def _similar(a: str, b: str) -> bool:
    """`activity` ~ `activities`, `users` ~ `users`: a file named after a table."""
    return bool(a) and difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def _mean(matches: Iterable[_Match]) -> float:
    scores = [m.score for m in matches]
    return sum(scores) / len(scores) if scores else 0.0


def _ext_name(header: str, index: int, taken: set[str]) -> str:
    """A unique extension column name from a header, never a canonical column's name."""
    name = normalize(header) or f"column_{index}"
    if name[0].isdigit():
        name = f"c_{name}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _system(header: str, stem: str) -> str:
    for word in normalize(header).split("_"):
        if word in SYSTEMS:
            return SYSTEMS[word]
    return normalize(stem) or stem


def guess_file(path: Path, source: str, dialect: Dialect, records: list[list[str]]) -> FileGuess:
    """Guess table, column mapping and extension columns for one sniffed file."""
    headers = raw_names(dialect.header)
    renamed = [(i, h, r) for i, (h, r) in enumerate(zip(dialect.header, headers, strict=True))
               if h != r]  # fmt: skip
    assignments = {t: _assign(t, headers, records) for t in TABLES}
    named = [
        r for h, r, i in zip(dialect.header, headers, range(len(headers)), strict=True)
        if h.strip() or _values(records, i)
    ]  # fmt: skip
    table, confidence, reason = _choose_table(named, assignments, path.stem)
    guess = FileGuess(path, source, table, round(confidence, 2), dialect=dialect)
    if table is None:
        guess.notes.append(f"not mapped: {reason} ({', '.join(named[:8])}"
                           f"{', ...' if len(named) > 8 else ''})")  # fmt: skip
        return guess
    chosen = assignments[table]
    guess.notes.append(f"table {table} ({reason}), confidence {guess.confidence:.2f}")
    for i, h, r in renamed:
        what = f"duplicate header {h!r}" if h else "no header"
        guess.notes.append(f"column {i + 1} has {what}: it is read as {r!r}")
    for col, m in sorted(chosen.matches.items(), key=lambda kv: kv[1].index):
        guess.columns[col] = m.header
        if m.how != "name" or "but only" in m.why:
            guess.notes.append(f"{m.header!r} → {col}: {m.why}")
    mapped = {m.index for m in chosen.matches.values()}
    # Extension names must not clash with stored columns, companions included (`phone_ext`).
    taken = {name for name, _ in physical_columns(TABLES[table])}
    lost = {lo.index: w for lo, w in chosen.losers}
    plain: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, h in enumerate(headers):
        if i in mapped:
            continue
        values = _values(records, i)
        kind, why = guess_type(h, values)
        name = _ext_name(h, i, taken)
        guess.extra[h] = f"{name}: {kind}"
        if i in lost:
            w = lost[i]
            guess.notes.append(
                f"{h!r} also looked like {w.column}, which {w.header!r} fits better; "
                f"kept as extension {name} ({kind})"
            )
        elif elsewhere := _fits_other_table(table, i, assignments):
            guess.notes.append(
                f"{h!r} looks like {elsewhere}, which {table} doesn't have; "
                f"kept as extension {name} ({kind})"
            )
        else:
            plain[(kind, why)].append(name)
    for (kind, why), names in plain.items():
        guess.notes.append(f"kept as {kind} extension{'s' if len(names) > 1 else ''} ({why}): "
                           + ", ".join(names))  # fmt: skip
    if table == "external_ids":
        ext_header = guess.columns.get("external_id", "")
        if "customer" not in guess.columns:
            guess.constants["customer"] = normalize(path.stem) or path.stem
        if "system" not in guess.columns:
            guess.constants["system"] = _system(ext_header, path.stem)
        guess.notes.append(
            f"constants: customer from the file name, system from header {ext_header!r} "
            f"({', '.join(f'{k}: {v}' for k, v in guess.constants.items())})"
        )
    if table in ("entities", "contacts") and TABLES[table].key[0] not in guess.columns:
        key = TABLES[table].key[0]
        unique = _unique_columns(headers, records)
        hint = (f"; distinct on every sampled row: {', '.join(unique[:3])}" if unique
                else "")  # fmt: skip
        guess.notes.append(
            f"no column looked like the key {key} (rows without one are quarantined){hint}; "
            f"map one as {key} under 'columns' if it identifies a row"
        )
    return guess


def _unique_columns(headers: list[str], records: list[list[str]]) -> list[str]:
    """Headers whose sampled values are all present and all different: key candidates, the
    id-like ones first (a suggestion in the notes, never mapped by itself)."""
    if len(records) < 10:  # on a handful of rows everything is distinct
        return []
    out = []
    for i, h in enumerate(headers):
        values = _values(records, i)
        if len(values) == len(records) and len(set(values)) == len(values):
            words = set(normalize(h).split("_"))
            rank = 0 if words & CODE_WORDS else 1 if words & {"phone", "email"} else 2
            out.append((rank, i, h))
    return [h for _, _, h in sorted(out)]


def _fits_other_table(table: str, index: int, assignments: dict[str, _Assignment]) -> str:
    """'contacts.full_name' when the header strongly matched a column of another table."""
    for other in ("contacts", "entities"):
        if other == table:
            continue
        for col, m in assignments[other].matches.items():
            if m.index == index and m.score >= 0.9 and col not in TABLES[table].column_names:
                return f"{other}.{col}"
    return ""


# --- files and the YAML text ---------------------------------------------------------------


def _discover(folder: Path) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in sorted(folder.iterdir()):
        if (
            p.is_file()
            and not p.name.startswith(".")
            and any(p.name.lower().endswith(pat[1:]) for pat in PATTERNS)
        ):
            seen[p] = None
    return list(seen)


def _sniff_and_group(
    folder: Path, files: list[Path]
) -> list[tuple[list[Path], str | None, Dialect | None, str]]:
    """Sniff every file; files with the same header and dialect whose names share a stem
    (`contacts_2024_01.csv`, `contacts_2024_02.csv`) become one group with a glob, so files
    added later are picked up by the same source.

    Returns (files, glob or None, dialect or None, sniff error) per group, in file order.
    """
    sniffed: list[tuple[Path, Dialect | None, str]] = []
    for p in files:
        try:
            sniffed.append((p, sniff(p), ""))
        except SniffError as exc:
            sniffed.append((p, None, str(exc)))
    by_layout: dict[tuple[object, ...], list[Path]] = defaultdict(list)
    for p, d, _ in sniffed:
        if d is not None:
            key = (tuple(d.header), d.delimiter, d.quote, d.escape, d.encoding, p.suffix.lower())
            by_layout[key].append(p)
    everything = [p.name for p in folder.iterdir() if p.is_file()]
    pattern_of: dict[Path, tuple[list[Path], str]] = {}
    for group in by_layout.values():
        pattern = _glob_for(group, everything) if len(group) > 1 else None
        if pattern:
            for p in group:
                pattern_of[p] = (group, pattern)
    out: list[tuple[list[Path], str | None, Dialect | None, str]] = []
    done: set[Path] = set()
    for p, d, err in sniffed:
        if p in done:
            continue
        if p in pattern_of:
            group, pattern = pattern_of[p]
            done.update(group)
            out.append((group, pattern, d, err))
        else:
            out.append(([p], None, d, err))
    return out


def _glob_for(group: list[Path], names_in_folder: list[str]) -> str | None:
    """`contacts_*.csv` for files sharing a name stem, if it matches exactly those files."""
    names = [p.name for p in group]
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    shortest = min(len(n) for n in names)
    if len(prefix) + len(suffix) > shortest:
        suffix = suffix[len(prefix) + len(suffix) - shortest :]
    # Cut the prefix back to its words so later files match too: `contacts_2024_0` would miss
    # `contacts_2025_01.csv`; `contacts_` doesn't.
    words = re.match(r"^(.*[A-Za-z])([^A-Za-z]*)$", prefix)
    if words:
        prefix = words.group(1) + (words.group(2)[:1] if words.group(2)[:1] in "_-. " else "")
    if not re.search(r"[A-Za-z]", prefix) or re.search(r"[*?\[\]]", prefix + suffix):
        return None
    pattern = f"{prefix}*{suffix}"
    matched = {n for n in names_in_folder if fnmatch.fnmatchcase(n, pattern)}
    return pattern if matched == set(names) else None


def _pattern_stem(pattern: str) -> str:
    """`contacts_*.csv` → `contacts`: the source name for a group of files."""
    return re.sub(r"[\W_]+$", "", pattern.split("*")[0]) or pattern.split("*")[0]


def _source_name(stem: str, taken: set[str]) -> str:
    name = normalize(stem) or "source"
    if name[0].isdigit():
        name = f"s_{name}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .\-/()]*")


def _scalar(value: object) -> str:
    """A YAML scalar: plain when that reads back the same, else a JSON (double-quoted) string."""
    if isinstance(value, str):
        if (
            _PLAIN.fullmatch(value)
            and value == value.strip()
            and ": " not in value
            and yaml.safe_load(f"k: {value}") == {"k": value}
        ):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _comment(text: str, prefix: str = "# ", width: int = 98) -> list[str]:
    """`text` as comment lines (wrapped; a newline in a header can't end the comment early)."""
    return textwrap.wrap(
        " ".join(text.split()),
        width=width,
        initial_indent=prefix,
        subsequent_indent=prefix + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _source_yaml(name: str, spec: dict[str, object], notes: list[str]) -> list[str]:
    lines = [line for n in notes for line in _comment(n, "  # ")]
    lines.append(f"  {_scalar(name)}:")
    for key, val in spec.items():
        if isinstance(val, dict):
            if not val:
                continue
            lines.append(f"    {key}:")
            for k, v in val.items():
                if isinstance(v, dict):
                    inner = ", ".join(f"{a}: {_scalar(b)}" for a, b in v.items())
                    lines.append(f"      {_scalar(k)}: {{{inner}}}")
                else:
                    lines.append(f"      {_scalar(k)}: {_scalar(v)}")
        else:
            lines.append(f"    {key}: {_scalar(val)}")
    return lines


def _unify_extension_types(guesses: list[FileGuess]) -> None:
    """One extension column has one type per table: widen conflicting guesses, say so."""
    types: dict[tuple[str, str], set[str]] = defaultdict(set)
    for g in guesses:
        for spec in g.extra.values():
            ext, kind = spec.split(": ")
            types[(g.table or "", ext)].add(kind)
    for g in guesses:
        for header, spec in list(g.extra.items()):
            ext, kind = spec.split(": ")
            kinds = types[(g.table or "", ext)]
            if len(kinds) < 2:
                continue
            wide = (
                "double" if kinds <= {"bigint", "double"}
                else "timestamp" if kinds <= {"date", "timestamp"}
                else "text"
            )  # fmt: skip
            if wide != kind:
                g.extra[header] = f"{ext}: {wide}"
                others = ", ".join(sorted(kinds - {kind}))
                g.notes.append(
                    f"{ext} widened from {kind} to {wide}: other {g.table} sources hold {others}"
                )


def init(folder: Path, *, output: Path | None = None, force: bool = False) -> InitResult:
    """Guess a crmpipe.yml for the CSV files in `folder`, write it, and return what was guessed.

    The file goes to `output` (default `folder/crmpipe.yml`); an existing file is kept unless
    `force`. The written text is validated with `parse_config` before it is written.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InitError(f"{folder}: no such folder")
    out = Path(output) if output else folder / DEFAULT_FILE
    if out.is_dir():
        out = out / DEFAULT_FILE
    out = out.resolve()
    if out.exists() and not force:
        raise InitError(f"{out}: already exists; pass --force to overwrite it, or --output PATH")
    files = _discover(folder)
    if not files:
        raise InitError(f"{folder}: no {', '.join(PATTERNS)} files to look at")

    guesses: list[FileGuess] = []
    names: set[str] = set()
    for group, pattern, dialect, error in _sniff_and_group(folder, files):
        first = group[0]
        stem = _pattern_stem(pattern) if pattern else first.stem
        source = _source_name(stem, names)
        if dialect is None:
            guesses.append(FileGuess(first, source, None, 0.0, notes=[f"not mapped: {error}"]))
            continue
        if first.suffix.lower() == ".txt" and len([h for h in dialect.header if h]) < 2:
            note = "not mapped: a .txt file with a single column (no delimiter found)"
            guesses.append(FileGuess(first, source, None, 0.0, notes=[note], dialect=dialect))
            continue
        per_file = max(100, SAMPLE_RECORDS // len(group))
        records = [r for f in group for r in read_records(f, dialect, limit=per_file)]
        guess = guess_file(first, source, dialect, records[:SAMPLE_RECORDS])
        if pattern:
            guess.files, guess.pattern = list(group), pattern
            guess.notes.insert(
                1,
                f"{len(group)} files with the same columns ({', '.join(f.name for f in group)}) "
                f"are one source: path {pattern}",
            )
        guesses.append(guess)
    _unify_extension_types(guesses)

    text = render(guesses, out.parent)
    config = parse_config(text, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return InitResult(config=config, text=text, path=out, guesses=guesses)


def source_spec(guess: FileGuess, base: Path) -> dict[str, object]:
    """The `sources.<name>` mapping for a guessed file (path relative to `base`)."""
    assert guess.table is not None
    target = guess.file.parent / guess.pattern if guess.pattern else guess.file
    rel = Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    spec: dict[str, object] = {"path": rel, "table": guess.table}
    if guess.constants:
        spec["constants"] = dict(guess.constants)
    spec["columns"] = dict(guess.columns)
    extra: dict[str, object] = {}
    for header, item in guess.extra.items():
        name, kind = item.split(": ")
        extra[name] = kind if name == header else {"type": kind, "column": header}
    spec["extra"] = extra
    if guess.dialect is not None:
        fmt = guess.dialect.format_spec().model_dump(exclude_defaults=True)
        if fmt:
            spec["format"] = fmt
    return spec


def render(guesses: list[FileGuess], base: Path) -> str:
    """The project file text: a review header, one commented block per source, search aliases."""
    lines = [
        "# crmpipe.yml — guessed by `crmpipe init` from the files in this folder.",
        "# Review it before the first run: check each source's table and column mapping, and the",
        "# types of the extension columns under 'extra' (source fields kept as they are).",
        "# The comments above each source say how its guesses were made.",
        "",
        "warehouse: .crmpipe/warehouse.duckdb",
        "",
        "sources:",
    ]
    mapped = [g for g in guesses if g.table]
    for g in mapped:
        spec = source_spec(g, base)
        lines += _source_yaml(g.source, spec, [f"{g.file.name} → {g.notes[0]}", *g.notes[1:]])
        lines.append("")
    if not mapped:
        lines[-1] = "sources: {}"
    skipped = [g for g in guesses if not g.table]
    if skipped:
        lines.append("# Files not mapped (no table could be guessed). To load one, add a source")
        lines += _comment(f"by hand: path, table (one of {', '.join(TABLES)}), columns "
                          "{canonical column: header}.")  # fmt: skip
        for g in skipped:
            rel = Path(os.path.relpath(g.file.resolve(), base.resolve())).as_posix()
            for n in g.notes:
                lines += _comment(f"{rel}: {n}", "#   ")
        lines.append("")
    aliases: dict[str, str] = {"email": "emails", "tech": "tech_names", "created": "created_at"}
    exts = {item.split(": ")[0] for g in mapped for item in g.extra.values()}
    if "pop_estimate_2022" in exts:
        aliases["pop"] = "pop_estimate_2022"
    lines += ["search:", "  aliases:"] + [f"    {k}: {v}" for k, v in aliases.items()]
    return "\n".join(lines) + "\n"
