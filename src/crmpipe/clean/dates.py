"""Dates and timestamps from the formats CRM exports actually contain.

Accepted: ISO 8601 (`2024-01-31`, `2024-01-31T12:34:56`, a space instead of `T`, `/` instead of
`-`, fractions, `Z`/`UTC`/`+02:00` offsets), US `m/d/yy`, `m/d/yyyy`, `m-d-yyyy` with an optional
24-hour or AM/PM time, `yyyymmdd`, month names (`Jan 31, 2024`, `31-Jan-2024`), and Unix epoch
seconds (10 digits) or milliseconds (13 digits). Day-first dates are not guessed: `31/01/2024`
is invalid.

A timestamp with an offset is converted to UTC (stored without time zone); a date role keeps the
calendar date as written. Years outside 1900-2100 are treated as invalid: they are typos or
sentinels (`1/1/0001`, `9999-12-31`), not real CRM events.

Speed: every value is dispatched by its shape to exactly one parser. `try_strptime` with a list
of formats costs ~0.4 µs per format tried, so it only sees values containing month names.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

MIN_YEAR = 1900
MAX_YEAR = 2100

#: ISO date and time without an offset (a trailing Z is UTC): the common case, cast directly.
#: (A bare TRY_CAST would also accept, and silently ignore, zone names, offsets and AM/PM.)
_ISO_PLAIN_RE = (
    r"[0-9]{4}([-/])[0-9]{1,2}[-/][0-9]{1,2}"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?Z?"
)

#: ISO date, optional time (T or space), and a zone; groups d, t, z.
_ISO_RE = (
    r"(?i)^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})"
    r"(?:[T ]([0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?))?"
    r"\s*(Z|UTC|GMT|[+-](?:0[0-9]|1[0-4])(?::?[0-5][0-9])?)$"
)

#: US month/day/year with `/` or `-`, an optional time and AM/PM; groups m, d, y, h, ms, ap.
_US_RE = (
    r"(?i)^([0-9]{1,2})[/-]([0-9]{1,2})[/-]([0-9]{2}|[0-9]{4})"
    r"(?:[ T]+([0-9]{1,2})(:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)\s*([ap]\.?m\.?)?)?$"
)

#: Formats with month names, tried in order by strptime.
MONTH_NAME_FORMATS: tuple[str, ...] = (
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y %I:%M %p",
    "%B %d, %Y %I:%M %p",
)
_FORMATS_SQL = "[" + ", ".join(sql_str(f) for f in MONTH_NAME_FORMATS) + "]"

MACROS: tuple[str, ...] = (
    "CREATE OR REPLACE TEMP MACRO crm_iso_plain(v) AS "
    f"regexp_full_match(v, {sql_str(_ISO_PLAIN_RE)})",
    f"CREATE OR REPLACE TEMP MACRO crm_iso_parts(v) AS regexp_extract(v, {sql_str(_ISO_RE)}, "
    "['d', 't', 'z'])",
    # Minutes east of UTC of an ISO zone suffix (Z/UTC/GMT are 0).
    "CREATE OR REPLACE TEMP MACRO crm_zone_minutes(z) AS CASE "
    "WHEN upper(z) = 'Z' OR upper(z) = 'UTC' OR upper(z) = 'GMT' THEN 0 "
    "ELSE (CASE WHEN starts_with(z, '-') THEN -1 ELSE 1 END) * "
    "(TRY_CAST(substr(z, 2, 2) AS INTEGER) * 60 + "
    "coalesce(TRY_CAST(substr(replace(z, ':', ''), 4, 2) AS INTEGER), 0)) END",
    "CREATE OR REPLACE TEMP MACRO crm_iso_zoned_ts(m) AS TRY_CAST(m.d || ' ' || CASE "
    "WHEN m.t = '' THEN '00:00:00' ELSE replace(m.t, ',', '.') END AS TIMESTAMP)",
    f"CREATE OR REPLACE TEMP MACRO crm_us_parts(v) AS regexp_extract(v, {sql_str(_US_RE)}, "
    "['m', 'd', 'y', 'h', 'ms', 'ap'])",
    # The US parts as a timestamp: two-digit years 00-68 → 20xx, 69-99 → 19xx (like strptime's
    # %y); with AM/PM the hour must be 1-12.
    "CREATE OR REPLACE TEMP MACRO crm_us_ts(u) AS CASE "
    "WHEN u.ap <> '' AND NOT (TRY_CAST(u.h AS INTEGER) BETWEEN 1 AND 12) THEN NULL "
    "ELSE TRY_CAST("
    "CASE WHEN strlen(u.y) = 4 THEN u.y WHEN u.y <= '68' THEN '20' || u.y ELSE '19' || u.y END"
    " || '-' || u.m || '-' || u.d || ' ' || CASE WHEN u.h = '' THEN '00:00:00' "
    "WHEN u.ap = '' THEN u.h || u.ms "
    "ELSE CAST(TRY_CAST(u.h AS INTEGER) % 12 "
    "+ CASE WHEN lower(left(u.ap, 1)) = 'p' THEN 12 ELSE 0 END AS VARCHAR) || u.ms END "
    "AS TIMESTAMP) END",
    # The shape of a value that is not plain ISO: which single parser applies.
    "CREATE OR REPLACE TEMP MACRO crm_date_shape(v) AS CASE "
    "WHEN strlen(v) = 10 AND regexp_full_match(v, '[0-9]{10}') THEN 'epoch_s' "
    "WHEN strlen(v) = 13 AND regexp_full_match(v, '[0-9]{13}') THEN 'epoch_ms' "
    "WHEN strlen(v) = 8 AND regexp_full_match(v, '[0-9]{8}') THEN 'ymd' "
    "WHEN regexp_matches(v, '^[0-9]{4}-') THEN 'iso_zoned' "
    "WHEN regexp_matches(v, '^[0-9]{1,2}[/-][0-9]') THEN 'us' "
    # (strptime reads the special words 'epoch' and 'infinity' as 1900-01-01: a digit is needed)
    "WHEN regexp_matches(v, '(?i)jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec') "
    "AND regexp_matches(v, '[0-9]') THEN 'month_name' END",
    # {ts: timestamp as written, zone: minutes east of UTC} of a value of a given shape, given
    # its US parts `u` and zoned-ISO parts `z` (NULL unless of that shape; they are computed
    # one projection level before, as CASE branches do not share common subexpressions).
    "CREATE OR REPLACE TEMP MACRO crm_ts_of(v, shape, u, z) AS CASE "
    "WHEN shape = 'iso' THEN {'ts': TRY_CAST(v AS TIMESTAMP), 'zone': 0} "
    "WHEN shape = 'us' THEN {'ts': crm_us_ts(u), 'zone': 0} "
    "WHEN shape = 'epoch_s' THEN {'ts': make_timestamp(TRY_CAST(v AS BIGINT) * 1000000), "
    "'zone': 0} "
    "WHEN shape = 'epoch_ms' THEN {'ts': make_timestamp(TRY_CAST(v AS BIGINT) * 1000), 'zone': 0} "
    "WHEN shape = 'ymd' THEN {'ts': TRY_CAST(left(v, 4) || '-' || substr(v, 5, 2) || '-' || "
    "right(v, 2) AS TIMESTAMP), 'zone': 0} "
    "WHEN shape = 'iso_zoned' THEN {'ts': crm_iso_zoned_ts(z), 'zone': crm_zone_minutes(z.z)} "
    f"WHEN shape = 'month_name' THEN {{'ts': try_strptime(v, {_FORMATS_SQL}), 'zone': 0}} "
    "ELSE CAST(NULL AS STRUCT(ts TIMESTAMP, zone INTEGER)) END",
    "CREATE OR REPLACE TEMP MACRO crm_shape(v) AS "
    "CASE WHEN crm_iso_plain(v) THEN 'iso' ELSE crm_date_shape(v) END",
    "CREATE OR REPLACE TEMP MACRO crm_us_parts_if(v, shape) AS "
    "CASE WHEN shape = 'us' THEN crm_us_parts(v) END",
    "CREATE OR REPLACE TEMP MACRO crm_iso_parts_if(v, shape) AS "
    "CASE WHEN shape = 'iso_zoned' THEN crm_iso_parts(v) END",
    # (The casts keep the type when a constant NULL struct is folded at bind time.)
    "CREATE OR REPLACE TEMP MACRO crm_year_ok(ts) AS "
    f"year(CAST(ts AS TIMESTAMP)) BETWEEN {MIN_YEAR} AND {MAX_YEAR}",
    # UTC timestamp of {ts, zone}; the year is checked before the shift (so that it cannot
    # overflow) and after it.
    "CREATE OR REPLACE TEMP MACRO crm_shift(p) AS "
    "CAST(p.ts AS TIMESTAMP) - to_minutes(CAST(p.zone AS INTEGER))",
    "CREATE OR REPLACE TEMP MACRO crm_utc(p) AS CASE WHEN crm_year_ok(p.ts) THEN CASE WHEN "
    "crm_year_ok(crm_shift(p)) THEN crm_shift(p) END END",
    "CREATE OR REPLACE TEMP MACRO crm_date_of(ts) AS "
    "CASE WHEN crm_year_ok(ts) THEN CAST(CAST(ts AS TIMESTAMP) AS DATE) END",
)

_LEVELS = (
    (("shape", "crm_shape({v})"),),
    (("u", "crm_us_parts_if({v}, {shape})"), ("z", "crm_iso_parts_if({v}, {shape})")),
    (("p", "crm_ts_of({v}, {shape}, {u}, {z})"),),
)

TIMESTAMP_PLAN = Plan(
    levels=(*_LEVELS, (("c", "crm_utc({p})"),)),
    value="c",
    code="invalid_timestamp",
)

DATE_PLAN = Plan(
    levels=(*_LEVELS, (("c", "crm_date_of({p}.ts)"),)),
    value="c",
    code="invalid_date",
)

PUBLIC_MACROS: tuple[str, ...] = (
    public_macro("crm_timestamp", TIMESTAMP_PLAN),
    public_macro("crm_date", DATE_PLAN),
)
