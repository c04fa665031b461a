"""Phones: raw text → E.164 (`+12125550142`) with the extension kept apart.

Most rows are North-American numbers, so a SQL fast path handles them: strip formatting, split
off an extension (`x12`, `ext. 12`, `extension 12`, `#12`, `;ext=12`), and turn 10 digits (or 11
starting with 1) into `+1NXXNXXXXXX` when area code and exchange start with 2-9. Everything else
(other country codes, `00` prefixes, odd lengths, letters) needs Google's `phonenumbers`, which
is called only on the *distinct* such values (`build_phone_lookup`); the cleaning SQL joins the
result. With a default region outside the North American plan, every value takes that path.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import phonenumbers

from crmpipe.clean.plan import Plan, public_macro, stacked_select
from crmpipe.sqltext import sql_str

#: Splits `<number><separator><extension marker><digits>` at the end of a value.
EXT_RE = r"(?i)^(.*?[0-9][^a-z#]*?)[\s,;]*(?:extension|extn|ext|x|#)[\s.:=-]*([0-9]{1,10})$"
_PLAIN_RE = r"\+?[0-9]+"
#: Formatting characters removed from a number before its digits are read.
_FORMATTING = (" ", "-", "(", ")", ".", "/")
_MAX_LOOKUP_LEN = 100  # phonenumbers refuses longer input anyway

_STRIP_SQL = "s"
for _ch in _FORMATTING:
    _STRIP_SQL = f"replace({_STRIP_SQL}, {sql_str(_ch)}, '')"

MACROS: tuple[str, ...] = (
    # Formatting characters removed; what remains of a usable number is `+?digits`.
    f"CREATE OR REPLACE TEMP MACRO crm_phone_strip(s) AS {_STRIP_SQL}",
    "CREATE OR REPLACE TEMP MACRO crm_phone_is_plain(s) AS "
    f"regexp_full_match(s, {sql_str(_PLAIN_RE)})",
    # {main, ext} of a value with an extension marker (ext = '' when there is none); the regex
    # (with captures, slow) only runs when the stripped value is not plain digits.
    "CREATE OR REPLACE TEMP MACRO crm_phone_ext_parts(v, plain) AS CASE WHEN NOT plain AND "
    "(contains(lower(v), 'x') OR contains(v, '#')) "
    f"THEN regexp_extract(v, {sql_str(EXT_RE)}, ['main', 'ext']) END",
    # `+?digits` of the number part (NULL when it is not plain digits).
    "CREATE OR REPLACE TEMP MACRO crm_phone_ms(s, plain, m) AS CASE WHEN plain THEN s "
    "WHEN m.ext <> '' AND crm_phone_is_plain(crm_phone_strip(m.main)) "
    "THEN crm_phone_strip(m.main) END",
    # The 10-digit national number when `ms` has the North-American shape, else NULL.
    "CREATE OR REPLACE TEMP MACRO crm_phone_nat(ms) AS CASE "
    "WHEN strlen(ms) = 10 AND NOT starts_with(ms, '+') THEN ms "
    "WHEN strlen(ms) = 11 AND starts_with(ms, '1') THEN substr(ms, 2) "
    "WHEN strlen(ms) = 12 AND starts_with(ms, '+1') THEN substr(ms, 3) END",
    # Area code and exchange must start with 2-9.
    "CREATE OR REPLACE TEMP MACRO crm_phone_nat_ok(n) AS "
    "substr(n, 1, 1) >= '2' AND substr(n, 4, 1) >= '2'",
    "CREATE OR REPLACE TEMP MACRO crm_phone_e164(n) AS "
    "CASE WHEN crm_phone_nat_ok(n) THEN '+1' || n END",
)


def phone_plan(region: str) -> Plan:
    """The phone plan for a default region: the North-American fast path only applies in +1."""
    nanp = is_nanp_region(region)
    common = (
        ("ext", "nullif({m}.ext, '')"),
        # What phonenumbers parses: the value without its extension.
        ("main", "CASE WHEN {m}.ext <> '' THEN {m}.main ELSE {v} END"),
    )
    tail = (
        (
            ("c", "crm_phone_e164({nat})"),
            *common,
            # phonenumbers decides the values the fast path cannot.
            ("key", "CASE WHEN {nat} IS NULL THEN {raw} END"),
            ("bad", "{nat} IS NOT NULL AND NOT crm_phone_nat_ok({nat})"),
        )
        if nanp
        else (
            ("c", "NULL::VARCHAR"),
            *common,
            ("key", "{raw}"),
            ("bad", "false"),
        )
    )
    return Plan(
        levels=(
            (("s", "crm_phone_strip({v})"),),
            (("plain", "crm_phone_is_plain({s})"),),
            (("m", "crm_phone_ext_parts({v}, {plain})"),),
            (("ms", "crm_phone_ms({s}, {plain}, {m})"),),
            (("nat", "crm_phone_nat({ms})"),),
            tail,
        ),
        value="c",
        companions=(("_ext", "ext"),),
        code="invalid_phone",
        failed="bad",
        lookup_key="key",
    )


def north_american_e164(value: str) -> str | None:
    """The fast path above in Python: E.164 of a North-American number (`+12125550142`), or
    None when the macros would not give one (not that shape, or area code or exchange 0/1).

    For guessing what a sampled column holds (`crmpipe init`) by the rule cleaning applies.
    """
    stripped = value
    for ch in _FORMATTING:
        stripped = stripped.replace(ch, "")
    if re.fullmatch(_PLAIN_RE, stripped):
        digits = stripped
    elif "x" in value.lower() or "#" in value:
        parts = re.search(EXT_RE, value)
        main = parts.group(1) if parts else ""
        for ch in _FORMATTING:
            main = main.replace(ch, "")
        if not (parts and re.fullmatch(_PLAIN_RE, main)):
            return None
        digits = main
    else:
        return None
    if len(digits) == 10 and not digits.startswith("+"):
        nat = digits
    elif len(digits) == 11 and digits.startswith("1"):
        nat = digits[1:]
    elif len(digits) == 12 and digits.startswith("+1"):
        nat = digits[2:]
    else:
        return None
    return "+1" + nat if nat[0] >= "2" and nat[3] >= "2" else None


def is_nanp_region(region: str) -> bool:
    """True when `region` (e.g. "US", "CA") dials with country code 1."""
    return phonenumbers.country_code_for_region(region.upper()) == 1


def parse_phone(main: str, region: str) -> tuple[str | None, str | None]:
    """(E.164, extension) of one number by phonenumbers; (None, None) when it is not valid."""
    if not main or len(main) > _MAX_LOOKUP_LEN:
        return None, None
    main = main.strip()
    if main.startswith("00"):  # the international prefix of most of the world, whatever region
        main = "+" + main[2:]
    try:
        num = phonenumbers.parse(main, region)
    except Exception:  # NumberParseException, and never let one odd value stop a run
        return None, None
    if not phonenumbers.is_valid_number(num):
        return None, None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), (
        num.extension or None
    )


def build_phone_lookup(con: Any, values_sql: str, region: str = "US") -> str:
    """Resolve the values the SQL fast path cannot with phonenumbers; return a temp table name.

    `values_sql` is a query yielding one VARCHAR column of raw phone values. The distinct values
    needing phonenumbers (all distinct values when `region` is outside +1) are parsed once
    each; the temp table has columns `(raw VARCHAR, e164 VARCHAR, ext VARCHAR)`, `e164` NULL for
    invalid numbers, `raw` exactly as the query yielded it. The caller drops the table.
    """
    region = region.upper()
    plan = phone_plan(region)
    distinct = (
        "SELECT DISTINCT crm_src_.raw FROM (" + values_sql + ") AS crm_src_(raw) "
        "WHERE crm_src_.raw IS NOT NULL"
    )
    levels = stacked_select(distinct, ["raw"], [("p", "raw", plan)])
    rows = con.execute(
        f"SELECT p_raw, p_main, p_ext FROM ({levels}) WHERE p_v IS NOT NULL AND p_key IS NOT NULL"
    ).fetchall()
    raws: list[str] = []
    e164s: list[str | None] = []
    exts: list[str | None] = []
    for raw, main, sql_ext in rows:
        e164, ext = parse_phone(main, region)
        raws.append(raw)
        e164s.append(e164)
        exts.append((sql_ext or ext) if e164 else None)
    name = f"crm_phone_lookup_{uuid.uuid4().hex[:12]}"
    # Lists as parameters: 50k rows in ~40 ms, without the pandas import `register` triggers.
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT unnest($1::VARCHAR[]) AS raw, "
        "unnest($2::VARCHAR[]) AS e164, unnest($3::VARCHAR[]) AS ext",
        [raws, e164s, exts],
    )
    return name


_US = phone_plan("US")

PUBLIC_MACROS: tuple[str, ...] = (
    # E.164 by the fast path (NULL when invalid or when phonenumbers is needed), the extension
    # of a valid number, and everything build_phone_lookup needs.
    public_macro("crm_phone", _US),
    public_macro("crm_phone_ext", _US, "CASE WHEN {c} IS NOT NULL THEN {ext} END"),
    public_macro(
        "crm_phone_parts",
        _US,
        "{{'e164': {c}, 'ext': CASE WHEN {nat} IS NULL OR {c} IS NOT NULL THEN {ext} END, "
        "'main': {main}, 'status': CASE WHEN {v} IS NULL THEN NULL WHEN {nat} IS NULL "
        "THEN 'lookup' WHEN {c} IS NOT NULL THEN 'ok' ELSE 'invalid' END}}",
    ),
)
