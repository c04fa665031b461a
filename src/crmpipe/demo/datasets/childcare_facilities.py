"""The true facilities of the childcare case: one identity each (name, contact, phone, address,
state, kind, capacity, hours), drawn with numpy as small integer codes.

A facility is what every source row and CRM lead is ground-truthed against, so its identity is
drawn once here and only *rendered* per source (childcare_render). Two planted traps live here
too: chains, whose facilities share the chain's central phone number but have their own names
and addresses (the same phone, different facilities: never to be merged), and phone numbers
that are unique otherwise (drawn without collisions, so any other shared phone is a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import childcare_vocab as cv
from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v

CHAIN_SHARE = 0.05  # of list facilities that belong to a chain sharing one phone number
CHAIN_SIZES = (2, 7)  # facilities per chain: from 2 up to 6
CHAIN_BRANDED = 0.7  # chains whose facilities carry the brand name (the rest: a managing group)
DBA_SHARE = 0.55  # homes that trade under a name rather than the owner's
SECOND_CONTACT = 0.06  # facilities with two primary contacts ("TANIA & NICOLE PINEDA & POBLETE")
EMAIL_SHARE = 0.7
#: Home state of the facilities only the CRM knows: the three list states, then elsewhere.
OTHER_IN_LIST_STATES = 0.3
HOME_WEIGHTS = (0.25, 0.3, 0.45)  # NV, OK, TX lists


def title_words(text: str) -> str:
    """'LAS VEGAS' → 'Las Vegas' (for the CRM's title-case addresses)."""
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))


@dataclass(frozen=True)
class Places:
    """The city table every facility's city indexes: name, title-case name, county, state."""

    city: list[str]
    county: list[str]
    state: list[str]
    zip_lo: np.ndarray
    zip_hi: np.ndarray


def places(rng: np.random.Generator, n_synthetic: int = 120) -> Places:
    """The real lists' cities, then `n_synthetic` made-up cities for out-of-list states."""
    city, county, state, lo, hi = [], [], [], [], []
    for st, rows in cv.CITIES.items():
        for c, cty, a, b, _ in rows:
            city.append(c), county.append(cty), state.append(st), lo.append(a), hi.append(b)
    lasts = v.last_names().names
    for i in range(n_synthetic):  # a loop over a short vocabulary, not over rows
        name = str(lasts[int(rng.integers(0, 400))]) + v.CITY_SUFFIXES[i % len(v.CITY_SUFFIXES)]
        city.append(name.upper()), county.append(""), state.append(""), lo.append(0), hi.append(0)
    return Places(city, county, state, np.array(lo), np.array(hi))


def unique_phones(
    rng: np.random.Generator, areas: np.ndarray, taken: np.ndarray | None = None
) -> np.ndarray:
    """One ten-digit number per area code in `areas` (int64 AAAEEELLLL), all distinct and none
    in `taken`. Sort-based: numpy's hash-based unique is slow on these arrays."""
    n = areas.size
    out = np.zeros(n, np.int64)
    todo = np.arange(n)
    taken = np.sort(np.zeros(0, np.int64) if taken is None else taken)
    while todo.size:
        e = rng.integers(200, 1000, todo.size)
        e[(e % 100 == 11) | (e == 555)] += 1
        out[todo] = areas[todo] * 10_000_000 + e * 10_000 + rng.integers(0, 10_000, todo.size)
        order = np.argsort(out, kind="stable")
        ranked = out[order]
        bad = np.zeros(n, bool)
        bad[order[1:][ranked[1:] == ranked[:-1]]] = True  # the later of two equal numbers
        if taken.size:
            at = np.minimum(np.searchsorted(taken, out), taken.size - 1)
            bad |= taken[at] == out
        todo = np.flatnonzero(bad)
    return out


def draw_sorted(rng: np.random.Generator, n: int, probs: np.ndarray) -> np.ndarray:
    """mess.draw_choice for long vocabularies (thousands of names): the uniform draws are
    looked up in sorted order, which keeps the search cache-friendly (several times faster)."""
    cdf = np.cumsum(probs, dtype=np.float64)
    u = rng.random(n) * cdf[-1]
    order = np.argsort(u)
    out = np.empty(n, np.int32)
    out[order] = np.minimum(np.searchsorted(cdf, u[order], side="right"), len(probs) - 1)
    return out


