"""Person names in one field (`TANIA & NICOLE PINEDA & POBLETE`, `HELLSTROM, ELIZABETH`) →
one proper-cased first and last name per person, parsed by `nameparser`.

Licensing exports pack several people, titles, roles and business names into one contact
field; the splitting rules are ours, the name parts and capitalisation `nameparser`'s. Like
addresses, the parsing runs once per *distinct* value (`people_lookup`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nameparser import HumanName

from crmpipe.clean.nulls import NULL_TOKENS
from crmpipe.sqltext import quote_qualified

__all__ = ["Person", "people_lookup", "split_people"]

#: Longer text is not a list of names.
MAX_PEOPLE_LEN = 300
_EMPTY_TOKENS = NULL_TOKENS | {"unknown", "tbd", "?", "vacant", "none listed", "no contact"}
#: Lines that only name the person's role (`Elizabeth Hellstrom\n \n Primary Caregiver`).
ROLE_LINES: frozenset[str] = frozenset(
    {
        "primary caregiver",
        "caregiver",
        "director",
        "assistant director",
        "program director",
        "site director",
        "owner",
        "co-owner",
        "other",
        "administrator",
        "provider",
        "manager",
        "teacher",
        "primary contact",
        "contact",
        "president",
        "licensee",
        "operator",
    }
)
#: Words that make a value a business, not a person (compared upper-case, dots removed).
COMPANY_WORDS: frozenset[str] = frozenset(
    {
        "LLC",
        "INC",
        "INCORPORATED",
        "CORP",
        "CORPORATION",
        "COMPANY",
        "LTD",
        "LLP",
        "PLLC",
        "ACADEMY",
        "CENTER",
        "CENTRE",
        "CENTERS",
        "SCHOOL",
        "SCHOOLS",
        "PRESCHOOL",
        "DAYCARE",
        "CHILDCARE",
        "CARE",
        "NURSERY",
        "CHURCH",
        "MINISTRY",
        "MINISTRIES",
        "MONTESSORI",
        "LEARNING",
        "KIDS",
        "KIDZ",
        "FOUNDATION",
        "UNIVERSITY",
        "COLLEGE",
        "ASSOCIATION",
        "CLUB",
        "YMCA",
        "YWCA",
        "PROGRAM",
        "SERVICES",
        "ENTERPRISES",
        "DISTRICT",
    }
)
#: Titles not counted as a name's words when deciding how a value splits (nameparser drops them).
_TITLES = frozenset({"MR", "MRS", "MS", "MISS", "DR", "REV", "PROF", "FR", "PASTOR", "SISTER"})
_SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV", "PHD", "MD", "ESQ", "DDS", "RN"})
#: Names nameparser would wrongly split as `Mac` + capital (`MacHado`).
_NOT_MAC = frozenset({"machado", "macias", "machuca", "macedo", "macario", "machin", "mackie"})
_MAC_RE = re.compile(r"\bMac([A-Z])([a-z]+)\b")

_DBA_RE = re.compile(r"(?i)(?:^|[\s,])(?:d\s*/\s*b\s*/\s*a|d\.?b\.?a\.?|doing business as)(?:\s|$)")
_STRONG_RE = re.compile(r"\s*(?:;|/|\|)\s*")
_AND_RE = re.compile(r"(?i)\s*(?:&|\+|\band\b)\s*")


@dataclass(frozen=True)
class Person:
    """One person of a name field, proper-cased (`Tania Pineda`); `ordinal` counts from 1 in
    the order the field names them. `full_name` keeps middle names and suffixes, not titles."""

    first_name: str | None
    last_name: str | None
    full_name: str
    ordinal: int = 1


def _words(part: str) -> list[str]:
    """The name words of `part`, titles aside (`Dr. John` has one)."""
    return [w for w in part.split() if w.upper().strip(".") not in _TITLES]


def _fix_mac(text: str) -> str:
    """Undo nameparser's `Mac` split for names that are not Mac + name (`MacHado`)."""

    def repl(m: re.Match[str]) -> str:
        word = m.group(0)
        return word if word.lower() not in _NOT_MAC and len(m.group(2)) >= 3 else word.title()

    return _MAC_RE.sub(repl, text)


def _named(name: HumanName) -> tuple[str, str, str] | None:
    name.capitalize(force=True)
    first, last = _fix_mac(name.first), _fix_mac(name.last)
    full = " ".join(p for p in (first, _fix_mac(name.middle), last, name.suffix) if p)
    if not (first or last):
        return None
    return first, last, full


