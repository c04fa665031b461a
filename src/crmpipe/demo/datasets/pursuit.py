"""The public-sector ("pursuit") demo case: entities, techstacks, CRM mappings, messy contacts.

`generate()` writes the source files of DESIGN §1's main case into a folder, with its
`crmpipe.yml` and a ground truth. With the real sample (`<shared>/pursuit/`) the first entities,
techstack rows and mapping rows are the real ones and the rest imitate them; without it
everything is synthetic in the same shape.

Files: `entities.csv` (the real places.csv header, CRLF), `techstacks.csv` (values quoted like
the real file), `crma.csv` / `crmb.csv` (UTF-8 BOM, CRLF, like the real ones), `contacts_1.csv`
(80% of the contacts) and `contacts_2.csv` (the rest, plus re-exports of 0.5% of file 1's
contacts with a new title; a day newer), `truth.csv` and `crmpipe.yml`. Contact files are sorted
by contact_id.

`truth.csv` has one row per contact_id, sorted: the values a correct pipeline ends with.
- entity_id; first_name, last_name, title, department in their canonical spelling (the case
  and whitespace noise removed; compare case-insensitively);
- emails: the valid addresses of the field, lower-cased, `;`-joined, duplicates dropped, in
  order of first occurrence (valid = `local@domain.tld`; the planted invalid ones are
  `a@@b.gov`, `a at b.gov`, `a@b` and `a@`);
- phone in E.164 (`+12125550142`) and phone_ext (digits); created_at as ISO
  `YYYY-MM-DDTHH:MM:SS` (date-only layouts mean midnight, epoch seconds are UTC);
- source_file: the file whose version wins (the later one); rejected: `true` when that line is
  malformed (the contact is then not expected in the database; updated contacts are never
  on a malformed line).
Empty means null (the null tokens `N/A`, `null`, `-`, `none`, ... of optional columns).

Everything is drawn with numpy from one seed and rendered in DuckDB (see `mess.py`), so 4.5M
contacts take seconds and the same seed gives byte-identical files (and file times).
"""

from __future__ import annotations

import csv
import os
import re
import types
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import GeneratedCase, shared_data_dir
from crmpipe.demo.datasets import duplicates as dup
from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v

#: The project file written with the data (its format is owned by crmpipe.config.schema).
CONFIG_YML = """\
# crmpipe project file for the public-sector demo (written by `crmpipe demo pursuit`)
warehouse: .crmpipe/warehouse.duckdb
region: US
sources:
  entities:
    path: entities.csv
    table: entities
    columns: {entity_id: place_id, display_name: display_name, state: state_abbr, lat: lat, \
long: long, url: url, address: address, parent_id: parent_id}
    extra: {pop_estimate_2022: bigint, place_fips: text, sum_lev: text, lsadc: text}
  techstacks:
    path: techstacks.csv
    table: techstacks
    columns: {entity_id: place_id, name: name, type: type}
  customer_a:
    path: crma.csv
    table: external_ids
    constants: {customer: a, system: salesforce}
    columns: {external_id: sfdc_id, entity_id: place_id}
  customer_b:
    path: crmb.csv
    table: external_ids
    constants: {customer: b, system: hubspot}
    columns: {external_id: hubspot_id, entity_id: place_id}
  contacts:
    path: contacts_*.csv
    table: contacts
    columns: {contact_id: contact_id, entity_id: place_id, first_name: first_name, \
last_name: last_name, emails: email, phone: phone, title: title, department: department, \
created_at: created_at}
search:
  aliases: {pop: pop_estimate_2022, tech: tech_names, email: emails, created: created_at, \
sfdc_id: salesforce_ids, hubspot_id: hubspot_ids}
  shorthands: {filter: "email:{1} tech:{2} pop{3}"}
# Data quality (docs/quality.md): checks beyond the model's defaults, and the SLAs of the case.
checks:
  entities:
    columns:
      pop_estimate_2022: [{range: {min: 0, severity: warn}}]
  contacts:
    table:
      - row_count: {min: 1, max_change: 50, severity: warn}
slas:
  - {metric: completeness, table: contacts, column: emails, target: 90}
  - {metric: completeness, table: contacts, column: phone, target: 90}
  - {metric: validity, table: contacts, column: emails, target: 95}
  - {metric: validity, table: contacts, column: phone, target: 99}
  - {metric: consistency, table: entities, column: state}
  - {metric: completeness, table: entities, column: address, target: 80, severity: warn}
  - {metric: duplicate_rate, table: contacts, target: 1}
  # the generator's dates end at a fixed day, so the demo allows three years
  - {metric: freshness, table: contacts, column: created_at, target: 1095, severity: warn}
"""

ENTITY_HEADER = (
    "place_id",
    "state_abbr",
    "lat",
    "long",
    "pop_estimate_2022",
    "place_fips",
    "sum_lev",
    "url",
    "lsadc",
    "display_name",
    "parent_id",
    "address",
)
TECH_HEADER = ("name", "place_id", "type")
CONTACT_HEADER = (
    "contact_id",
    "place_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "department",
    "created_at",
)
TRUTH_HEADER = (
    "contact_id",
    "entity_id",
    "first_name",
    "last_name",
    "title",
    "department",
    "emails",
    "phone",
    "phone_ext",
    "created_at",
    "source_file",
    "rejected",
)
CONTACT_FILES = ("contacts_1.csv", "contacts_2.csv")

#: File times (UTC epoch seconds): every file at the base time, the second contacts export a
#: day later, so "the later file wins" holds by mtime as well as by name.
MTIME_BASE = 1_717_200_000  # 2024-06-01T00:00:00Z
#: The planted duplicates come from an older export of another CRM: a day earlier.
MTIMES = {"contacts_2.csv": MTIME_BASE + 86_400, "contacts_3.csv": MTIME_BASE - 86_400}
#: Share of contacts planted again, varied, in contacts_3.csv (datasets/duplicates.py).
DUPLICATE_RATE = 0.05

#: Shares and rates of the generated data. Mess rates are per written contact row.
FILE1_SHARE = 0.80  # contacts in the first export
UPDATE_SHARE = 0.005  # of file-1 contacts re-exported in file 2 with a new title
MALFORMED_EVERY = 200_000  # about one malformed line per this many rows, at least 3 per file
MAIN_LINE_SHARE = 0.22  # contacts reached through the entity's main number and an extension
PERSONAL_EMAIL_SHARE = 0.03  # contacts whose primary email is a personal mailbox
#: Share of contacts with an accented first name (José, Zoë, ...), written as UTF-8.
ACCENTED_NAME_SHARE = 0.01
EMAIL_PATTERNS = ("first.last", "flast", "firstl", "first", "first_last", "lastf")
EMAIL_PATTERN_WEIGHTS = (0.45, 0.28, 0.06, 0.08, 0.07, 0.06)
CREATED_RANGE = (1_420_070_400, 1_751_241_600)  # 2015-01-01 .. 2025-06-30 (UTC)