def area_codes(rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
    """An area code of each facility's state (state = index into vocab.STATES)."""
    out = np.zeros(state.size, np.int64)
    for s in np.unique(state).tolist():
        sel = np.flatnonzero(state == s)
        codes = np.array(v.STATES[s].area_codes)
        out[sel] = codes[rng.integers(0, codes.size, sel.size)]
    return out


def draw_facilities(
    rng: np.random.Generator, n_list: int, n_other: int, pl: Places
) -> dict[str, np.ndarray]:
    """`n_list` facilities at home in the three lists (home 0..2), then `n_other` known only to
    the CRM (home -1). Returns per-facility integer codes (arrays of length n_list + n_other)."""
    n = n_list + n_other
    home = np.full(n, -1, np.int8)
    home[:n_list] = m.draw_choice(rng, n_list, np.array(HOME_WEIGHTS))
    in_lists = rng.random(n_other) < OTHER_IN_LIST_STATES
    home_other = m.draw_choice(rng, n_other, np.array(HOME_WEIGHTS))
    state = np.zeros(n, np.int32)
    list_state = np.array([v.STATE_INDEX[s] for s in cv.SOURCE_STATES])
    home_state = np.where(home >= 0, home, np.r_[np.zeros(n_list, np.int8), home_other])
    state[:] = list_state[home_state]
    elsewhere = np.r_[np.zeros(n_list, bool), ~in_lists]
    other_states = [i for i, s in enumerate(v.STATES) if s.abbr not in cv.SOURCE_STATES]
    pop = np.array([v.STATES[i].population_m for i in other_states])
    state[elsewhere] = np.array(other_states)[m.draw_choice(rng, int(elsewhere.sum()), pop)]

    # city, county, zip: from the state's city table in the lists' states, else made up
    city = np.zeros(n, np.int32)
    start = 0
    for k, st in enumerate(cv.SOURCE_STATES):
        rows = cv.CITIES[st]
        sel = np.flatnonzero(~elsewhere & (home_state == k))
        w = np.array([r[4] for r in rows])
        city[sel] = start + m.draw_choice(rng, sel.size, w)
        start += len(rows)
    sel = np.flatnonzero(elsewhere)
    city[sel] = start + rng.integers(0, len(pl.city) - start, sel.size)
    zip_ = pl.zip_lo[city] + (rng.random(n) * (pl.zip_hi[city] - pl.zip_lo[city] + 1)).astype(int)
    for s in np.unique(state[elsewhere]).tolist():
        z = np.flatnonzero(elsewhere & (state == s))
        lo, hi = v.ZIP_RANGES.get(v.STATES[s].abbr, (10001, 99950))
        zip_[z] = rng.integers(lo, hi + 1, z.size)

    kind = m.draw_choice(rng, n, np.array(cv.KIND_WEIGHTS)).astype(np.int8)
    home_kind = kind < 2
    # name style: 0 generic, 1 chain brand, 2 church, 3 "Peggy's Daycare", 4 the owner's name
    # (5 and 6 below: accommodations and permits)
    style = np.where(rng.random(n) < 0.08, 2, 0).astype(np.int8)
    dba = rng.random(n) < DBA_SHARE
    style[home_kind & ~dba] = 4
    style[home_kind & dba & (rng.random(n) < 0.25)] = 3
    style[kind == 3] = 5  # accommodations: "EOS Fitness - Sahara"
    style[kind == 4] = 6  # permits: "City of Henderson Youth Programs"
    phone = unique_phones(rng, area_codes(rng, state))
    chain = np.full(n, -1, np.int32)
    chain_no = np.zeros(n, np.int32)
    brand = rng.integers(0, len(cv.CHAIN_BRANDS), n).astype(np.int32)
    for k in range(len(cv.SOURCE_STATES)):  # chains: a loop over the three states
        cand = np.flatnonzero((home == k) & (kind == 2))
        cand = rng.permutation(cand)[: int(round(CHAIN_SHARE * n_list * HOME_WEIGHTS[k]))]
        sizes = rng.integers(*CHAIN_SIZES, cand.size)
        gid = np.repeat(np.arange(sizes.size), sizes)[: cand.size]
        if cand.size and (gid == gid[-1]).sum() < 2:  # never a chain of one
            gid[gid == gid[-1]] = max(gid[-1] - 1, 0)
        if cand.size < 2:
            continue
        leader = cand[np.r_[0, np.flatnonzero(np.diff(gid)) + 1]]
        base = int(chain.max()) + 1
        chain[cand] = base + gid
        phone[cand] = phone[leader[gid]]
        chain_no[cand] = rng.integers(1, 400, cand.size)
        branded = rng.random(leader.size) < CHAIN_BRANDED
        bsel = cand[branded[gid]]
        style[bsel] = 1
        brand[cand] = brand[leader[gid]]
    cap = np.where(
        kind == 0,
        np.where(rng.random(n) < 0.5, 7, 12),
        np.where(kind == 1, rng.integers(12, 17, n), np.clip(rng.lognormal(4.2, 0.6, n), 15, 400)),
    ).astype(np.int32)
    fm, ff = v.first_names("m"), v.first_names("f")
    female = rng.random((2, n)) < 0.9  # childcare staff are mostly women
    first = np.where(
        female,
        draw_sorted(rng, 2 * n, ff.probs).reshape(2, n) + len(fm.names),
        draw_sorted(rng, 2 * n, fm.probs).reshape(2, n),
    )
    last = draw_sorted(rng, 2 * n, v.last_names().probs).reshape(2, n)
    n_streets = len(cv.STREET_WORDS) + 300
    ordinal = rng.random(n) < 0.12
    return {
        "fac": np.arange(n, dtype=np.int32),
        "home": home,
        "state": state,
        "city": city,
        "zip": zip_.astype(np.int32),
        "kind": kind,
        "style": style,
        "prefix": rng.integers(0, len(cv.NAME_PREFIXES), n).astype(np.int32),
        "noun": rng.integers(0, len(cv.NAME_NOUNS), n).astype(np.int32),
        "ntype": rng.integers(0, len(cv.NAME_TYPES), n).astype(np.int32),
        "legal": np.where(kind == 4, 0, m.draw_choice(rng, n, np.array(cv.LEGAL_WEIGHTS))),
        "church": rng.integers(0, len(cv.CHURCH_NAMES), n).astype(np.int32),
        "ctype": rng.integers(0, len(cv.CHURCH_TYPES), n).astype(np.int32),
        "brand": brand,
        "chain": chain,
        "chain_no": chain_no,
        "chain_fmt": (rng.random(n) < 0.4).astype(np.int8),
        "first": first[0].astype(np.int32),
        "last": last[0].astype(np.int32),
        "first2": first[1].astype(np.int32),
        "last2": last[1].astype(np.int32),
        "two": rng.random(n) < SECOND_CONTACT,
        "phone": phone,
        "num": np.where(rng.random(n) < 0.6, rng.integers(100, 20000, n), rng.integers(1, 999, n)),
        "dir": m.draw_choice(rng, n, np.array(cv.DIRECTION_WEIGHTS)).astype(np.int8),
        "street": np.where(ordinal, -1, rng.integers(0, n_streets, n)).astype(np.int32),
        "ordinal": rng.integers(1, 140, n).astype(np.int32),
        "stype": m.draw_choice(rng, n, np.array(cv.STREET_TYPE_WEIGHTS)).astype(np.int8),
        "unit": np.where((kind >= 2) & (rng.random(n) < 0.18), rng.integers(1, 320, n), 0),
        "unit_word": rng.integers(0, len(cv.UNIT_WORDS), n).astype(np.int8),
        "cap": cap,
        "has_email": rng.random(n) < EMAIL_SHARE,
        "epat": rng.integers(0, 4, n).astype(np.int8),
        "edom": m.draw_choice(rng, n, np.array([w for _, w in v.PERSONAL_DOMAINS])),
        "enum": rng.integers(1, 100, n).astype(np.int32),
        "open": m.draw_choice(rng, n, np.array(cv.OPEN_WEIGHTS)).astype(np.int8),
        "close": m.draw_choice(rng, n, np.array(cv.CLOSE_WEIGHTS)).astype(np.int8),
        # 0 weekdays, 1 every day, 2 weekends only, 3 round the clock
        "week": m.draw_choice(rng, n, np.array([0.9, 0.05, 0.02, 0.03])).astype(np.int8),
        "ages_from": m.draw_choice(rng, n, np.array([0.7, 0.2, 0.07, 0.03])).astype(np.int8),
        "ages_to": np.where(rng.random(n) < 0.7, 3, 2).astype(np.int8),
        "star": rng.integers(1, 6, n).astype(np.int8),
        "subsidy": rng.random(n) < 0.65,
        "year_round": rng.random(n) < 0.9,
    }


def street_names() -> list[str]:
    """The street word of code k (k < 0 are numbered streets, rendered from `ordinal`)."""
    lasts = [str(x).upper() for x in v.last_names().names[:300]]
    return list(cv.STREET_WORDS) + lasts


def first_name_list() -> list[str]:
    """First names indexed as draw_facilities indexes them (male then female)."""
    return [*v.first_names("m").names, *v.first_names("f").names]


def facility_table(f: dict[str, np.ndarray], pl: Places) -> pa.Table:
    """The facilities as an Arrow table, with their vocabulary columns as dictionaries."""
    cols: dict[str, pa.Array | np.ndarray] = {
        k: val for k, val in f.items() if k not in {"city", "street", "state"}
    }
    streets = street_names()
    cols["street"] = m.dictionary_column(np.maximum(f["street"], 0), streets)
    cols["numbered"] = f["street"] < 0
    cols["city_name"] = m.dictionary_column(f["city"], pl.city)
    cols["city_title"] = m.dictionary_column(f["city"], [title_words(c) for c in pl.city])
    cols["county"] = m.dictionary_column(f["city"], pl.county)
    cols["st"] = m.dictionary_column(f["state"], [s.abbr for s in v.STATES])
    cols["st_name"] = m.dictionary_column(f["state"], [s.name for s in v.STATES])
    first = first_name_list()
    lasts = list(v.last_names().names)
    for a, b, names in (("first", "fn", first), ("last", "ln", lasts)):
        cols[b] = m.dictionary_column(f[a], names)
        cols[b + "2"] = m.dictionary_column(f[a + "2"], names)
    for k in ("first", "last", "first2", "last2", "legal", "edom"):
        cols[k] = np.asarray(f[k], np.int32)
    cols["num"] = np.asarray(f["num"], np.int32)
    cols["unit"] = np.asarray(f["unit"], np.int32)
    return m.arrow_table(cols)
