"""The pursuit case's entities: the real sample's places, then generated ones like them.

`load_real` reads the real sample (`<shared>/pursuit/`); `build_entities` takes its first places
and generates the rest (state, kind, name, position, population, web site, address and parent,
shaped like the real ones); `write_entities` writes `entities.csv` with the entity-file mess
(state spellings, population separators and null tokens).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v

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

#: Mess rates of the entity file, per row: state as full name, AP abbreviation, lower case,
#: padded; population with thousands separators, a null token.
ENTITY_RATES: dict[str, list[float]] = {
    "state_mess": [0.02, 0.015, 0.01, 0.005],
    "pop_mess": [0.03, 0.01],
}


@dataclass
class RealSample:
    """The real sample, as read from `<shared>/pursuit/` (values verbatim)."""

    places: list[dict[str, str]]
    techs: list[tuple[str, str, str]]
    crma: list[tuple[str, str]]
    crmb: list[tuple[str, str]]


@dataclass
class Entities:
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

    def extend(self, other: Entities) -> None:
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


def load_real(shared: Path | None, *, explicit: bool) -> RealSample | None:
    """The real sample under `shared` (the folder or its `pursuit/`); None when absent, which
    is a FileNotFoundError when the folder was given `explicit`ly."""
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
    return RealSample(
        places=[dict(zip(head, r, strict=True)) for r in places[1:] if r],
        techs=[(r[0], r[1], r[2]) for r in techs[1:] if r],
        crma=[(r[0], r[1]) for r in crma[1:] if r],
        crmb=[(r[0], r[1]) for r in crmb[1:] if r],
    )


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


def state_index(state_text: list[str]) -> np.ndarray:
    """Index into vocab.STATES of each entity's state (-1 when not a known code)."""
    return np.array([v.STATE_INDEX.get(s.strip().upper(), -1) for s in state_text], np.int16)


def build_entities(rng: np.random.Generator, n: int, real: RealSample | None) -> Entities:
    ents = Entities()
    if real:
        for row in real.places[:n]:
            for name, col in zip(ENTITY_FIELDS, ENTITY_HEADER, strict=True):
                getattr(ents, name).append(row.get(col, ""))
    n_gen = n - len(ents)
    if n_gen > 0:
        ents.extend(_generated_entities(rng, n_gen, real, ents))
    return ents


def _fit_population(real: RealSample | None) -> dict[str, tuple[float, float]]:
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


def _kind_weights(real: RealSample | None) -> tuple[list[tuple[str, str]], np.ndarray]:
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


def _state_weights(real: RealSample | None) -> np.ndarray:
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
    rng: np.random.Generator, n: int, real: RealSample | None, existing: Entities
) -> Entities:
    """`n` plausible entities shaped like the real ones (or like public-sector data at all)."""
    out = Entities()
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


def _parents(rng: np.random.Generator, existing: Entities, new: Entities) -> list[str]:
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


def write_entities(
    path: Path, ents: Entities, state_idx: np.ndarray, rng: np.random.Generator
) -> dict[str, int]:
    """entities.csv with the entity-file mess: state spellings, population separators."""
    n = len(ents)
    state_code = m.draw_codes(rng, n, ENTITY_RATES["state_mess"])
    pop_code = m.draw_codes(rng, n, ENTITY_RATES["pop_mess"])
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
