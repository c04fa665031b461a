"""Null tokens and the plain-text roles (id, ref, text, category).

Exports write "missing" in many ways (`N/A`, `null`, `-`, blanks); every cleaner first trims the
value (Unicode whitespace included) and maps these tokens to NULL, so "present" means the same
thing for every role and an issue is only recorded for a value that was really there.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

#: Values (compared lower-cased, after trimming) that mean "no value".
NULL_TOKENS: frozenset[str] = frozenset({"", "n/a", "na", "null", "none", "-", "--", "nan"})

#: Characters trimmed from both ends of every value: ASCII and Unicode whitespace, plus the
#: zero-width space and byte-order mark that spreadsheet exports leave behind. It must contain
#: every character `WS_CLASS` matches, or collapsing could create a new leading/trailing space.
WHITESPACE: str = (
    " \t\n\r\x0b\x0c\x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200C))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

#: RE2 class of the whitespace that is collapsed to one space inside a value.
WS_CLASS = r"[\s\x0b\x{85}\p{Z}]"
#: RE2 class of whitespace other than the plain space (a tab, NBSP, ... anywhere needs rewriting).
_ODD_WS_CLASS = (
    r"[\t\n\x0b\f\r\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)

# A MAP lookup, not IN/list_contains: DuckDB rewrites those into a MARK join that evaluates its
# key for every row, outside the CASE guarding it.
_TOKENS_SQL = "MAP {" + ", ".join(f"{sql_str(t)}: true" for t in sorted(NULL_TOKENS)) + "}"

#: SQL condition, true when a value `t` may start or end with whitespace: a first character
#: outside printable ASCII, or a last one in the class. (trim() costs more than these checks,
#: and a start-or-end regex alternation would scan the whole value; an end-anchored one does
#: not.)
_TRIM_CLASS = r"[\s\x0b\x{85}\p{Z}\x{200b}\x{feff}]"
_EDGE_SQL = f"(ascii(t) NOT BETWEEN 33 AND 126 OR regexp_matches(t, {sql_str(_TRIM_CLASS + '$')}))"

MACROS: tuple[str, ...] = (
    # Trimmed value (Unicode whitespace included); only values with whitespace at an end pay for
    # the trim, which is slow with a long character set.
    f"CREATE OR REPLACE TEMP MACRO crm_trim_t(t) AS CASE WHEN {_EDGE_SQL} "
    f"THEN trim(t, {sql_str(WHITESPACE)}) ELSE t END",
    "CREATE OR REPLACE TEMP MACRO crm_trim(x) AS "
    "list_transform([CAST(x AS VARCHAR)], lambda crm_t_: crm_trim_t(crm_t_))[1]",
    # True when a trimmed value is a null token (all tokens are at most 4 bytes long).
    "CREATE OR REPLACE TEMP MACRO crm_is_null_token(w) AS CASE WHEN strlen(w) <= 4 "
    f"THEN coalesce({_TOKENS_SQL}[lower(w)], false) ELSE false END",
    # A trimmed value, or NULL for a null token: the first step of every cleaner.
    "CREATE OR REPLACE TEMP MACRO crm_null_w(w) AS "
    "CASE WHEN crm_is_null_token(w) THEN NULL ELSE w END",
    "CREATE OR REPLACE TEMP MACRO crm_null(x) AS "
    "list_transform([crm_trim(x)], lambda crm_w_: crm_null_w(crm_w_))[1]",
    # Internal whitespace runs collapsed to one space (input already trimmed). The guard skips
    # the expensive regex replace for the usual value that has nothing to collapse.
    "CREATE OR REPLACE TEMP MACRO crm_collapse(v) AS CASE WHEN regexp_matches(v, "
    f"{sql_str(WS_CLASS + '{2}|' + _ODD_WS_CLASS)}) "
    f"THEN regexp_replace(v, {sql_str(WS_CLASS + '+')}, ' ', 'g') ELSE v END",
)

ID_PLAN = Plan(levels=(), value="v")
TEXT_PLAN = Plan(levels=((("c", "crm_collapse({v})"),),), value="c")

PUBLIC_MACROS: tuple[str, ...] = (
    # id / ref: trimmed only (ids are case-sensitive).
    public_macro("crm_id", ID_PLAN),
    # text / category: trimmed and whitespace-collapsed, case kept.
    public_macro("crm_text", TEXT_PLAN),
    public_macro("crm_category", TEXT_PLAN),
)