RATES: dict[str, list[float]] = {
    # names: case (upper, lower) and whitespace (padded, trailing, leading)
    "name_case": [0.02, 0.02],
    "name_ws": [0.015, 0.01, 0.005],
    # titles: case (upper, lower, sentence), whitespace (+ doubled inside), null tokens
    "title_case": [0.02, 0.02, 0.01],
    "title_ws": [0.01, 0.01, 0.005, 0.01],
    "title_null": m.null_token_probs(0.03),
    "dept_case": [0.01, 0.02],
    "dept_ws": [0.01, 0.005],
    "dept_null": m.null_token_probs(0.05),
    # emails: null, structure (two addresses, duplicate), invalid kinds, case, whitespace
    "email_null": m.null_token_probs(0.03),
    "email_struct": [0.04, 0.005],
    "email_invalid": [0.006, 0.006, 0.006, 0.004],  # @@, ' at ', no TLD, no domain
    "email_case": [0.015, 0.025],  # UPPER, Capitalized
    "email_ws": [0.01, 0.01, 0.005],
    "email_sep": [0.35, 0.25, 0.20, 0.10],  # '; ', ', ', ' ', ';' (else ',') among multi
    "phone_null": m.null_token_probs(0.05),
    "created_null": m.null_token_probs(0.02),
    # timestamp layouts other than the main one: date, ISO T, m/d/yyyy, m/d/yy, epoch
    "created_format": [0.035, 0.035, 0.035, 0.025, 0.02],
    # entity file: state as full name, AP abbreviation, lower case, padded; population
    "state_mess": [0.02, 0.015, 0.01, 0.005],
    "pop_mess": [0.03, 0.01],  # thousands separators, null token
}


@dataclass
class _Real:
    """The real sample, as read from `<shared>/pursuit/` (values verbatim)."""

    places: list[dict[str, str]]
    techs: list[tuple[str, str, str]]
    crma: list[tuple[str, str]]
    crmb: list[tuple[str, str]]


@dataclass
class _Entities:
    """Entity columns, real rows first. Text columns are the values to write (before mess)."""

    place_id: list[str] = field(default_factory=list)
    state_text: list[str] = field(default_factory=list)
    lat: list[str] = field(default_factory=list)
    long: list[str] = field(default_factory=list)
    pop_text: list[str] = field(default_factory=list)
    place_fips: list[str] = field(default_factory=list)
    sum_lev: list[str] = field(default_factory=list)
    url: list[str] = field(default_factory=list)
    lsadc: list[str] = field(default_factory=list)
    display_name: list[str] = field(default_factory=list)
    parent_id: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.place_id)

    def extend(self, other: _Entities) -> None:
        for name in ENTITY_FIELDS:
            getattr(self, name).extend(getattr(other, name))


ENTITY_FIELDS = (
    "place_id",
    "state_text",
    "lat",
    "long",
    "pop_text",
    "place_fips",
    "sum_lev",
    "url",
    "lsadc",
    "display_name",
    "parent_id",
    "address",
)


# --------------------------------------------------------------------------------------------
# Public API