def _whole(text: str) -> tuple[str, str, str] | None:
    """One person written whole (`John Smith`, `HELLSTROM, ELIZABETH`, `Dr. Jane Doe`)."""
    return _named(HumanName(text))


def _composed(first: str, last: str) -> tuple[str, str, str] | None:
    """A person whose first and last names were written apart (`TANIA … PINEDA`)."""
    return _named(HumanName(f"{last}, {first}"))


def _combine(parts: list[str]) -> list[tuple[str, str, str] | None]:
    """The people of a list of name parts joined by `&`/`and`/`,`."""
    sizes = [len(_words(p)) for p in parts]
    if len(parts) == 1 or min(sizes) >= 2:  # one person, or full names each
        return [_whole(p) for p in parts]
    if all(n == 1 for n in sizes[:-1]) and sizes[-1] >= 2:
        # JOHN & MARY SMITH: the last person's last name is everyone's.
        last = HumanName(parts[-1]).last
        return [_composed(p, last) for p in parts[:-1]] + [_whole(parts[-1])]
    k = (len(parts) + 1) // 2
    if len(parts) % 2 == 1 and all(n == 1 for n in sizes[: k - 1]) and sizes[k - 1] >= 2:
        # TANIA & NICOLE PINEDA & POBLETE: first names by `&`, then last names in that order;
        # the middle part is the last first name followed by the first last name.
        middle = parts[k - 1].split()
        words = _words(parts[k - 1])
        cut = len(middle) - len(words) + 1  # after the middle's titles and first name word
        firsts = [*parts[: k - 1], " ".join(middle[:cut])]
        lasts = [" ".join(middle[cut:]), *parts[k:]]
        return [_composed(f, la) for f, la in zip(firsts, lasts, strict=True)]
    return [_whole(p) for p in parts]


def _segment_people(segment: str) -> list[tuple[str, str, str] | None]:
    """The people of one segment (no `;`, `/` or line break in it)."""
    groups = [g.strip() for g in segment.split(",")]
    groups = [g for g in groups if g]
    if not groups:
        return []
    if len(groups) == 2 and not _AND_RE.search(segment):
        left, right = groups
        if right.upper().strip(".") in _SUFFIXES:
            return [_whole(segment)]
        if len(_words(left)) >= 2 and len(_words(right)) >= 2:
            return [_whole(left), _whole(right)]  # John Smith, Jane Doe
        return [_whole(segment)]  # HELLSTROM, ELIZABETH
    split_groups = [[p for p in _AND_RE.split(g) if p] for g in groups]
    if len(split_groups) == 2 and len(split_groups[0]) == len(split_groups[1]) > 1:
        firsts, lasts = split_groups
        if all(len(_words(p)) == 1 for p in firsts + lasts):
            # JASMINE & ARGIE, TILLMAN & REYES: first names, a comma, last names.
            return [_composed(f, la) for f, la in zip(firsts, lasts, strict=True)]
    return _combine([p for g in split_groups for p in g])


