"""The SQL fast path of address parsing: the common, unambiguous shapes parsed in DuckDB.

Most one-field addresses and street lines are `<number> [<direction>] <name words> <suffix>
[<unit>][ <city>, <ST> <zip>]` (`150 N. WILLOW ST MESQUITE, NV 89027`, `8557 111TH PL SUITE
51`). For those, usaddress's tags and scourgify's USPS abbreviations are fixed by the shape, so
one vectorized query gives what `parse_address` gives, a million values in seconds instead of
minutes. The state is a code (`NV`) or a state's full name (`Nevada`, `North Carolina`), which
scourgify abbreviates. Anything the shape does not pin down goes to the library: a name word
that is also a street suffix, direction, unit type or ordinal word (`HIGHWAY DR`, `WEST CT`,
`FIRST ST`), a city word that is a street or unit type (but a leading `FORT`, the tagger's city
in `FORT WORTH` unless an ordinal or street-type word comes before: `SUGAR CREEK ST FORT
WORTH`), a city starting with a direction (`NORTH LAS VEGAS`, which the tagger splits), an
ordinal street on `ST` before a city (`4TH ST TULSA`), punctuation other than `.` after a
direction or suffix and `,` before a unit (`, #12`, `, STE 5`) or city, repeated spaces,
mixed scripts. A comma before the city (`101 E WASHINGTON ST, ABBEVILLE, AL 36310, USA`, the
public-sector places' shape) ends the street for the tagger as well, so after one none of the
city rules apply, and a trailing `, USA` is dropped as the library drops it. A place without a
street line (`ABBEVILLE, SC 29620, USA`) gives the library's city, state, ZIP and its problem
`no street line`, unless a city word is a street or unit type or a direction (`HAMPTON
FALLS`, `WEST DENNIS HEIGHTS`: the tagger then takes them for a street). On the 4.5M
benchmark's 135k distinct entity addresses this takes 88% (none before), all equal to the
library: about 20 s of parsing at 4.5M. tests/test_address_fast.py checks equality with the
library on every real value and on generated ones (and every value newly taken here was
checked on the 1M case).
"""

from __future__ import annotations

from scourgify.address_constants import (
    DIRECTIONAL_REPLACEMENTS,
    OCCUPANCY_TYPE_ABBREVIATIONS,
    STATE_ABBREVIATIONS,
    STREET_TYPE_ABBREVIATIONS,
)

