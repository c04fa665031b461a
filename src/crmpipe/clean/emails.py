"""Email lists: one raw field → a lower-cased, syntax-checked, de-duplicated `VARCHAR[]`.

CRM exports put several addresses in one cell, separated by commas, semicolons or spaces, and
wrap them in `<...>`, quotes or `mailto:`. Valid addresses are kept in first-seen order; invalid
ones are dropped from the value but reported (`crm_email_invalid`) so the issue is recorded.
The syntax check is a deliberate, sane subset of RFC 5321 (ASCII only, no quoted local parts).
Most values hold one clean address, so that case is checked first without any list work.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

# Separators between addresses (commas, semicolons, any whitespace) and the characters wrapped
# around one (<a@b.com>, "a@b.com", (a@b.com), and the `[a, b]` rendering of a list, so that a
# cleaned list cast back to text cleans to itself): none can be part of a valid address, so all
# become a comma before the split. A single quote can (o'brien@x.com): it is only stripped from
# the ends of a token.
_SPLIT_RE = r"[,;<>\"()\[\]\s\x0b\x{85}\p{Z}\x{200b}\x{feff}]+"
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
#: An address after lower-casing: dot-separated atoms, @, dot-separated DNS labels, and a TLD of
#: two or more letters (or an IDN `xn--` label). No spaces, no empty or doubled dots.
EMAIL_RE = (
    rf"{_ATOM}(\.{_ATOM})*@"
    r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_MAX_LEN = 254
_QUOTE = sql_str("'")
_DQUOTE = sql_str('"')
_DISPLAY_NAME_RE = sql_str('"[^"@]*"')

MACROS: tuple[str, ...] = (
    # Candidate tokens of a lower-cased value: quoted display names ("Smith, J" <j@x.com>) and
    # `mailto:` removed, split on separators and wrappers, empties dropped.
    "CREATE OR REPLACE TEMP MACRO crm_email_tokens0(le) AS list_filter(string_split("
    f"regexp_replace(replace(CASE WHEN contains(le, {_DQUOTE}) "
    f"THEN regexp_replace(le, {_DISPLAY_NAME_RE}, ' ', 'g') ELSE le END, 'mailto:', ','), "
    f"{sql_str(_SPLIT_RE)}, ',', 'g'), ','), lambda crm_e_: crm_e_ <> '')",
    # Single quotes stripped from the ends of the tokens (only when the value has one).
    f"CREATE OR REPLACE TEMP MACRO crm_email_unquote(tok, le) AS CASE WHEN contains(le, {_QUOTE}) "
    f"THEN list_filter(list_transform(tok, lambda crm_e_: trim(crm_e_, {_QUOTE})), "
    "lambda crm_e_: crm_e_ <> '') ELSE tok END",
    "CREATE OR REPLACE TEMP MACRO crm_email_tokens(le) AS "
    "crm_email_unquote(crm_email_tokens0(le), le)",
    # True when one (lower-cased, stripped) token is a syntactically valid address.
    "CREATE OR REPLACE TEMP MACRO crm_email_ok(e) AS "
    f"strlen(e) <= {_MAX_LEN} AND regexp_full_match(e, {sql_str(EMAIL_RE)})",
    # The valid tokens of a token list.
    "CREATE OR REPLACE TEMP MACRO crm_email_valid(tok) AS "
    "list_filter(tok, lambda crm_e_: crm_email_ok(crm_e_))",
    # De-duplicated (first occurrence kept, order kept); an empty list becomes NULL.
    "CREATE OR REPLACE TEMP MACRO crm_email_dedupe(l) AS CASE WHEN len(l) = 0 THEN NULL "
    "WHEN len(l) = 1 THEN l "
    "ELSE list_filter(l, lambda crm_e_, crm_i_: list_position(l, crm_e_) = crm_i_) END",
    # Public: the invalid elements of a raw value (what the issue record is about).
    "CREATE OR REPLACE TEMP MACRO crm_email_invalid(x) AS list_filter("
    "crm_email_tokens(lower(crm_null(x))), lambda crm_e_: NOT crm_email_ok(crm_e_))",
)

EMAIL_PLAN = Plan(
    levels=(
        (("le", "lower({v})"),),
        # Fast path: the whole value is one valid address.
        (("one", "crm_email_ok({le})"),),
        (("tok0", "CASE WHEN NOT {one} THEN crm_email_tokens0({le}) END"),),
        (("tok", "crm_email_unquote({tok0}, {le})"),),
        (("ok", "crm_email_valid({tok})"),),
        (
            ("c", "CASE WHEN {one} THEN [{le}] ELSE crm_email_dedupe({ok}) END"),
            # Present but with no valid address, or with some element dropped as invalid.
            ("bad", "NOT {one} AND (len({ok}) = 0 OR len({ok}) < len({tok}))"),
        ),
    ),
    value="c",
    code="invalid_email",
    failed="bad",
)

PUBLIC_MACROS: tuple[str, ...] = (public_macro("crm_email_list", EMAIL_PLAN),)
