"""Which source lists which facility, and how each row writes it: the childcare case's rows
and their mess codes, drawn with numpy.

Every facility of the lists is listed by its home state's source; `n2` of them by one more and
`n3` by all three (the planted cross-source duplicates). CRM leads are drawn from the lists'
facilities (matched leads) and from facilities no list knows. Each row then gets small integer
codes, independent per row, that childcare_render turns into text: name variants (legal suffix
dropped or swapped, `&`/`and`, `Ctr`/`Center`, a typo, case), address variants (`N.`/`North`,
`ST`/`STREET`, the suite in Address2), phone layout (a dozen, seven digits now and then), a
changed phone on a later listing, null tokens, and the malformed lines.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import childcare_facilities as cf
from crmpipe.demo.datasets import childcare_vocab as cv
from crmpipe.demo.datasets import mess as m

PHONE_CHANGED = 0.06  # of later listings (and matched leads) showing another phone number
SEVEN_DIGITS = 0.015  # phones written without the area code
OTHER_LAYOUT = 0.06  # phones in another layout than the source's usual one
MALFORMED_EVERY = 200_000  # one malformed line per this many rows, at least one per file
LEGAL_CODES = [0.08, 0.05]  # legal suffix dropped, swapped (or added)
AMP_CODES = [0.05, 0.05]  # ' & ' → ' and ', ' and ' → ' & '
WORD_CODES = [0.012] * (2 * len(cv.WORDINGS))
TYPO_CODES = [0.01, 0.01, 0.01]  # drop, swap, double a letter
CASE_CODES = [0.03, 0.02, 0.01]  # upper, lower, sentence (Texas list and CRM only)
#: Per source: (letter, letter + '.', full word) shares for directions; (abbr, full, abbr.)
#: for street types. The Nevada list likes `N.`, Texas writes `N` and `ST`.
DIR_STYLE = ((0.45, 0.5, 0.05), (0.6, 0.3, 0.1), (0.95, 0.03, 0.02), (0.7, 0.2, 0.1))
TYPE_STYLE = ((0.85, 0.1, 0.05), (0.82, 0.1, 0.08), (0.96, 0.04, 0.0), (0.6, 0.3, 0.1))
DAY_RANGE = (10_957, 19_500)  # first issue: 2000-01-01 .. 2023-05
EXPIRY_RANGE = (19_510, 19_880)  # 2023-06 .. 2024-06


def _sources(rng: np.random.Generator, home: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """The source of each listing (facility repeated `mult` times): home first, then others."""
    n = home.size
    start = np.repeat(np.cumsum(mult) - mult, mult)
    k = np.arange(int(mult.sum())) - start
    h = np.repeat(home, mult).astype(np.int64)
    other = np.repeat(1 + rng.integers(0, 2, n), mult)  # the second list of a pair
    shift = np.where(np.repeat(mult, mult) == 2, other, k)
    return np.where(k == 0, h, (h + shift) % 3).astype(np.int8), k


def draw_rows(
    rng: np.random.Generator,
    fac: dict[str, np.ndarray],
    split: tuple[int, int, int],
    n_match: int,
    n_other: int,
) -> tuple[pa.Table, dict[str, int]]:
    """The rows of all four files (`src` 0..2 the lists, 3 the CRM) with their codes."""
    n1, n2, n3 = split
    n_list = n1 + n2 + n3
    mult = np.ones(n_list, np.int64)
    perm = rng.permutation(n_list)
    mult[perm[:n2]] = 2
    mult[perm[n2 : n2 + n3]] = 3
    list_fac = np.repeat(np.arange(n_list), mult)
    src, appearance = _sources(rng, fac["home"][:n_list], mult)
    matched = rng.choice(n_list, size=n_match, replace=False) if n_match else np.zeros(0, int)
    lead_fac = rng.permutation(np.r_[np.sort(matched), n_list + np.arange(n_other)])
    fac_of = np.r_[list_fac, lead_fac].astype(np.int32)
    src = np.r_[src, np.full(lead_fac.size, 3, np.int8)]
    later = np.r_[appearance > 0, lead_fac < n_list]
    n = fac_of.size

    phone = fac["phone"][fac_of]
    pchg = later & (rng.random(n) < PHONE_CHANGED)
    alt = np.zeros(n, np.int64)
    alt[pchg] = cf.unique_phones(rng, phone[pchg] // 10_000_000, taken=fac["phone"])
    is_lead = src == 3
    mobile = np.zeros(n, np.int64)
    mobile[is_lead] = cf.unique_phones(
        rng, phone[is_lead] // 10_000_000, taken=np.r_[fac["phone"], alt[pchg]]
    )
    a_dir = np.zeros(n, np.int8)
    a_type = np.zeros(n, np.int8)
    v_case = np.zeros(n, np.int8)
    malformed = np.zeros(n, bool)
    for s in range(4):  # a loop over the four files
        sel = np.flatnonzero(src == s)
        a_dir[sel] = m.draw_choice(rng, sel.size, np.array(DIR_STYLE[s]))
        a_type[sel] = m.draw_choice(rng, sel.size, np.array(TYPE_STYLE[s]))
        if s >= 2:
            v_case[sel] = m.draw_codes(rng, sel.size, CASE_CODES)
        if s in (0, 2) and sel.size >= 10:
            k = max(1, round(sel.size / MALFORMED_EVERY))
            malformed[rng.choice(sel, size=k, replace=False)] = True
    p7 = rng.random(n) < SEVEN_DIGITS
    pfmt = np.where(
        rng.random(n) < OTHER_LAYOUT,
        m.draw_choice(rng, n, np.array(m.PHONE_FORMAT_WEIGHTS)),
        -1,
    ).astype(np.int8)
    n_phone = m.draw_codes(rng, n, m.null_token_probs(0.01))
    u = rng.random((n, 5), dtype=np.float32)
    quote = (src == 2) & (u[:, 0] < 0.002) & ~malformed
    codes = {
        "i": np.arange(n, dtype=np.int64),
        "src": src,
        "fac": fac_of,
        "malformed": malformed,
        "pchg": pchg,
        "alt": alt,
        "mobile": mobile,
        "p7": p7 & (n_phone == 0),
        "pfmt": pfmt,
        "n_phone": n_phone,
        "n_other": m.draw_codes(rng, n, m.null_token_probs(0.03)),
        "n_contact": m.draw_codes(rng, n, m.null_token_probs(0.01)),
        "v_legal": m.draw_codes(rng, n, LEGAL_CODES),
        "v_alt": rng.integers(0, len(cv.LEGAL) - 1, n).astype(np.int8),
        "v_amp": m.draw_codes(rng, n, AMP_CODES),
        "v_word": m.draw_codes(rng, n, WORD_CODES),
        "v_typo": m.draw_codes(rng, n, TYPO_CODES),
        "v_pos": u[:, 1],
        "v_case": v_case,
        "a_dir": a_dir,
        "a_type": a_type,
        "a_unit2": u[:, 2] < 0.5,
        "mojibake": u[:, 3] < 0.003,
        "quote": quote,
        "flag": u[:, 4] < 0.15,
        "lic": rng.integers(0, 10_000_000, n),
        "d1": rng.integers(*DAY_RANGE, n).astype(np.int32),
        "d2": rng.integers(*EXPIRY_RANGE, n).astype(np.int32),
    }
    extra = {
        "phone_changed": int(pchg.sum()),
        "seven_digit_phones": int(codes["p7"].sum()),
        "other_phone_layouts": int(((pfmt >= 0) & ~p7 & (n_phone == 0)).sum()),
        "malformed_lines": int(malformed.sum()),
        "stray_quotes": int(quote.sum()),
        "name_variants": int(
            ((codes["v_legal"] > 0) | (codes["v_amp"] > 0) | (codes["v_word"] > 0)).sum()
        ),
        "name_typos": int((codes["v_typo"] > 0).sum()),
    }
    return m.arrow_table(codes), extra