__all__ = ["FAST_SUFFIXES", "fast_path_sql"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Street suffixes the fast path accepts (each as written; its USPS abbreviation from scourgify).
FAST_SUFFIXES = (
    "ST", "STREET", "AVE", "AVENUE", "AV", "DR", "DRIVE", "RD", "ROAD", "BLVD", "BOULEVARD",
    "LN", "LANE", "CT", "COURT", "PL", "PLACE", "PKWY", "PARKWAY", "CIR", "CIRCLE", "WAY",
    "TRL", "TRAIL", "TER", "TERRACE", "LOOP", "HWY", "HIGHWAY",
)  # fmt: skip
#: Unit types accepted before a number, and what scourgify writes for them.
FAST_UNITS = {"SUITE": "STE", "STE": "STE", "APT": "APT", "UNIT": "UNIT"}
STATES = _words(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
)


def _full_state_names() -> dict[str, str]:
    """Each state's full name (its longest spelling in scourgify's table: `NORTH CAROLINA`, not
    `N DAK` or `NC`) and its code, for the codes of STATES."""
    longest: dict[str, str] = {}
    for name, code in STATE_ABBREVIATIONS.items():
        if code in STATES and len(name) > len(longest.get(code, "")):
            longest[code] = name
    return {name: code for code, name in longest.items() if len(name) > 2}


#: Full state names the fast path accepts, and the code scourgify writes for each.
FULL_STATES = _full_state_names()
_ORDINAL_WORDS = _words(
    "FIRST SECOND THIRD FOURTH FIFTH SIXTH SEVENTH EIGHTH NINTH TENTH ELEVENTH TWELFTH "
    "THIRTEENTH FOURTEENTH FIFTEENTH SIXTEENTH SEVENTEENTH EIGHTEENTH NINETEENTH TWENTIETH "
    "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN"
)
_OTHER_WORDS = _words(
    "PO BOX POB POST OFFICE AND OF THE AT CORNER CNR FM CR SR US IH ROUTE RTE COUNTY STATE HC "
    "RR RURAL HCR PMB NO NUM NUMBER BLDG FLOOR FL ROOM RM LOT SPACE SPC TRAILER"
)
#: Words that make a name or city ambiguous for the shape: left to the library.
_STREET_WORDS = sorted(
    set(STREET_TYPE_ABBREVIATIONS) | set(STREET_TYPE_ABBREVIATIONS.values()) | set(FAST_SUFFIXES)
)
_UNIT_WORDS = sorted(
    (set(OCCUPANCY_TYPE_ABBREVIATIONS) | set(OCCUPANCY_TYPE_ABBREVIATIONS.values())) - {"#"}
)
_DIRECTIONS = sorted(set(DIRECTIONAL_REPLACEMENTS) | set(DIRECTIONAL_REPLACEMENTS.values()))
#: Street-type words that are not suffixes the fast path reads (MILL, HILL, LAKE, CREEK,
#: CANYON, PARK...) are allowed in the name: before the final suffix the tagger reads them as
#: the name and scourgify leaves them (equal to the library on 20k sampled values that had
#: gone to it for this alone, about 55% of its share). The suffixes themselves (`12 HIGHWAY
#: DR` is `12 HWY DR` to the library) stay out.
_SUFFIX_WORDS = set(FAST_SUFFIXES) | {STREET_TYPE_ABBREVIATIONS.get(s, s) for s in FAST_SUFFIXES}
NAME_EXCLUDED = sorted(
    _SUFFIX_WORDS | set(_UNIT_WORDS) | set(_DIRECTIONS) | set(_ORDINAL_WORDS) | set(_OTHER_WORDS)
    | set(FAST_UNITS)
)  # fmt: skip
CITY_EXCLUDED = sorted(set(_STREET_WORDS) | set(_UNIT_WORDS) | set(_OTHER_WORDS) | set(FAST_UNITS))

_WORD = r"(?:[A-Z]{2,}|[1-9][0-9]{0,3}(?:ST|ND|RD|TH))"
PATTERN = (
    r"^([1-9][0-9]{0,5}) "
    rf"(?:({'|'.join(_DIRECTIONS)})\.? )?"
    rf"({_WORD}(?: {_WORD}){{0,2}}) "
    rf"({'|'.join(FAST_SUFFIXES)})\.?"
    rf"(?:,? ({'|'.join(FAST_UNITS)}) ([1-9][0-9]{{0,4}})|,? #([1-9][0-9]{{0,4}}))?"
    r"(?:(,?) ([A-Z]{2,}(?: [A-Z]{2,}){0,2}), "
    rf"([A-Z]{{2}}|{'|'.join(sorted(FULL_STATES, key=lambda n: (-len(n), n)))}) ([0-9]{{5}})"
    r"(?:,? USA)?)?$"
)
#: A place without a street line (`Graystad, OH 45306, USA`): the library's city, state and ZIP,
#: and its problem `no street line`.
CITY_ONLY = (
    r"^([A-Z]{2,}(?: [A-Z]{2,}){0,2}), "
    rf"([A-Z]{{2}}|{'|'.join(sorted(FULL_STATES, key=lambda n: (-len(n), n)))}) ([0-9]{{5}})"
    r"(?:,? USA)?$"
)
_GROUPS = ["num", "dir", "name", "suf", "utype", "uid", "hid", "csep", "city", "st", "zip"]


def _str_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _any_word(words: list[str]) -> str:
    """A regex matching any of `words` as a whole word (one RE2 automaton: a literal list
    with `list_has_any` was 100 times slower)."""
    plain = [w for w in words if w.isalnum()]  # a word with a space never equals one token
    return "(^| )(" + "|".join(plain) + ")( |$)"


def _map(mapping: dict[str, str]) -> str:
    return "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in sorted(mapping.items())) + "}"