def generate(
    folder: Path,
    *,
    contacts: int = 100_000,
    entities: int | None = None,
    seed: int = 0,
    duplicates: float = DUPLICATE_RATE,
    shared: Path | None | types.EllipsisType = ...,
) -> GeneratedCase:
    """Write the pursuit case into `folder` and return what was written.

    `entities` defaults to max(1000, contacts // 30). `shared` is the real sample folder (the
    one holding `pursuit/`, or `pursuit/` itself); by default `shared_data_dir()` (synthetic
    when that finds nothing); None means fully synthetic entities, techstacks and mappings; an
    explicit folder without the sample is a FileNotFoundError.

    `counts` holds the data rows per file name and: `contacts`, `contact_rows`,
    `updated_contacts`, `real_entities`, `malformed_lines` (and `malformed_too_many_fields`,
    `malformed_too_few_fields`, `malformed_invalid_utf8`), `rejected_contacts`, and the planted
    mess per written contact row (`invalid_emails`, `multi_email_fields`,
    `duplicate_email_fields`, `email_case_noise`, `null_tokens` and per column
    `*_null_tokens`, `name_case_noise`, `name_whitespace_noise`, `title_case_noise`,
    `title_whitespace_noise`, `phone_nonstandard_formats`, `phone_extensions`,
    `created_nonstandard_formats`) and in the entity file (`entity_state_*`,
    `entity_pop_thousands_separators`, `entity_pop_null_tokens`).
    """
    if contacts < 0:
        raise ValueError("contacts must be >= 0")
    if not 0 <= duplicates < 1:
        raise ValueError("duplicates must be a rate in [0, 1)")
    n_entities = max(1000, contacts // 30) if entities is None else entities
    if n_entities < 1:
        raise ValueError("entities must be >= 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    real = _load_real(shared_data_dir() if shared is ... else shared, explicit=shared is not ...)

    ss = np.random.SeedSequence(seed)
    rng_ent, rng_tech, rng_map, rng_con, rng_mess = (np.random.default_rng(s) for s in ss.spawn(5))
    rng_dup = np.random.default_rng(ss.spawn(1)[0])
    counts: dict[str, int] = {}

    ents = _build_entities(rng_ent, n_entities, real)
    state_idx = _state_index(ents.state_text)
    counts.update(_write_entities(folder / "entities.csv", ents, state_idx, rng_ent))
    counts["real_entities"] = min(len(real.places), n_entities) if real else 0
    counts["techstacks.csv"] = _write_techstacks(folder / "techstacks.csv", ents, real, rng_tech)
    counts.update(_write_mappings(folder, ents, real, rng_map))
    contact_counts, kept = _write_contacts(folder, ents, state_idx, contacts, rng_con, rng_mess)
    counts.update(contact_counts)
    counts.update(
        dup.write_duplicates(
            folder,
            kept,
            rate=duplicates,
            rng=rng_dup,
            id_width=max(7, len(str(contacts))),
        )
    )

    config_path = folder / "crmpipe.yml"
    config_path.write_text(CONFIG_YML, encoding="utf-8")
    dup_files = (dup.DUPLICATES_FILE,) if counts["planted_duplicates"] else ()
    files = [
        folder / n
        for n in (
            "entities.csv",
            "techstacks.csv",
            "crma.csv",
            "crmb.csv",
            *CONTACT_FILES,
            *dup_files,
        )
    ]
    for path in [*files, folder / "truth.csv", folder / dup.TRUTH_FILE, config_path]:
        t = MTIMES.get(path.name, MTIME_BASE)
        os.utime(path, (t, t))
    return GeneratedCase(folder, config_path, folder / "truth.csv", files, counts)


# --------------------------------------------------------------------------------------------
# Real sample


def _load_real(shared: Path | None, *, explicit: bool) -> _Real | None:
    if shared is None:
        return None
    shared = Path(shared)
    base = shared if (shared / "places.csv").is_file() else shared / "pursuit"
    if not (base / "places.csv").is_file():
        if explicit:
            raise FileNotFoundError(f"no pursuit sample (places.csv) under {shared}")
        return None

    def rows(name: str) -> list[list[str]]:
        with (base / name).open(encoding="utf-8-sig", newline="") as fh:
            return list(csv.reader(fh))

    places = rows("places.csv")
    head = [h.strip() for h in places[0]]
    techs = rows("techstacks.csv")
    crma = rows("crma.csv")
    crmb = rows("crmb.csv")
    return _Real(
        places=[dict(zip(head, r, strict=True)) for r in places[1:] if r],
        techs=[(r[0], r[1], r[2]) for r in techs[1:] if r],
        crma=[(r[0], r[1]) for r in crma[1:] if r],
        crmb=[(r[0], r[1]) for r in crmb[1:] if r],
    )


# --------------------------------------------------------------------------------------------
# Entities

_DOMAIN_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\d?\.)?([^/:?#\s]+)", re.I)
_VALID_DOMAIN_RE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")


def url_domain(url: str) -> str:
    """The mail domain of an entity's web site ('https://www.cityofx.gov/a' → 'cityofx.gov').

    '' when the url gives no plausible domain (the entity's staff then use personal mail).
    """
    match = _DOMAIN_RE.match(url.strip())
    if not match:
        return ""
    domain = match.group(1).lower().strip(".")
    return domain if _VALID_DOMAIN_RE.fullmatch(domain) else ""


def _state_index(state_text: list[str]) -> np.ndarray:
    """Index into vocab.STATES of each entity's state (-1 when not a known code)."""
    return np.array([v.STATE_INDEX.get(s.strip().upper(), -1) for s in state_text], np.int16)


def _build_entities(rng: np.random.Generator, n: int, real: _Real | None) -> _Entities:
    ents = _Entities()
    if real:
        for row in real.places[:n]:
            for name, col in zip(ENTITY_FIELDS, ENTITY_HEADER, strict=True):
                getattr(ents, name).append(row.get(col, ""))
    n_gen = n - len(ents)
    if n_gen > 0:
        ents.extend(_generated_entities(rng, n_gen, real, ents))
    return ents


def _fit_population(real: _Real | None) -> dict[str, tuple[float, float]]:
    params = dict(v.POPULATION_LOGNORMAL)
    if not real:
        return params
    by_lev: dict[str, list[float]] = {}
    for row in real.places:
        pop = row.get("pop_estimate_2022", "").replace(",", "").strip()
        if pop.isdigit() and int(pop) > 0:
            by_lev.setdefault(row.get("sum_lev", "").strip(), []).append(np.log(int(pop)))
    for lev, logs in by_lev.items():
        if len(logs) >= 10:
            params[lev] = (float(np.mean(logs)), float(np.std(logs)) or 1.0)
    return params


def _kind_weights(real: _Real | None) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(sum_lev, lsadc) pairs of generated entities and their probabilities."""
    pairs = list(v.ENTITY_PATTERNS)
    if real:
        w = np.array(
            [
                sum(
                    1
                    for r in real.places
                    if (r.get("sum_lev", "").strip(), r.get("lsadc", "").strip()) == p
                )
                for p in pairs
            ],
            dtype=np.float64,
        )
        if w.sum() > 0:
            return pairs, w / w.sum()
    w = np.array([v.ENTITY_PATTERNS[p][1] for p in pairs])
    return pairs, w / w.sum()


def _state_weights(real: _Real | None) -> np.ndarray:
    """States of generated entities: the real sample's mix, smoothed towards population."""
    pop = np.array([s.population_m for s in v.STATES])
    pop = pop / pop.sum()
    if not real:
        return pop
    counts = np.zeros(len(v.STATES))
    for row in real.places:
        i = v.STATE_INDEX.get(row.get("state_abbr", "").strip().upper())
        if i is not None:
            counts[i] += 1
    if counts.sum() == 0:
        return pop
    return 0.85 * counts / counts.sum() + 0.15 * pop


def _place_names(rng: np.random.Generator, n: int) -> list[str]:
    """Town names the way Faker's en_US city formats build them ('Port Jenniferburgh')."""
    firsts = np.array(list(v.first_names("m").names) + list(v.first_names("f").names), object)
    firsts = firsts[[len(f) > 3 for f in firsts]]
    lasts = v.last_names()
    fmt = rng.choice(4, size=n, p=[0.15, 0.10, 0.30, 0.45])
    pre = rng.integers(0, len(v.CITY_PREFIXES), n)
    suf = rng.integers(0, len(v.CITY_SUFFIXES), n)
    fi = rng.integers(0, len(firsts), n)
    li = m.draw_choice(rng, n, lasts.probs)
    out = []
    for k, p, s, f, last in zip(fmt, pre, suf, fi, li, strict=True):
        first, suffix = firsts[f], v.CITY_SUFFIXES[s]
        if k == 0:
            out.append(f"{v.CITY_PREFIXES[p]} {first}{suffix}")
        elif k == 1:
            out.append(f"{v.CITY_PREFIXES[p]} {first}")
        elif k == 2:
            out.append(f"{first}{suffix}")
        else:
            out.append(f"{lasts.names[last]}{suffix}")
    return out


def _object_id(rng: np.random.Generator, n: int, start: int) -> list[str]:
    """Mongo-ObjectId-like ids (24 hex), like the real place_ids, unique by their counter."""
    machine = int(rng.integers(0, 2**40))
    return [
        f"{0x65C00000 + (start + i) // 64:08x}{machine:010x}{(start + i) % 2**24:06x}"
        for i in range(n)
    ]


def _url(u_pick: float, u_style: float, sum_lev: str, lsadc: str, name: str, state: v.State) -> str:
    """A plausible web site for an entity named `name` (u_*: uniform draws in [0, 1))."""
    slug = re.sub(r"[^a-z]", "", name.lower())
    st = state.abbr.lower()
    scheme = "https://" if u_style < 0.7 else "http://"
    slash = "/" if (u_style * 10) % 1 < 0.5 else ""
    if sum_lev == "40":
        opts = [f"www.{re.sub(r'[^a-z]', '', state.name.lower())}.gov", f"{st}.gov"]
    elif sum_lev == "50":
        word = "borough" if lsadc == "4" else "county"
        opts = [
            f"www.{slug}{word}{st}.gov",
            f"{slug}{word}.org",
            f"www.co.{slug}.{st}.us",
            f"www.{slug}{word}.gov",
            f"{slug}co.org",
        ]
    elif sum_lev == "970":
        opts = [
            f"www.{slug}schools.org",
            f"{slug}.k12.{st}.us",
            f"www.{slug}sd.org",
            f"www.{slug}.k12.{st}.us",
            f"{slug}schools.net",
        ]
    else:
        word = {"25": "cityof", "43": "townof", "47": "villageof", "49": "township"}.get(lsadc, "")
        opts = [
            f"www.{word}{slug}.gov",
            f"{slug}{st}.gov",
            f"www.{word}{slug}.org",
            f"www.{word}{slug}.com",
            f"www.{slug}-{st}.gov",
            f"www.ci.{slug}.{st}.us",
            f"{slug}.org",
        ]
    return scheme + opts[int(u_pick * len(opts))] + slash


def _generated_entities(
    rng: np.random.Generator, n: int, real: _Real | None, existing: _Entities
) -> _Entities:
    """`n` plausible entities shaped like the real ones (or like public-sector data at all)."""
    out = _Entities()
    start = len(existing)
    have_state_entity = {
        s.strip().upper()
        for s, lev in zip(existing.state_text, existing.sum_lev, strict=True)
        if lev.strip() == "40"
    }
    # state-level entities for the states that have none, so counties can point to them
    states_added = [i for i, s in enumerate(v.STATES) if s.abbr not in have_state_entity]
    if n < 500:
        states_added = []
    n_rest = n - len(states_added)
    pairs, pair_p = _kind_weights(real)
    pair_idx = m.draw_choice(rng, n_rest, pair_p)
    st = np.concatenate(
        [np.array(states_added, np.int32), m.draw_choice(rng, n_rest, _state_weights(real))]
    )
    lev = ["40"] * len(states_added) + [pairs[i][0] for i in pair_idx]
    lsad = ["0"] * len(states_added) + [pairs[i][1] for i in pair_idx]
    for i in range(len(states_added), n):  # boroughs are Alaska's counties and only Alaska's
        is_ak = v.STATES[st[i]].abbr == "AK"
        if lev[i] == "50" and lsad[i] in ("4", "6"):
            lsad[i] = "4" if is_ak else "6"
    names = _place_names(rng, n)
    county_names = m.draw_choice(rng, n, v.last_names().probs)
    pop_params = _fit_population(real)
    anchors: dict[int, list[tuple[float, float]]] = {}
    if real:
        for row in real.places:
            i = v.STATE_INDEX.get(row.get("state_abbr", "").strip().upper())
            try:
                lat, lon = float(row.get("lat", "")), float(row.get("long", ""))
            except ValueError:
                continue
            if i is not None:
                anchors.setdefault(i, []).append((lat, lon))
    fips_by_lev: dict[str, list[str]] = {}
    if real:
        for row in real.places:
            fips_by_lev.setdefault(row.get("sum_lev", "").strip(), []).append(
                row.get("place_fips", "").strip()
            )
    ids = _object_id(rng, n, start)
    u = rng.random((n, 8))
    # numbers, vectorized: position near a real place of the same state (else anywhere in the
    # state's box), population, and which rows lack coordinates, population, url, address
    lat_box = np.array([v.STATES[i].lat for i in st])
    lon_box = np.array([v.STATES[i].long for i in st])
    lat = lat_box[:, 0] + (0.1 + 0.8 * u[:, 1]) * (lat_box[:, 1] - lat_box[:, 0])
    lon = lon_box[:, 0] + (0.1 + 0.8 * u[:, 2]) * (lon_box[:, 1] - lon_box[:, 0])
    jitter = rng.normal(0.0, 0.3, (n, 2))
    for si, pts in anchors.items():
        rows = np.flatnonzero(st == si)
        if rows.size:
            pick = np.array(pts)[(u[rows, 1] * len(pts)).astype(int)]
            lat[rows] = np.clip(pick[:, 0] + jitter[rows, 0], *v.STATES[si].lat)
            lon[rows] = np.clip(pick[:, 1] + jitter[rows, 1], *v.STATES[si].long)
    mu_sd = np.array([pop_params.get(sl, pop_params["160"]) for sl in lev])
    pop = np.exp(mu_sd[:, 0] + mu_sd[:, 1] * rng.standard_normal(n)).astype(np.int64)
    state_pop = np.array([int(v.STATES[i].population_m * 1e6) for i in st])
    is_state = np.array([sl == "40" for sl in lev])
    pop = np.where(is_state, state_pop, pop)
    missing = rng.random((n, 3)) < np.array([0.015, 0.015, 0.015])  # coords, population, url
    street_no = np.maximum(1, np.exp(rng.normal(5.0, 1.2, n))).astype(np.int64).tolist()
    lat_text = [f"{x:.7f}".rstrip("0") for x in lat.tolist()]
    lon_text = [f"{x:.7f}".rstrip("0") for x in lon.tolist()]
    uu = u.tolist()
    pops = pop.tolist()
    miss = missing.tolist()
    last_names = v.last_names().names
    for i in range(n):
        ui = uu[i]
        state = v.STATES[st[i]]
        sl, ls = lev[i], lsad[i]
        if sl == "40":
            x, display = state.name, state.name
        elif sl == "50":
            x = last_names[county_names[i]] if ui[0] < 0.7 else names[i]
            display = f"{x} Borough" if ls == "4" else f"{x} County"
        else:
            x = names[i]
            templates = v.ENTITY_PATTERNS[(sl, ls)][0]
            display = templates[int(ui[0] * len(templates))].format(x=x)
        fips_pool = fips_by_lev.get(sl)
        if fips_pool:
            fips = fips_pool[int(ui[4] * len(fips_pool))]
        else:
            fips = str(int(ui[4] * 99_000) + 100) if sl in ("160", "60", "970") else ""
        zlo, zhi = v.ZIP_RANGES.get(state.abbr, (10001, 99950))
        zip_code = f"{zlo + int(ui[6] * (zhi - zlo + 1)):05d}"
        city = x if sl in ("160", "60") else names[(i * 7919 + 13) % n]
        if ui[7] < 0.80:
            street = v.STREET_NAMES[int(ui[7] * 1000) % len(v.STREET_NAMES)]
            address = f"{street_no[i]} {street}, {city}, {state.abbr} {zip_code}, USA"
        elif ui[7] < 0.90:
            address = f"{city}, {state.abbr} {zip_code}, USA"
        else:
            address = ""
        out.place_id.append(ids[i])
        out.state_text.append(state.abbr)
        out.lat.append("" if miss[i][0] else lat_text[i])
        out.long.append("" if miss[i][0] else lon_text[i])
        out.pop_text.append("" if miss[i][1] and sl != "40" else str(pops[i]))
        out.place_fips.append(fips)
        out.sum_lev.append(sl)
        out.url.append("" if miss[i][2] else _url(ui[5], ui[3], sl, ls, x, state))
        out.lsadc.append(ls)
        out.display_name.append(display)
        out.address.append(address)
    out.parent_id = _parents(rng, existing, out)
    return out


def _parents(rng: np.random.Generator, existing: _Entities, new: _Entities) -> list[str]:
    """Parents of generated entities: places → a county of their state, counties and school
    districts → their state's entity; like the real sample's links. Some have none."""
    counties: dict[str, list[str]] = {}
    state_entity: dict[str, str] = {}
    for ids, states, levs in (
        (existing.place_id, existing.state_text, existing.sum_lev),
        (new.place_id, new.state_text, new.sum_lev),
    ):
        for pid, s, lev in zip(ids, states, levs, strict=True):
            s, lev = s.strip().upper(), lev.strip()
            if lev == "50":
                counties.setdefault(s, []).append(pid)
            elif lev == "40":
                state_entity.setdefault(s, pid)
    u = rng.random((len(new), 2))
    out = []
    for i, (s, lev) in enumerate(zip(new.state_text, new.sum_lev, strict=True)):
        parent = ""
        if u[i, 0] >= 0.05:
            if lev in ("160", "60") and counties.get(s):
                pool = counties[s]
                parent = pool[int(u[i, 1] * len(pool))]
            elif lev in ("160", "60", "50", "970"):
                parent = state_entity.get(s, "")
        out.append(parent)
    return out


def _write_entities(
    path: Path, ents: _Entities, state_idx: np.ndarray, rng: np.random.Generator
) -> dict[str, int]:
    """entities.csv with the entity-file mess: state spellings, population separators."""
    n = len(ents)
    state_code = m.draw_codes(rng, n, RATES["state_mess"])
    pop_code = m.draw_codes(rng, n, RATES["pop_mess"])
    token = m.draw_codes(rng, n, m.NULL_TOKEN_WEIGHTS[1:])  # a visible token, not ''
    counts = {
        "entity_state_full_names": 0,
        "entity_state_ap_abbreviations": 0,
        "entity_state_lower_case": 0,
        "entity_state_padded": 0,
        "entity_pop_thousands_separators": 0,
        "entity_pop_null_tokens": 0,
    }
    rows = []
    for i in range(n):
        row = [getattr(ents, f)[i] for f in ENTITY_FIELDS]
        s = int(state_idx[i])
        code = int(state_code[i])
        if s >= 0 and code:
            state = v.STATES[s]
            key, text = [
                ("entity_state_full_names", state.name),
                ("entity_state_ap_abbreviations", state.ap),
                ("entity_state_lower_case", state.abbr.lower()),
                ("entity_state_padded", f" {state.abbr} "),
            ][code - 1]
            row[1] = text
            counts[key] += 1
        pop = row[4]
        if pop_code[i] == 1 and pop.isdigit() and int(pop) >= 1000:
            row[4] = f"{int(pop):,}"
            counts["entity_pop_thousands_separators"] += 1
        elif pop_code[i] == 2 and pop:
            row[4] = m.NULL_TOKENS[max(1, int(token[i]))]
            counts["entity_pop_null_tokens"] += 1
        rows.append(row)
    counts["entities.csv"] = m.write_csv_rows(path, ENTITY_HEADER, rows, eol="\r\n")
    return counts


# --------------------------------------------------------------------------------------------
# Techstacks and customer mappings


def _write_techstacks(
    path: Path, ents: _Entities, real: _Real | None, rng: np.random.Generator
) -> int:
    """Real techstack rows for the real places, then 0–6 techs per generated entity drawn from
    the real (name, type) mix."""
    n_real = min(len(real.places), len(ents)) if real else 0
    present = set(ents.place_id[:n_real])
    rows: list[tuple[str, str, str]] = [t for t in real.techs if t[1] in present] if real else []
    if real and real.techs:
        freq: dict[tuple[str, str], int] = {}
        per_place: dict[str, int] = {}
        for name, pid, typ in real.techs:
            freq[(name, typ)] = freq.get((name, typ), 0) + 1
            per_place[pid] = per_place.get(pid, 0) + 1
        k_counts = np.zeros(7)
        for row in real.places:
            k_counts[min(6, per_place.get(row["place_id"], 0))] += 1
        vocab = list(freq)
        weights = np.array([freq[p] for p in vocab], dtype=np.float64)
    else:
        vocab = [(name, typ) for name, typ, _ in v.FALLBACK_TECHS]
        weights = np.array([w for _, _, w in v.FALLBACK_TECHS], dtype=np.float64)
        k_counts = np.array(v.FALLBACK_TECH_COUNTS, dtype=np.float64)
    n_gen = len(ents) - n_real
    if n_gen > 0:
        k = m.draw_choice(rng, n_gen, k_counts / k_counts.sum())
        picks = m.draw_choice(rng, int(k.sum()), weights / weights.sum())
        owner = np.repeat(np.arange(n_real, len(ents)), k)
        seen: set[tuple[int, int]] = set()
        for e, p in zip(owner.tolist(), picks.tolist(), strict=True):
            if (e, p) not in seen:  # the same product twice on one entity is one row
                seen.add((e, p))
                rows.append((vocab[p][0], ents.place_id[e], vocab[p][1]))
    return m.write_csv_rows(path, TECH_HEADER, rows, quote_all=True)


def _write_mappings(
    folder: Path, ents: _Entities, real: _Real | None, rng: np.random.Generator
) -> dict[str, int]:
    """crma.csv / crmb.csv: real mappings first, extended at the real share of entities."""
    n_real = min(len(real.places), len(ents)) if real else 0
    present = set(ents.place_id[:n_real])
    counts = {}
    for name, header, real_rows in (
        ("crma.csv", "sfdc_id", real.crma if real else []),
        ("crmb.csv", "hubspot_id", real.crmb if real else []),
    ):
        share = len(real_rows) / len(real.places) if real and real.places else 0.2
        rows = [r for r in real_rows if r[1] in present]
        ids = [int(r[0]) for r in real_rows if r[0].strip().isdigit()]
        next_id = (max(ids) if ids else len(real_rows)) + 1
        n_gen = len(ents) - n_real
        extra = min(n_gen, round(share * len(ents)) - len(rows)) if n_gen > 0 else 0
        if extra > 0:
            chosen = np.sort(rng.choice(n_gen, size=extra, replace=False)) + n_real
            rng.shuffle(chosen)
            rows += [(str(next_id + j), ents.place_id[e]) for j, e in enumerate(chosen.tolist())]
        counts[name] = m.write_csv_rows(
            folder / name, (header, "place_id"), rows, eol="\r\n", bom=True
        )
    return counts


# --------------------------------------------------------------------------------------------
# Contacts and the ground truth


def _email_local(pattern: str) -> str:
    """SQL for the local part of a work address in pattern `pattern` (an int expression)."""
    return (
        f"CASE {pattern} WHEN 0 THEN concat(fl, '.', ll) WHEN 1 THEN concat(left(fl, 1), ll) "
        f"WHEN 2 THEN concat(fl, left(ll, 1)) WHEN 3 THEN fl WHEN 4 THEN concat(fl, '_', ll) "
        f"ELSE concat(ll, left(fl, 1)) END"
    )


def _email_cte() -> str:
    """CTE `b`: `base` plus each row's clean primary (e1) and secondary (e2) address."""
    e1 = (
        "CASE WHEN personal THEN concat(CASE WHEN nn >= 0 THEN concat(fl, ll, "
        "lpad(CAST(nn AS VARCHAR), 2, '0')) ELSE concat(fl, '.', ll) END, '@', pdom) "
        f"ELSE concat({_email_local('epat')}, '@', edom) END"
    )
    e2 = (
        f"CASE WHEN has_dom AND NOT personal AND NOT e2personal THEN concat("
        f"{_email_local('epat2')}, '@', edom) WHEN has_dom AND personal THEN concat("
        f"{_email_local('epat')}, '@', edom) ELSE concat(fl, '.', ll, '@', pdom2) END"
    )
    numbered = "CASE WHEN sfx > 0 THEN replace({0}, '@', CAST(sfx AS VARCHAR) || '@') ELSE {0} END"
    return (
        f"b AS (SELECT *, {numbered.format(e1)} AS e1, {numbered.format(e2)} AS e2 "
        "FROM base WHERE {where})"
    )


def _contact_id_sql(id_width: int) -> str:
    return f"concat('c', lpad(CAST(contact_num AS VARCHAR), {id_width}, '0'))"


def _lines_sql(id_width: int, where: str) -> str:
    """The contact rows matching `where` as finished CSV lines: `file, pos, contact_num, line`
    (the messy row) and `truth` (its truth.csv line)."""
    e1_shown = (
        "CASE e_inv WHEN 1 THEN replace(e1, '@', '@@') WHEN 2 THEN replace(e1, '@', ' at ') "
        "WHEN 3 THEN concat(split_part(e1, '@', 1), '@', split_part(split_part(e1, '@', 2), "
        "'.', 1)) WHEN 4 THEN concat(split_part(e1, '@', 1), '@') ELSE e1 END"
    )
    sep = (
        "CASE e_sep WHEN 1 THEN '; ' WHEN 2 THEN ', ' WHEN 3 THEN ' ' WHEN 4 THEN ';' ELSE ',' END"
    )
    email_field = (
        "CASE e_struct WHEN 0 THEN e1c "
        f"WHEN 1 THEN concat(e1c, {sep}, e2) "
        f"ELSE concat(e1c, {sep}, CASE WHEN e_case = 1 THEN e1 ELSE upper(e1) END) END"
    )
    e1_cased = (
        "CASE e_case WHEN 0 THEN e1s WHEN 1 THEN upper(e1s) "
        "ELSE concat(upper(left(e1s, 1)), substr(e1s, 2)) END"
    )
    fields = [
        _contact_id_sql(id_width),
        "place_id",
        m.sql_ws_noise("fn", "fn_ws"),
        m.sql_ws_noise("ln", "ln_ws"),
        m.sql_null(m.sql_ws_noise("ef", "e_ws"), "e_null"),
        m.sql_null("ph", "p_null"),
        m.sql_null(m.sql_ws_noise("tt", "t_ws"), "t_null"),
        m.sql_null(m.sql_ws_noise("dd", "d_ws"), "d_null"),
        m.sql_null(m.sql_timestamp_text("created", "c_fmt"), "c_null"),
    ]
    line = m.sql_csv_line(
        fields, needs_quoting=[False, False, False, False, True, False, True, True, False]
    )
    return f"""
        WITH {_email_cte().format(where=where)},
        c0 AS (SELECT *, {e1_shown} AS e1s FROM b),
        c AS (SELECT *, {e1_cased} AS e1c FROM c0),
        d AS (SELECT *,
            {email_field} AS ef,
            {m.sql_case_noise("first_name", "fn_case")} AS fn,
            {m.sql_case_noise("last_name", "ln_case")} AS ln,
            {m.sql_case_noise("title", "t_case")} AS tt,
            {m.sql_case_noise("department", "d_case")} AS dd,
            {
        m.sql_concat(m.sql_phone("area", "exch", "pline", "p_fmt"), m.sql_extension("ext", "x_fmt"))
    } AS ph
            FROM c)
        SELECT file, pos, contact_num, {line} AS line, {_truth_line(id_width)} AS truth FROM d
    """


def _truth_line(id_width: int) -> str:
    """SQL for a row's truth.csv line: its clean values, as a correct pipeline ends them."""
    fields = [
        _contact_id_sql(id_width),
        "place_id",
        "first_name",
        "last_name",
        "CASE WHEN t_null = 0 THEN title ELSE '' END",
        "CASE WHEN d_null = 0 THEN department ELSE '' END",
        "CASE WHEN e_null = 0 THEN concat_ws(';', CASE WHEN e_inv = 0 THEN e1 END, "
        "CASE WHEN e_struct = 1 AND (e_inv <> 0 OR e2 <> e1) THEN e2 END) ELSE '' END",
        f"CASE WHEN p_null = 0 THEN {m.sql_phone_e164('area', 'exch', 'pline')} ELSE '' END",
        "CASE WHEN p_null = 0 AND ext IS NOT NULL THEN CAST(ext AS VARCHAR) ELSE '' END",
        f"CASE WHEN c_null = 0 THEN {m.sql_timestamp_truth('created', 'c_fmt')} ELSE '' END",
        f"CASE file WHEN 1 THEN {m.sql_str(CONTACT_FILES[0])} "
        f"ELSE {m.sql_str(CONTACT_FILES[1])} END",
        "CASE WHEN rejected THEN 'true' ELSE 'false' END",
    ]
    quoting = [False, False, False, False, True, True, False, False, False, False, False, False]
    return m.sql_csv_line(fields, needs_quoting=quoting)


def _write_contacts(
    folder: Path,
    ents: _Entities,
    state_idx: np.ndarray,
    n: int,
    rng: np.random.Generator,
    rng_mess: np.random.Generator,
) -> tuple[dict[str, int], pa.Table]:
    """contacts_1.csv, contacts_2.csv and truth.csv; also the kept rows (file, row, contact)."""
    n_ent = len(ents)
    # ---- per entity: contact weight, kind, mail domain and pattern, phone numbers
    pops = np.array([_int_or(p, -1) for p in ents.pop_text], dtype=np.float64)
    median = float(np.median(pops[pops > 0])) if (pops > 0).any() else 5000.0
    pops[pops <= 0] = median
    weight = pops**0.6 * np.exp(rng.normal(0.0, 0.6, n_ent))
    kinds = np.array([v.KINDS.index(v.kind_of_sum_lev(s)) for s in ents.sum_lev], np.int8)
    domains = [url_domain(u) for u in ents.url]
    has_dom_ent = np.array([bool(d) for d in domains])
    ent_pattern = m.draw_choice(rng, n_ent, np.array(EMAIL_PATTERN_WEIGHTS))
    area_codes = np.array(
        [
            v.STATES[s].area_codes[int(r * len(v.STATES[s].area_codes))] if s >= 0 else 0
            for s, r in zip(state_idx.tolist(), rng.random(n_ent).tolist(), strict=True)
        ],
        dtype=np.int16,
    )
    unknown = area_codes == 0
    all_codes = np.array(sorted({c for s in v.STATES for c in s.area_codes}), np.int16)
    area_codes[unknown] = all_codes[rng.integers(0, len(all_codes), int(unknown.sum()))]
    main_exch = _exchanges(rng, n_ent)
    main_line = rng.integers(0, 10_000, n_ent).astype(np.int16)

    # ---- per contact
    ent = np.repeat(np.arange(n_ent, dtype=np.int32), rng.multinomial(n, weight / weight.sum()))
    rng.shuffle(ent)
    male = rng.random(n) < 0.5
    fm, ff = v.first_names("m"), v.first_names("f")
    first_names = [*fm.names, *ff.names, *m.LATIN1_NAMES]
    first = np.empty(n, np.int32)
    first[male] = m.draw_choice(rng, int(male.sum()), fm.probs)
    first[~male] = m.draw_choice(rng, int((~male).sum()), ff.probs) + len(fm.names)
    # Real US exports carry some accented names (José, Zoë), written as UTF-8: that is also what
    # tells the sniffer the files are UTF-8, so the planted cp1252 line is rejected, not re-read.
    accented = np.flatnonzero(rng.random(n) < ACCENTED_NAME_SHARE)
    first[accented] = (
        len(fm.names) + len(ff.names) + rng.integers(0, len(m.LATIN1_NAMES), accented.size)
    )
    last_vocab = v.last_names()
    last = m.draw_choice(rng, n, last_vocab.probs)
    tv = v.titles()
    title = np.empty(n, np.int32)
    ckind = kinds[ent]
    for k, kind in enumerate(v.KINDS):
        sel = np.flatnonzero(ckind == k)
        title[sel] = m.draw_choice(rng, sel.size, tv.probs[kind])
    created = np.sort(rng.integers(*CREATED_RANGE, n))
    created = created - created % 86_400 + _office_seconds(rng, n)
    personal = (rng.random(n) < PERSONAL_EMAIL_SHARE) | ~has_dom_ent[ent]
    epat = np.where(
        rng.random(n) < 0.9,
        ent_pattern[ent],
        m.draw_choice(rng, n, np.array(EMAIL_PATTERN_WEIGHTS)),
    ).astype(np.int8)
    epat2 = (epat + 1 + rng.integers(0, len(EMAIL_PATTERNS) - 1, n)) % len(EMAIL_PATTERNS)
    nn = np.where(rng.random(n) < 0.6, rng.integers(0, 100, n), -1).astype(np.int16)
    pd_p = np.array([w for _, w in v.PERSONAL_DOMAINS])
    pdom, pdom2 = m.draw_choice(rng, n, pd_p), m.draw_choice(rng, n, pd_p)
    on_main = rng.random(n) < MAIN_LINE_SHARE
    exch = np.where(on_main, main_exch[ent], _exchanges(rng, n)).astype(np.int16)
    pline = np.where(on_main, main_line[ent], rng.integers(0, 10_000, n)).astype(np.int16)
    ext_digits = rng.integers(1, 4, n)  # 1..3 → extensions of 2..4 digits
    ext = (10**ext_digits + rng.integers(0, 9 * 10**ext_digits)).astype(np.int32)
    ext = np.where(on_main, ext, -1)

    # ---- rows, in contact order: file 1 holds the first 80% of contacts; file 2 the rest and,
    # right after their file-1 row, the re-exported versions of updated contacts (new title).
    # Each file is then sorted by contact_id, and the winners come out in truth order.
    n1 = int(round(n * FILE1_SHARE))
    n_upd = int(round(n1 * UPDATE_SHARE))
    upd = np.sort(rng.choice(n1, size=n_upd, replace=False)) if n_upd else np.zeros(0, np.int64)
    row_contact = np.concatenate([np.arange(n), upd])
    file_no = np.concatenate([np.ones(n1, np.int8), np.full(n - n1 + n_upd, 2, np.int8)])
    order = np.argsort(row_contact * 2 + (file_no - 1), kind="stable")
    row_contact, file_no = row_contact[order], file_no[order]
    n_rows = row_contact.size
    is_update = np.zeros(n_rows, bool)
    is_update[order >= n] = True
    updated = np.zeros(n, bool)
    updated[upd] = True
    winner = ~(updated[row_contact] & (file_no == 1))
    in_file = [np.flatnonzero(file_no == f) for f in (1, 2)]
    pos = np.empty(n_rows, np.int32)
    for rows in in_file:
        pos[rows] = np.arange(rows.size)
    row_title = title[row_contact]
    upd_rows = np.flatnonzero(is_update)
    new_title = np.empty(upd_rows.size, np.int32)
    for k, kind in enumerate(v.KINDS):  # a promotion or a move: another title of the same kind
        sel = np.flatnonzero(ckind[row_contact[upd_rows]] == k)
        new_title[sel] = m.draw_choice(rng, sel.size, tv.probs[kind])
    same = new_title == row_title[upd_rows]
    new_title[same] = (new_title[same] + 1) % len(tv.titles)
    row_title[upd_rows] = new_title

    # ---- malformed lines, about one per MALFORMED_EVERY rows and at least 3 per file, never
    # on a row of an updated contact (so which version wins never depends on the reader)
    rejected = np.zeros(n_rows, bool)
    malformed: dict[int, str] = {}  # row -> kind
    row_first = first[row_contact]
    for rows in in_file:
        eligible = rows[~updated[row_contact[rows]]]
        k = min(max(3, round(rows.size / MALFORMED_EVERY)), eligible.size // 10)
        if k <= 0:
            continue
        chosen = np.sort(rng_mess.choice(eligible, size=k, replace=False))
        kinds_mal = list(m.MALFORMED_KINDS) + [
            m.MALFORMED_KINDS[i] for i in rng_mess.integers(0, 3, max(0, k - 3))
        ]
        kinds_mal = [kinds_mal[i] for i in rng_mess.permutation(len(kinds_mal))]
        for row, kind in zip(chosen.tolist(), kinds_mal[:k], strict=True):
            malformed[row] = kind
            if kind == "invalid_utf8":  # an accented name, to be written as Windows-1252
                row_first[row] = len(first_names) - len(m.LATIN1_NAMES) + row % len(m.LATIN1_NAMES)
        rejected[chosen] = True

    # ---- mess codes per row
    R = RATES
    codes = {
        "fn_case": m.draw_codes(rng_mess, n_rows, R["name_case"]),
        "fn_ws": m.draw_codes(rng_mess, n_rows, R["name_ws"]),
        "ln_case": m.draw_codes(rng_mess, n_rows, R["name_case"]),
        "ln_ws": m.draw_codes(rng_mess, n_rows, R["name_ws"]),
        "t_case": m.draw_codes(rng_mess, n_rows, R["title_case"]),
        "t_ws": m.draw_codes(rng_mess, n_rows, R["title_ws"]),
        "t_null": m.draw_codes(rng_mess, n_rows, R["title_null"]),
        "d_case": m.draw_codes(rng_mess, n_rows, R["dept_case"]),
        "d_ws": m.draw_codes(rng_mess, n_rows, R["dept_ws"]),
        "d_null": m.draw_codes(rng_mess, n_rows, R["dept_null"]),
        "e_null": m.draw_codes(rng_mess, n_rows, R["email_null"]),
        "e_struct": m.draw_codes(rng_mess, n_rows, R["email_struct"]),
        "e_inv": m.draw_codes(rng_mess, n_rows, R["email_invalid"]),
        "e_case": m.draw_codes(rng_mess, n_rows, R["email_case"]),
        "e_ws": m.draw_codes(rng_mess, n_rows, R["email_ws"]),
        "e_sep": m.draw_codes(rng_mess, n_rows, R["email_sep"]),
        "p_null": m.draw_codes(rng_mess, n_rows, R["phone_null"]),
        "p_fmt": m.draw_choice(rng_mess, n_rows, np.array(m.PHONE_FORMAT_WEIGHTS)).astype(np.int8),
        "x_fmt": m.draw_choice(rng_mess, n_rows, np.array(m.EXT_FORMAT_WEIGHTS)).astype(np.int8),
        "c_null": m.draw_codes(rng_mess, n_rows, R["created_null"]),
        "c_fmt": m.draw_codes(rng_mess, n_rows, R["created_format"]),
    }
    codes["e_struct"][(codes["e_struct"] == 2) & (codes["e_inv"] > 0)] = 0  # dup only if valid

    rc = row_contact
    e_of = ent[rc]
    ext_rows = ext[rc]
    personal_domains = [d for d, _ in v.PERSONAL_DOMAINS]
    base = m.arrow_table(
        {
            "file": file_no,
            "pos": pos,
            "contact_num": (rc + 1).astype(np.int32),
            "winner": winner,
            "rejected": rejected,
            "place_id": m.dictionary_column(e_of, ents.place_id),
            "first_name": m.dictionary_column(row_first, first_names),
            "fl": m.dictionary_column(row_first, [_mail_word(x) for x in first_names]),
            "last_name": m.dictionary_column(last[rc], last_vocab.names),
            "ll": m.dictionary_column(last[rc], [_mail_word(x) for x in last_vocab.names]),
            "title": m.dictionary_column(row_title, tv.titles),
            "department": m.dictionary_column(tv.title_dept[row_title], tv.departments),
            "edom": m.dictionary_column(e_of, domains),
            "has_dom": has_dom_ent[e_of],
            "personal": personal[rc],
            "e2personal": rng_mess.random(n_rows) < 0.5,
            "pdom": m.dictionary_column(pdom[rc], personal_domains),
            "pdom2": m.dictionary_column(pdom2[rc], personal_domains),
            "epat": epat[rc],
            "epat2": epat2[rc].astype(np.int8),
            "nn": nn[rc],
            "area": area_codes[e_of],
            "exch": exch[rc],
            "pline": pline[rc],
            "ext": m.arrow_column(ext_rows.astype(np.int32), mask=ext_rows < 0),
            "created": created[rc],
            "sfx": np.zeros(n_rows, np.int32),
            **codes,
        }
    )

    id_width = max(7, len(str(n)))
    counts = {f"malformed_{k}": 0 for k in m.MALFORMED_KINDS}
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")  # files are written in base's order
        con.execute("SET enable_progress_bar = false")
        con.register("base", base)
        # Two people at one place can get the same address (aadams@ for Abigail and Arthur
        # Adams); a mail system numbers the later one (aadams2@), so an address is one person's.
        # Numbering can clash again (a second klawson2@), so repeat until no address is shared.
        sfx = np.zeros(n + 1, np.int32)
        for _ in range(20):
            clash = con.execute(
                f"WITH {_email_cte().format(where='NOT rejected')} SELECT contact_num, max(r) "
                "FROM (SELECT contact_num, dense_rank() OVER (PARTITION BY addr ORDER BY "
                "contact_num) AS r FROM (SELECT DISTINCT contact_num, unnest([e1, e2]) AS addr "
                "FROM b)) WHERE r > 1 GROUP BY contact_num"
            ).fetchnumpy()
            if not clash["contact_num"].size:
                break
            nums = clash["contact_num"].astype(np.int64)
            ranks = clash["max(r)"].astype(np.int32)
            sfx[nums] = np.where(sfx[nums] > 0, sfx[nums] + ranks - 1, ranks)
            base = base.set_column(
                base.schema.get_field_index("sfx"), "sfx", pa.array(sfx[rc + 1], pa.int32())
            )
            con.register("base", base)
        # malformed lines, built from the good line of the same row
        repl: dict[int, dict[int, bytes]] = {1: {}, 2: {}}
        if malformed:
            good = con.execute(_lines_sql(id_width, "rejected")).fetchall()
            for j, (f, p, _, line, _) in enumerate(good):
                row = int(in_file[f - 1][p])
                kind = malformed[row]
                repl[f][p] = m.malformed_line(kind, next(csv.reader([line])), index=j)
                counts[f"malformed_{kind}"] += 1
        # one pass writes both contact files and the truth: base is in contact order, so each
        # file's rows and the winners are in order too
        header = ",".join(CONTACT_HEADER)
        contact_num = (rc + 1).astype(np.int32)
        with (
            m.LineWriter(folder / CONTACT_FILES[0], header, replacements=repl[1]) as w1,
            m.LineWriter(folder / CONTACT_FILES[1], header, replacements=repl[2]) as w2,
            m.LineWriter(folder / "truth.csv", ",".join(TRUTH_HEADER)) as wt,
        ):
            start = 0
            sql = _lines_sql(id_width, "true")
            for batch in con.sql(sql).to_arrow_reader(1_000_000):
                stop = start + batch.num_rows
                got = batch.column("contact_num").to_numpy()
                if not np.array_equal(got, contact_num[start:stop]):
                    raise RuntimeError("DuckDB returned the contact rows out of order")
                f = file_no[start:stop]
                w1.write(batch.column("line"), f == 1)
                w2.write(batch.column("line"), f == 2)
                wt.write(batch.column("truth"), winner[start:stop])
                start = stop
            counts[CONTACT_FILES[0]], counts[CONTACT_FILES[1]] = w1.close(), w2.close()
            counts["truth.csv"] = wt.close()
    finally:
        con.close()

    # The rows ingest keeps, numbered as it numbers them (malformed lines are not counted), for
    # the resolution truth (datasets/duplicates.py).
    kept_rows = []
    for f, rows in enumerate(in_file):
        ok = rows[~rejected[rows]]
        kept_rows.append(
            pa.table(
                {
                    "file": pa.array([CONTACT_FILES[f]] * ok.size, pa.string()),
                    "row": np.arange(1, ok.size + 1, dtype=np.int64),
                    "contact_num": (row_contact[ok] + 1).astype(np.int64),
                }
            )
        )
    kept = pa.concat_tables(kept_rows)
    counts.update(
        {
            "contacts": n,
            "contact_rows": n_rows,
            "updated_contacts": n_upd,
            "malformed_lines": len(malformed),
            "rejected_contacts": int(rejected.sum()),
            "name_case_noise": int((codes["fn_case"] > 0).sum() + (codes["ln_case"] > 0).sum()),
            "name_whitespace_noise": int((codes["fn_ws"] > 0).sum() + (codes["ln_ws"] > 0).sum()),
            "title_case_noise": int(((codes["t_case"] > 0) & (codes["t_null"] == 0)).sum()),
            "title_whitespace_noise": int(((codes["t_ws"] > 0) & (codes["t_null"] == 0)).sum()),
            "title_null_tokens": int((codes["t_null"] > 0).sum()),
            "department_null_tokens": int((codes["d_null"] > 0).sum()),
            "email_null_tokens": int((codes["e_null"] > 0).sum()),
            "multi_email_fields": int(((codes["e_struct"] == 1) & (codes["e_null"] == 0)).sum()),
            "duplicate_email_fields": int(
                ((codes["e_struct"] == 2) & (codes["e_null"] == 0)).sum()
            ),
            "invalid_emails": int(((codes["e_inv"] > 0) & (codes["e_null"] == 0)).sum()),
            "email_case_noise": int(((codes["e_case"] > 0) & (codes["e_null"] == 0)).sum()),
            "phone_null_tokens": int((codes["p_null"] > 0).sum()),
            "phone_nonstandard_formats": int(((codes["p_fmt"] > 1) & (codes["p_null"] == 0)).sum()),
            "phone_extensions": int(((ext_rows >= 0) & (codes["p_null"] == 0)).sum()),
            "created_null_tokens": int((codes["c_null"] > 0).sum()),
            "created_nonstandard_formats": int(
                ((codes["c_fmt"] > 0) & (codes["c_null"] == 0)).sum()
            ),
            "null_tokens": int(
                sum(
                    (codes[c] > 0).sum() for c in ("t_null", "d_null", "e_null", "p_null", "c_null")
                )
            ),
        }
    )
    return counts, kept


def _int_or(text: str, default: int) -> int:
    digits = text.replace(",", "").strip()
    return int(digits) if digits.isdigit() else default


def _mail_word(name: str) -> str:
    """A name as it appears in an email address: lower case letters only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower()) or "x"


def _exchanges(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid NANP exchange codes: 200–999, not N11 and not 555."""
    e = rng.integers(200, 1000, n)
    bad = (e % 100 == 11) | (e == 555)
    e[bad] += 1
    return e.astype(np.int16)


def _office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight UTC of records created during US office hours, mostly."""
    hours = np.clip(rng.normal(17.0, 2.5, n), 0, 23.99)  # 17:00 UTC ≈ noon Eastern
    return (hours * 3600).astype(np.int64)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
