"""SQL that renders the childcare case's facilities as each source writes them.

A facility's identity is drawn once (childcare_facilities); each row that lists it carries
small integer codes (drawn in childcare_rows) saying how *this* source wrote it: the name's
legal suffix dropped or swapped, `&` for `and`, `Ctr` for `Center`, a one-letter typo; `N.` or
`North`, `ST` or `Street`, the suite in Address2; the phone's layout, seven digits without the
area code, or a number that changed. The SQL here turns codes into text inside DuckDB, so a
million rows render without a Python loop. `FACILITY_SQL` builds the per-facility strings once
(core name, e-mail); `SOURCE_FIELDS` lists each file's columns as SQL over one row.
"""

from __future__ import annotations

from crmpipe.demo.datasets import childcare_vocab as cv
from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v
from crmpipe.demo.datasets.duplicates import _typo_sql
from crmpipe.sqltext import sql_str


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A DuckDB list literal of strings (indexed from 1 in SQL)."""
    return "[" + ", ".join(sql_str(x) for x in values) + "]"


def pick(values: tuple[str, ...] | list[str], code: str) -> str:
    """values[code] (0-based code) as SQL."""
    return f"{sql_list(values)}[{code} + 1]"


def title_sql(expr: str) -> str:
    """Each space-separated word with its first letter upper, the rest lower."""
    return (
        f"array_to_string(list_transform(string_split(lower({expr}), ' '), "
        "lambda w: concat(upper(w[1]), w[2:])), ' ')"
    )


def _compact(expr: str) -> str:
    """The name as a mail or web word: lower case, without the punctuation names hold (nested
    replace: several times faster than a regular expression at a million rows)."""
    out = f"lower({expr})"
    for ch in (" ", "'", "&", "-", ".", ",", "#"):
        out = f"replace({out}, {sql_str(ch)}, '')"
    return out


_CORE = (
    "CASE style "
    f"WHEN 0 THEN concat_ws(' ', {pick(cv.NAME_PREFIXES, 'prefix')}, "
    f"nullif({pick(cv.NAME_NOUNS, 'noun')}, ''), {pick(cv.NAME_TYPES, 'ntype')}) "
    f"WHEN 1 THEN CASE chain_fmt WHEN 0 THEN concat({pick(cv.CHAIN_BRANDS, 'brand')}, ' - ', "
    f"{title_sql('CAST(street AS VARCHAR)')}) "
    f"ELSE concat({pick(cv.CHAIN_BRANDS, 'brand')}, ' #', chain_no) END "
    f"WHEN 2 THEN concat({pick(cv.CHURCH_NAMES, 'church')}, ' ', {pick(cv.CHURCH_TYPES, 'ctype')}) "
    f"WHEN 3 THEN concat(fn, '''s ', {pick(cv.NAME_TYPES, 'ntype')}) "
    f"WHEN 5 THEN concat({pick(cv.ACCOMMODATIONS, f'brand % {len(cv.ACCOMMODATIONS)}')}, ' - ', "
    f"{title_sql('CAST(street AS VARCHAR)')}) "
    f"WHEN 6 THEN concat('City of ', {title_sql('CAST(city_name AS VARCHAR)')}, "
    "CASE WHEN chain_fmt = 0 THEN ' Youth Programs' ELSE ' Parks & Recreation' END) "
    "ELSE concat(fn, ' ', ln) END"
)
_DOMAINS = [d for d, _ in v.PERSONAL_DOMAINS]

#: Per facility: every column of `fac` plus `core` (its name without legal suffix), `legal_s`
#: and `email`.
FACILITY_SQL = f"""
    SELECT *, CASE WHEN NOT has_email THEN '' WHEN epat = 0 OR style = 4
        THEN concat(lower(fn), lower(ln), enum, '@', {pick(_DOMAINS, "edom")})
      WHEN epat = 1 THEN concat(compact, '@', {pick(_DOMAINS, "edom")})
      WHEN epat = 2 THEN concat('director@', compact, '.com')
      ELSE concat('info@', compact, '.org') END AS email
    FROM (SELECT *, CASE WHEN has_email AND epat > 0 THEN {_compact("core")} END AS compact
          FROM (SELECT *, {_CORE} AS core, CASE WHEN style IN (0, 3)
                  THEN {pick(cv.LEGAL, "legal")} ELSE '' END AS legal_s FROM fac))
