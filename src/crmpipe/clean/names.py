"""Person names: trimmed, whitespace-collapsed, and proper-cased only when the case carries no
information.

`JOHN O'BRIEN` and `mary-jane smith` were typed (or exported) in one case, so they become
`John O'Brien` and `Mary-Jane Smith`; a mixed-case value such as `McDonald` or `DeShawn` was
written deliberately and is kept as is. (`mcdonald` → `Mcdonald`: no dictionary of prefixes.)
DuckDB has no `initcap()`: the first letter after every separator (space, hyphen, apostrophe,
dot, parenthesis) is upper-cased, with string positions for the common one- and two-word names
and a split into parts otherwise.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

#: Characters after which a letter starts a new word part.
NAME_SEPARATORS: tuple[str, ...] = (" ", "-", "'", "\u2019", ".", "(")


#: RE2 class of NAME_SEPARATORS, and of those other than the space.
_SEP_CLASS = r"[ \-'\x{2019}.(]"
_OTHER_SEP_CLASS = r"[\-'\x{2019}.(]"
#: Markers inserted after each separator so that one split yields the word parts with their
#: separators attached (private-use characters: the second serves values containing the first;
#: a value containing both only gets its first letter capitalized).
_MARK = "\ue000"
_MARK2 = "\ue001"


_CAP_PART = "lambda crm_w_: upper(left(crm_w_, 1)) || substr(crm_w_, 2)"

MACROS: tuple[str, ...] = (
    # First letter of every `sep`-separated part upper-cased, the rest untouched.
    "CREATE OR REPLACE TEMP MACRO crm_cap_parts(s, sep) AS "
    f"array_to_string(list_transform(string_split(s, sep), {_CAP_PART}), sep)",
    # The same after every separator at once, with a marker put after each one.
    "CREATE OR REPLACE TEMP MACRO crm_cap_marked(l, mark) AS array_to_string(list_transform("
    f"string_split(regexp_replace(l, {sql_str('(' + _SEP_CLASS + ')')}, '\\1' || mark, 'g'), "
    f"mark), {_CAP_PART}), '')",
    # Which capitalization a lower-cased value needs, cheapest first: one word, two words
    # (string positions, no lists), words separated by spaces only, other separators (a marker
    # is put after every separator and one split yields the parts with their separators
    # attached: `o'brien-smith` → [o'<m>, brien-<m>, smith]).
    "CREATE OR REPLACE TEMP MACRO crm_name_shape(l) AS CASE WHEN l IS NULL THEN NULL "
    f"WHEN regexp_matches(l, {sql_str(_OTHER_SEP_CLASS)}) "
    f"THEN CASE WHEN NOT contains(l, {sql_str(_MARK)}) THEN 'marker' "
    f"WHEN NOT contains(l, {sql_str(_MARK2)}) THEN 'marker2' ELSE 'word' END "
    "WHEN NOT contains(l, ' ') THEN 'word' "
    "WHEN strpos(substr(l, strpos(l, ' ') + 1), ' ') = 0 THEN 'two' ELSE 'words' END",
    # The capitalized value, given its shape and the position `sp` of its first space.
    "CREATE OR REPLACE TEMP MACRO crm_cap_shape(l, shape, sp) AS CASE "
    "WHEN shape = 'word' THEN upper(left(l, 1)) || substr(l, 2) "
    "WHEN shape = 'two' THEN upper(left(l, 1)) || substr(l, 2, sp - 1) "
    "|| upper(substr(l, sp + 1, 1)) || substr(l, sp + 2) "
    "WHEN shape = 'words' THEN crm_cap_parts(l, ' ') "
    f"WHEN shape = 'marker' THEN crm_cap_marked(l, {sql_str(_MARK)}) "
    f"WHEN shape = 'marker2' THEN crm_cap_marked(l, {sql_str(_MARK2)}) END",
    "CREATE OR REPLACE TEMP MACRO crm_proper_case(s) AS "
    "crm_cap_shape(lower(s), crm_name_shape(lower(s)), strpos(lower(s), ' '))",
    # The lower-cased value when its case carries no information (all upper or all lower).
    "CREATE OR REPLACE TEMP MACRO crm_caseless(c, lo) AS "
    "CASE WHEN c = lo OR c = upper(c) THEN lo END",
)

PERSON_NAME_PLAN = Plan(
    levels=(
        (("c1", "crm_collapse({v})"),),
        (("lo", "lower({c1})"),),
        (("l", "crm_caseless({c1}, {lo})"),),
        (("shape", "crm_name_shape({l})"), ("sp", "strpos({l}, ' ')")),
        (("p", "crm_cap_shape({l}, {shape}, {sp})"),),
        (("c", "coalesce({p}, {c1})"),),
    ),
    value="c",
)

PUBLIC_MACROS: tuple[str, ...] = (public_macro("crm_person_name", PERSON_NAME_PLAN),)