def _lines(text: str) -> list[str]:
    """The name lines of a value: role lines and blank lines dropped; lines of one word
    each (a name broken across lines) joined."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [ln for ln in lines if ln and ln.lower().strip(" :.") not in ROLE_LINES]
    if len(lines) > 1 and any(len(ln.split()) < 2 for ln in lines):
        return [" ".join(lines)]
    return lines


def is_company(text: str) -> bool:
    """True when `text` looks like a business (`ABC LEARNING CENTER LLC`, `THE GROWING PATCH`)."""
    words = re.findall(r"[A-Z0-9]+", text.upper().replace(".", ""))
    return bool(words) and (words[0] == "THE" or any(w in COMPANY_WORDS for w in words))


def split_people(text: str | None) -> list[Person]:
    """The people named in one field, in order; [] for empty values and businesses.

    Handles several people (`John Smith and Jane Doe`, `;`, `/`, line breaks), a shared last
    name (`JOHN & MARY SMITH`), the Nevada convention of first names then last names
    (`TANIA & NICOLE PINEDA & POBLETE`, also with commas: `ARGIE, NELLY REYES, ARROYO` and
    `JASMINE & ARGIE, TILLMAN & REYES`), `Last, First`, the owner before `DBA` (`BRIGGS,
    DASHESHIA DBA … LLC`), role lines (`Primary Caregiver`) and titles, which are dropped.
    """
    if text is None:
        return []
    value = str(text)
    if len(value) > MAX_PEOPLE_LEN or " ".join(value.split()).lower() in _EMPTY_TOKENS:
        return []
    dba = _DBA_RE.search(value)
    if dba:
        value = value[: dba.start()]
    segments = [s for line in _lines(value) for s in _STRONG_RE.split(line)]
    found: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for segment in segments:
        segment = segment.strip(" ,&")
        if segment.lower().strip(" .") in _EMPTY_TOKENS or not re.search(r"[^\W\d_]", segment):
            continue
        if is_company(segment):
            continue
        for person in _segment_people(segment):
            if person is not None and person[2].lower() not in seen:
                seen.add(person[2].lower())
                found.append(person)
    return [
        Person(first or None, last or None, full, i)
        for i, (first, last, full) in enumerate(found, start=1)
    ]


def _name_excluded(titles: bool) -> str:
    """A regex alternation of lower-case words a fast-path name may not contain: with
    `titles`, nameparser's titles and ours (not allowed but as the last of 3+ words, where
    nameparser takes them as the last name: `Joy Woods Director`); else its suffixes, prefixes,
    conjunctions and capitalisation exceptions, ours, and business words (nowhere)."""
    from nameparser.config import CONSTANTS

    words: set[str] = set()
    if titles:
        words |= {str(w).lower() for w in CONSTANTS.titles} | {w.lower() for w in _TITLES}
    else:
        for group in (CONSTANTS.suffix_acronyms, CONSTANTS.suffix_not_acronyms,
                      CONSTANTS.prefixes, CONSTANTS.conjunctions,
                      CONSTANTS.capitalization_exceptions):  # fmt: skip
            words |= {str(w).lower() for w in group}
        words |= {w.lower() for w in _SUFFIXES | COMPANY_WORDS} | {"the", "and"}
        words |= {t for t in _EMPTY_TOKENS if " " not in t}
    return "|".join(sorted(w for w in words if w.isascii() and w.isalpha()))


def _cap_sql(word: str) -> str:
    """SQL: nameparser's forced capitalisation of one letters-only word, with our `Mac` fix:
    `Mcgee` → `McGee`, `MACKENZIE` → `MacKenzie`, but `Machado` (_NOT_MAC) and `Macey` (under 3
    letters after the capital) → title case."""
    lo = f"lower({word})"
    title = f"upper({lo}[1]) || {lo}[2:]"
    not_mac = "[" + ", ".join(f"'{w}'" for w in sorted(_NOT_MAC)) + "]"
    return (
        f"CASE WHEN regexp_full_match({lo}, 'mac[a-z]{{2,}}') THEN CASE WHEN "
        f"list_contains({not_mac}, {lo}) OR length({lo}) < 7 THEN {title} "
        f"ELSE 'Mac' || upper({lo}[4]) || {lo}[5:] END "
        f"WHEN regexp_full_match({lo}, 'mc[a-z]{{2,}}') THEN 'Mc' || upper({lo}[3]) || {lo}[4:] "
        f"ELSE {title} END"
    )


def fast_people_sql(values_table: str) -> str:
    """A SELECT of `raw, ordinal, first_name, last_name, full_name` for the values of
    `values_table` (column `raw`) of the plain shapes: what `split_people` gives for them,
    word by word capitalised (tests/test_people_fast.py checks it on real and generated
    values). The rest goes to nameparser. The shapes, each word letters only (≥ 2, no title,
    suffix, particle, conjunction or business word; `Mc`/`Mac` names capitalised as
    nameparser does):

    - one person: `First [Middle…] Last` (2–4 words) and `LAST, FIRST`, optionally followed
      by role lines (`\n \n Director`);
    - two people written the Nevada way: `TANIA & NICOLE PINEDA & POBLETE` (`&` or `and`)
      and `ARGIE, NELLY REYES, ARROYO`, first names then last names (`Tania Pineda`, `Nicole
      Poblete`; one person when both come out the same); a title only as a last name.
    """
    roles = "|".join(sorted(ROLE_LINES))
    excluded, titles = _name_excluded(False), _name_excluded(True)
    word = "[A-Za-z]{2,}"
    pattern = f"^(?:({word}(?: {word}){{1,3}})|({word}), ({word}))(?:(?:\\n *)+(?i:{roles}) *)?$"
    amp = "(?: (?:&|[Aa][Nn][Dd]) )"
    pair = f"^({word})(?:{amp}({word}) ({word}){amp}|, ({word}) ({word}), )({word})$"
    banned = f"'(^| )({excluded}|ma?c|dba)( |$)'"
    ours = "|".join(sorted(w.lower() for w in _TITLES))  # dropped when counting a part's words
    cap = f"lambda w: {_cap_sql('w')}"
    return f"""