"""


def _words(expr: str, code: str) -> str:
    """Code k in 1..len(WORDINGS) writes WORDINGS[k-1] short; the next len(WORDINGS) long."""
    whens = []
    for i, (long, short) in enumerate(cv.WORDINGS):
        whens.append(f"WHEN {i + 1} THEN replace({expr}, {sql_str(long)}, {sql_str(short)})")
        j = i + 1 + len(cv.WORDINGS)
        whens.append(f"WHEN {j} THEN replace({expr}, {sql_str(short)}, {sql_str(long)})")
    return f"CASE {code} {' '.join(whens)} ELSE {expr} END"


#: The facility's name as this row writes it (title case; sources upper-case it themselves).
NAME_VARIANT = (
    "concat("
    + _typo_sql(
        _words(
            "CASE v_amp WHEN 1 THEN replace(core, ' & ', ' and ') "
            "WHEN 2 THEN replace(core, ' and ', ' & ') ELSE core END",
            "v_word",
        ),
        "v_typo",
        "v_pos",
    )
    + ", CASE WHEN style NOT IN (0, 3) OR v_legal = 0 THEN legal_s WHEN v_legal = 1 THEN '' "
    f"ELSE {pick(cv.LEGAL, '(legal + v_alt) % ' + str(len(cv.LEGAL) - 1) + ' + 1')} END)"
)


def _ordinal(expr: str) -> str:
    return (
        f"concat({expr}, CASE WHEN {expr} % 100 IN (11, 12, 13) THEN 'TH' "
        f"WHEN {expr} % 10 = 1 THEN 'ST' WHEN {expr} % 10 = 2 THEN 'ND' "
        f"WHEN {expr} % 10 = 3 THEN 'RD' ELSE 'TH' END)"
    )


_DIR = (
    f"CASE WHEN dir = 0 THEN NULL WHEN a_dir = 2 THEN {pick([d[1] for d in cv.DIRECTIONS], 'dir')}"
    f" WHEN a_dir = 1 THEN concat({pick([d[0] for d in cv.DIRECTIONS], 'dir')}, '.') "
    f"ELSE {pick([d[0] for d in cv.DIRECTIONS], 'dir')} END"
)
_TYPE = (
    f"CASE a_type WHEN 1 THEN {pick([t[1] for t in cv.STREET_TYPES], 'stype')} "
    f"WHEN 2 THEN concat({pick([t[0] for t in cv.STREET_TYPES], 'stype')}, '.') "
    f"ELSE {pick([t[0] for t in cv.STREET_TYPES], 'stype')} END"
)
#: Street line without the unit (upper case), and the unit ('STE 104', '#12') or ''.
STREET = (
    f"concat_ws(' ', num, {_DIR}, CASE WHEN numbered THEN {_ordinal('ordinal')} "
    f"ELSE CAST(street AS VARCHAR) END, {_TYPE})"
)
UNIT = (
    f"CASE WHEN unit = 0 THEN '' WHEN unit_word = 2 THEN concat('#', unit) "
    f"ELSE concat({pick(cv.UNIT_WORDS, 'unit_word')}, ' ', unit) END"
)
STREET_WITH_UNIT = "CASE WHEN unit = 0 THEN street_s ELSE concat(street_s, ' ', unit_s) END"


def phone_sql(default_fmt: int) -> str:
    """The row's phone: its layout (`pfmt` < 0 → the source's usual one), seven digits when
    `p7`, the changed number when `pchg`; null tokens by `n_phone`."""
    p = "CASE WHEN pchg THEN alt ELSE phone END"
    a, e, ln = f"({p}) // 10000000", f"(({p}) // 10000) % 1000", f"({p}) % 10000"
    fmt = f"CASE WHEN pfmt < 0 THEN {default_fmt} ELSE pfmt END"
    seven = f"concat({e}, '-', lpad(CAST({ln} AS VARCHAR), 4, '0'))"
    return m.sql_null(f"CASE WHEN p7 THEN {seven} ELSE {m.sql_phone(a, e, ln, fmt)} END", "n_phone")


def date_sql(days: str, fmt: str, *, month_end: bool = False) -> str:
    """Days since 1970 as text in `fmt` (the month's last day when `month_end`)."""
    d = f"DATE '1970-01-01' + CAST({days} AS INTEGER)"
    return f"strftime({f'last_day({d})' if month_end else d}, {sql_str(fmt)})"


def _contacts() -> str:
    """One contact, or two as the Nevada list writes them: 'TANIA & NICOLE PINEDA & POBLETE'
    (or with AND, or 'ANASTASIA, KASHMIR EDEY, SHAFER')."""
    return (
        "CASE WHEN NOT two THEN concat(fn, ' ', ln) WHEN v_pos < 0.2 THEN concat(fn, ', ', fn2, "
        "' ', ln, ', ', ln2) WHEN v_pos < 0.4 THEN concat(fn, ' AND ', fn2, ' ', ln, ' AND ', "
        "ln2) ELSE concat(fn, ' & ', fn2, ' ', ln, ' & ', ln2) END"
    )


_HOURS = f"concat({pick(cv.OPEN_TIMES, 'open')}, ' - ', {pick(cv.CLOSE_TIMES, 'close')})"
_WEEKDAY = f"CASE week WHEN 3 THEN '12:00AM - 12:00AM' WHEN 2 THEN 'CLOSED' ELSE {_HOURS} END"
_WEEKEND = f"CASE week WHEN 3 THEN '12:00AM - 12:00AM' WHEN 0 THEN 'CLOSED' ELSE {_HOURS} END"


def _age(slot: int) -> str:
    """The slot-th accepted age group (from ages_from to ages_to), or ''."""
    label = pick(cv.AGES, f"ages_from + {slot}")
    return f"CASE WHEN ages_from + {slot} <= ages_to THEN {label} ELSE '' END"


def _yn(age: int) -> str:
    return f"CASE WHEN ages_from <= {age} AND {age} <= ages_to THEN 'Y' ELSE 'N' END"


def _multiline(expr: str) -> str:
    """A field that always holds a line break: always quoted."""
    return f"concat('\"', replace({expr}, '\"', '\"\"'), '\"')"


_ROLE1 = (
    "CASE WHEN kind < 2 THEN 'Owner' WHEN kind = 3 THEN 'Person in Charge' "
    "WHEN v_pos < 0.7 THEN 'Director' WHEN v_pos < 0.9 THEN 'Other' ELSE 'Person in Charge' END"
)
_EMAIL = "CASE WHEN v_pos < 0.97 THEN email ELSE upper(email) END"
_LICENSE2 = "CASE WHEN kind < 2 THEN 'CHILD CARE FAMILY - K82' ELSE 'CHILD CARE CENTER - K83' END"
#: The Oklahoma export's last two columns hold its tags shifted left (as in the real file).
_TAGS = (
    "CASE WHEN subsidy THEN 'Accepts Subsidy' WHEN year_round THEN 'Year Round' "
    "ELSE 'Daytime Hours' END",
    "CASE WHEN subsidy THEN CASE WHEN year_round THEN 'Daytime Hours' ELSE 'Evening Hours' END "
    f"WHEN v_pos < 0.9 THEN {sql_str(cv.AGES[2])} ELSE '' END",
)
_NEW_TX = "lic % 37 = 0"  # a new Texas operation: no permit, date, capacity nor e-mail yet
#: A stray quote pair, as in the real Texas row `"K"" Street Learning Center LLC"""`.
_QUOTED = (
    "CASE WHEN quote THEN concat(split_part(nm3, ' ', 1), '\" ', "
    "nm3[length(split_part(nm3, ' ', 1)) + 2:], '\"') ELSE nm3 END"
)
_S1_ADDRESS = (
    "concat(CASE WHEN unit = 0 THEN street_s ELSE concat(street_s, ', ', unit_s) END, "
    "' ', city_name, ', ', st, ' ', zip)"
)

#: Each source file's columns as SQL over a row of `r JOIN f` (nm = the name variant, street_s
#: and unit_s its street and unit, street_u both), and whether the field may hold , or ".
SOURCE_FIELDS: dict[str, list[tuple[str, bool]]] = {
    "source1": [
        ("CASE WHEN mojibake THEN replace(upper(nm), '''', 'í') ELSE upper(nm) END", True),
        (
            f"concat({pick(cv.CREDENTIAL_TYPES, 'kind')}, "
            "CASE WHEN flag THEN ' (PROVISIONAL)' ELSE '' END)",
            False,
        ),
        ("concat(lic % 4000, '-', 21 + lic % 3)", False),
        ("'Active'", False),
        (date_sql("d2", "%-m/%-d/%y", month_end=True), False),
        ("CASE WHEN lic % 53 = 0 THEN 'Y' ELSE 'N' END", False),
        (_S1_ADDRESS, True),
        ("st", False),
        (m.sql_null("county", "n_other"), False),
        (phone_sql(1), False),
        (date_sql("d1", "%-m/%-d/%y"), False),
        (m.sql_null(f"upper({_contacts()})", "n_contact"), True),
        (_ROLE1, False),
    ],
    "source2": [
        (f"concat({_LICENSE2}, lpad(CAST(lic AS VARCHAR), 7, '0'))", False),
        (
            "upper(CASE WHEN kind < 2 THEN concat(ln, ', ', fn, CASE WHEN style = 4 THEN '' "
            "ELSE concat(' DBA ', nm) END) ELSE nm END)",
            True,
        ),
        ("CASE WHEN subsidy THEN 'Accepts Subsidy' ELSE '' END", False),
        ("CASE WHEN year_round THEN 'Year Round' ELSE '' END", False),
        ("'Daytime Hours'", False),
        ("concat(star, ' Star Level Program')", False),
        *[(_WEEKDAY, False)] * 5,
        (_WEEKEND, False),
        (f"CASE WHEN week = 1 AND v_pos < 0.5 THEN 'CLOSED' ELSE {_WEEKEND} END", False),
        (
            _multiline(
                "concat(fn, ' ', ln, chr(10), ' ', chr(10), ' ', CASE WHEN kind < 2 "
                "THEN 'Primary Caregiver' ELSE 'Director' END)"
            ),
            False,
        ),
        (phone_sql(0), False),
        (m.sql_null(_EMAIL, "n_other"), False),
        ("CASE WHEN a_unit2 THEN street_s ELSE street_u END", True),
        ("CASE WHEN a_unit2 THEN unit_s ELSE '' END", False),
        ("city_name", False),
        ("st", False),
        ("zip", False),
        (
            "concat('Subsidy Contract Number: ', CASE WHEN subsidy THEN CAST(10000 + lic % 60000 "
            "AS VARCHAR) ELSE 'N/A' END)",
            False,
        ),
        ("cap", False),
        *[(_age(k), False) for k in range(4)],
        (date_sql("d1", "Monitoring since %Y-%m-%d"), False),
        (_TAGS[0], False),
        (_TAGS[1], False),
    ],
    "source3": [
        ("500000 + lic % 1300000", False),
        ("''", False),
        (_QUOTED, True),
        ("street_u", True),
        ("city_name", False),
        ("st", False),
        ("zip", False),
        (m.sql_null("county", "n_other"), False),
        (phone_sql(1), False),
        (
            "CASE WHEN kind < 2 THEN 'Licensed Child-Care Home' "
            "ELSE 'Licensed Center - Child Care Program' END",
            False,
        ),
        (f"CASE WHEN {_NEW_TX} THEN '' ELSE 'Full Permit' END", False),
        (f"CASE WHEN {_NEW_TX} THEN '' ELSE {date_sql('d1', '%-m/%-d/%y')} END", False),
        (f"CASE WHEN {_NEW_TX} THEN '' ELSE CAST(cap AS VARCHAR) END", False),
        (f"CASE WHEN {_NEW_TX} THEN '' ELSE {m.sql_null('email', 'n_other')} END", False),
        ("100000 + lic % 1400000", False),
        ("''", False),
        *[(f"CASE WHEN {_NEW_TX} THEN 'N' ELSE {_yn(k)} END", False) for k in range(4)],
    ],
}


def rows_sql(where: str) -> str:
    """Rows of `r` matching `where` joined to their facility (`f`), with the name variant `nm`
    (case noise included), `nm3` (Texas: a home named after its owner + ' Home Daycare'), the
    street `street_s`, the unit `unit_s` and both `street_u`."""
    return f"""
        SELECT *, {STREET_WITH_UNIT} AS street_u,
          CASE WHEN style = 4 THEN concat(nm, ' Home Daycare') ELSE nm END AS nm3
        FROM (SELECT *, {STREET} AS street_s, {UNIT} AS unit_s,
                {m.sql_case_noise("nm0", "v_case")} AS nm
              FROM (SELECT r.*, f.* EXCLUDE (fac), {NAME_VARIANT} AS nm0
                    FROM r JOIN f USING (fac) WHERE {where}))
    """


def source_lines_sql(source: str, src: int) -> str:
    """`key` (the file's sort order), `fac`, `malformed`, the row's `fields` as a list (for
    breaking a malformed line) and its CSV `line`, for every row of `source` (number `src`)."""
    fields = SOURCE_FIELDS[source]
    line = m.sql_csv_line([e for e, _ in fields], needs_quoting=[q for _, q in fields])
    key = "nm3" if source == "source3" else "CAST(phone AS VARCHAR)"
    return f"SELECT {key} AS key, fac, malformed, {line} AS line FROM ({rows_sql(f'src = {src}')})"