def fast_path_sql(values_table: str) -> str:
    """A SELECT of `raw, line1, number, street, unit, city, state, postal_code, parsed,
    problem` for the values of `values_table` (column `raw`) that have a fast-path shape."""
    suffixes = {s: STREET_TYPE_ABBREVIATIONS.get(s, s) for s in FAST_SUFFIXES}
    directions = {d: DIRECTIONAL_REPLACEMENTS.get(d, d) for d in _DIRECTIONS}
    groups = _str_list(_GROUPS)
    return f"""
WITH m AS MATERIALIZED (
  SELECT raw, regexp_extract(upper(raw), '{PATTERN}', {groups}) AS g
  FROM {values_table}
  WHERE regexp_full_match(raw, '[A-Za-z0-9.,# ]+') AND raw = trim(raw)
    AND NOT contains(raw, '  ')
), s AS MATERIALIZED (
  SELECT raw, g,
    concat_ws(' ', {_map(directions)}[nullif(g.dir, '')], g.name, {_map(suffixes)}[g.suf])
      AS street
  FROM m
  WHERE g.num <> ''
    AND NOT regexp_matches(g.name, '{_any_word(NAME_EXCLUDED)}')
    AND (g.city = '' OR (coalesce({_map(FULL_STATES)}[g.st], g.st) IN ({
        ", ".join(f"'{s}'" for s in STATES)
    }) AND (g.csep = ','
         OR (true
         -- `FORT WORTH`: FORT is a street type (FT), but not to the tagger before a city word
         AND NOT regexp_matches(regexp_replace(g.city, '^FORT ', ''),
                                '{_any_word(CITY_EXCLUDED)}')
         -- `67TH COURT FORT WORTH`, `SUGAR CREEK ST FORT WORTH`: after an ordinal or a
         -- street-type word in the name, the tagger takes the suffix for the city's
         AND NOT (starts_with(g.city, 'FORT ') AND (regexp_matches(g.name, '(^| )[0-9]+[A-Z]{{2}}$')
              OR regexp_matches(g.name, '{_any_word(_STREET_WORDS)}')))
         -- `NORTH LAS VEGAS`: the tagger takes the direction for the street's
         AND NOT regexp_matches(g.city, '^({"|".join(_DIRECTIONS)})( |$)')
         -- `4TH ST TULSA`: the tagger reads `ST TULSA` as a city (Saint)
         AND NOT (g.suf = 'ST' AND regexp_matches(g.name, '(^| )[0-9]+[A-Z]{{2}}$'))))))
)
SELECT raw, g.num || ' ' || street AS line1, g.num AS number, street,
  CASE WHEN g.hid <> '' THEN '# ' || g.hid
       WHEN g.utype <> '' THEN {_map(FAST_UNITS)}[g.utype] || ' ' || g.uid END AS unit,
  nullif(g.city, '') AS city, nullif(coalesce({_map(FULL_STATES)}[g.st], g.st), '') AS state,
  nullif(g.zip, '') AS postal_code,
  true AS parsed, NULL::VARCHAR AS problem
FROM s
UNION ALL
SELECT raw, NULL, NULL, NULL, NULL, g.city, coalesce({_map(FULL_STATES)}[g.st], g.st), g.zip,
  false, 'no street line'
FROM (
  SELECT raw, regexp_extract(upper(raw), '{CITY_ONLY}', ['city', 'st', 'zip']) AS g
  FROM {values_table}
  WHERE regexp_full_match(raw, '[A-Za-z, ]+[0-9]{{5}}(, USA)?') AND NOT contains(raw, '  ')
)
WHERE g.city <> ''
  -- `HAMPTON FALLS`, `WEST DENNIS HEIGHTS`: without a street the tagger reads such words
  -- as one (`HAMPTON FLS` as the street, the state as the city)
  AND NOT regexp_matches(g.city, '{_any_word(sorted(set(CITY_EXCLUDED) | set(_DIRECTIONS)))}')
  AND coalesce({_map(FULL_STATES)}[g.st], g.st) IN ({", ".join(f"'{s}'" for s in STATES)})
"""