WITH m AS MATERIALIZED (
  SELECT raw, regexp_extract(raw, '{pattern}', ['a', 'c', 'd']) AS g FROM {values_table}
  WHERE length(raw) < 100 AND regexp_full_match(raw, '{pattern}')
), w AS MATERIALIZED (
  SELECT raw, CASE WHEN g.a <> '' THEN string_split(g.a, ' ') ELSE [g.d, g.c] END AS raw_words
  FROM m
  WHERE NOT regexp_matches(lower(g.a || ' ' || g.c || ' ' || g.d), {banned})
), t AS MATERIALIZED (
  SELECT raw, list_transform(raw_words, {cap}) AS words FROM w
  WHERE NOT regexp_matches(lower(array_to_string(raw_words[:-2], ' ')),
    '(^| )({titles})( |$)')
)
, pw AS MATERIALIZED (
  SELECT raw, list_filter(regexp_split_to_array(raw, '[ ,&]+'), lambda x: lower(x) <> 'and')
    AS raw_words
  FROM {values_table}
  WHERE length(raw) < 100 AND regexp_full_match(raw, '{pair}')
), p AS MATERIALIZED (
  SELECT raw, list_transform(raw_words, {cap}) AS words FROM pw
  WHERE NOT regexp_matches(lower(array_to_string(raw_words, ' ')), {banned})
    AND NOT regexp_matches(lower(raw_words[1] || ' ' || raw_words[2]),
                           '(^| )({titles})( |$)')
    AND NOT regexp_matches(lower(raw_words[3] || ' ' || raw_words[4]), '(^| )({ours})( |$)')
)
SELECT raw, CAST(1 AS INTEGER) AS ordinal, words[1] AS first_name, words[-1] AS last_name,
  array_to_string(words, ' ') AS full_name
FROM t
UNION ALL
SELECT raw, CAST(o AS INTEGER) AS ordinal, words[o] AS first_name, words[o + 2] AS last_name,
  words[o] || ' ' || words[o + 2] AS full_name
FROM p, range(1, 3) r(o)
WHERE o = 1 OR lower(words[1] || ' ' || words[3]) <> lower(words[2] || ' ' || words[4])
"""


def _split_rows(values: list[str]) -> list[tuple[str, int, str | None, str | None, str]]:
    """`raw, ordinal, first, last, full` of each person of each value (the library path)."""
    return [(raw, p.ordinal, p.first_name, p.last_name, p.full_name)
            for raw in values for p in split_people(raw)]  # fmt: skip


def people_lookup(con: Any, values_sql: str, out_table: str, *, temp: bool = False) -> int:
    """Split each distinct name value of `values_sql` once into table `out_table`; its rows.

    `values_sql` yields one VARCHAR column of raw values (any name); NULLs are skipped and
    duplicates split once. `out_table` (`name` or `schema.name`, replaced if it exists) has
    `raw, ordinal, first_name, last_name, full_name`: one row per person, none for a value
    that names no person (empty, a business). The plain shapes are split in SQL
    (`fast_people_sql`); the rest by `split_people` (~3,500 distinct values/s, nearly all of it
    inside nameparser), over several processes when there are many. `temp`: `out_table`
    (unqualified) is a temporary table, never written to the database.
    """
    from crmpipe.clean.parallel import parallel_map

    target = quote_qualified(out_table)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _crm_people_values AS SELECT DISTINCT crm_src_.raw "
        f"FROM ({values_sql}) AS crm_src_(raw) WHERE crm_src_.raw IS NOT NULL"
    )
    kind = "TEMP TABLE" if temp else "TABLE"
    con.execute(f"CREATE OR REPLACE {kind} {target} AS {fast_people_sql('_crm_people_values')}")
    rest = con.execute(
        f"SELECT raw FROM _crm_people_values ANTI JOIN {target} USING (raw)"
    ).fetchall()
    for rows in parallel_map(_split_rows, [r[0] for r in rest]):
        if rows:
            con.execute(
                f"INSERT INTO {target} SELECT unnest($1::VARCHAR[]), unnest($2::INTEGER[]), "
                "unnest($3::VARCHAR[]), unnest($4::VARCHAR[]), unnest($5::VARCHAR[])",
                [[r[i] for r in rows] for i in range(5)],
            )
    con.execute("DROP TABLE _crm_people_values")
    return int(con.execute(f"SELECT count(*) FROM {target}").fetchone()[0])
