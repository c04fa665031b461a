"""Numbers, booleans and coordinates.

- number (DOUBLE) / integer (BIGINT): plain literals are cast directly; otherwise currency signs
  (`$ € £ ¥`), spaces and US thousands separators (`1,234,567.89`) are removed and accounting
  parentheses mean negative (`(1,234)` → -1234). Percentages, suffixes (`1.2k`) and European
  decimal commas are invalid rather than guessed. An integer accepts `12.0` but not `12.5`.
- boolean: yes/no, y/n, true/false, t/f, 1/0 in any case.
- lat / long: a decimal number within ±90 / ±180.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

_STRIP_RE = r"[$€£¥\s\x0b\x{85}\p{Z}]"
_INTEGER_RE = r"[+-]?[0-9]{1,19}"
_THOUSANDS_RE = r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?"
# BIGINT range, kept inside what a DOUBLE represents exactly at the boundary.
_BIGINT_LIMIT = "9.2e18"

BOOLEAN_VALUES: dict[str, bool] = {
    "yes": True,
    "y": True,
    "true": True,
    "t": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "f": False,
    "0": False,
}

_BOOL_MAP_SQL = (
    "MAP {" + ", ".join(f"{sql_str(k)}: {str(v).lower()}" for k, v in BOOLEAN_VALUES.items()) + "}"
)

MACROS: tuple[str, ...] = (
    # A finite DOUBLE or NULL.
    "CREATE OR REPLACE TEMP MACRO crm_finite(d) AS CASE WHEN isfinite(d) THEN d END",
    # The slow path for a trimmed value that is not a plain literal.
    "CREATE OR REPLACE TEMP MACRO crm_number_slow(v) AS list_transform("
    "[starts_with(v, '(') AND ends_with(v, ')')], lambda crm_neg_: list_transform("
    "[regexp_replace(CASE WHEN crm_neg_ THEN substr(v, 2, length(v) - 2) ELSE v END, "
    f"{sql_str(_STRIP_RE)}, '', 'g')], lambda crm_s_: list_transform([TRY_CAST("
    f"CASE WHEN regexp_full_match(crm_s_, {sql_str(_THOUSANDS_RE)}) "
    "THEN replace(crm_s_, ',', '') ELSE crm_s_ END AS DOUBLE)], lambda crm_d_: "
    "CASE WHEN NOT crm_neg_ THEN crm_finite(crm_d_) "
    "WHEN NOT starts_with(crm_s_, '-') THEN -crm_finite(crm_d_) END)[1])[1])[1]",
    # Number from a trimmed value and its direct cast `f`.
    "CREATE OR REPLACE TEMP MACRO crm_number_f(v, f) AS "
    "CASE WHEN f IS NOT NULL THEN crm_finite(f) ELSE crm_number_slow(v) END",
    "CREATE OR REPLACE TEMP MACRO crm_integer_of(d) AS CASE WHEN d = trunc(d) AND "
    f"abs(d) < {_BIGINT_LIMIT} THEN TRY_CAST(d AS BIGINT) END",
    # Integer from a trimmed value and its direct cast `i` (only tried on plain digits: a BIGINT
    # cast would round `12.5` and read `0x10` as hex).
    "CREATE OR REPLACE TEMP MACRO crm_integer_i(v, i) AS CASE WHEN i IS NOT NULL THEN i "
    "ELSE list_transform([crm_number_f(v, TRY_CAST(v AS DOUBLE))], "
    "lambda crm_d_: crm_integer_of(crm_d_))[1] END",
    "CREATE OR REPLACE TEMP MACRO crm_integer_cast(v) AS "
    f"CASE WHEN regexp_full_match(v, {sql_str(_INTEGER_RE)}) THEN TRY_CAST(v AS BIGINT) END",
    f"CREATE OR REPLACE TEMP MACRO crm_boolean_v(v) AS {_BOOL_MAP_SQL}[lower(v)]",
    "CREATE OR REPLACE TEMP MACRO crm_lat_f(f) AS CASE WHEN abs(f) <= 90 THEN f END",
    "CREATE OR REPLACE TEMP MACRO crm_long_f(f) AS CASE WHEN abs(f) <= 180 THEN f END",
)

NUMBER_PLAN = Plan(
    levels=(
        (("f", "TRY_CAST({v} AS DOUBLE)"),),
        (("c", "crm_number_f({v}, {f})"),),
    ),
    value="c",
    code="invalid_number",
)

INTEGER_PLAN = Plan(
    levels=(
        (("i", "crm_integer_cast({v})"),),
        (("c", "crm_integer_i({v}, {i})"),),
    ),
    value="c",
    code="invalid_integer",
)

BOOLEAN_PLAN = Plan(levels=((("c", "crm_boolean_v({v})"),),), value="c", code="invalid_boolean")

LAT_PLAN = Plan(
    levels=((("f", "TRY_CAST({v} AS DOUBLE)"),), (("c", "crm_lat_f({f})"),)),
    value="c",
    code="invalid_lat",
)

LONG_PLAN = Plan(
    levels=((("f", "TRY_CAST({v} AS DOUBLE)"),), (("c", "crm_long_f({f})"),)),
    value="c",
    code="invalid_long",
)

PUBLIC_MACROS: tuple[str, ...] = (
    public_macro("crm_integer", INTEGER_PLAN),
    public_macro("crm_number", NUMBER_PLAN),
    public_macro("crm_boolean", BOOLEAN_PLAN),
    public_macro("crm_lat", LAT_PLAN),
    public_macro("crm_long", LONG_PLAN),
)
