"""Places: US state codes, ZIP codes and web addresses.

- state: two-letter USPS code from a code in any case, a full name (`new york`), or a common
  abbreviation (AP style `Calif.`, `N.Y.`, `Penna.`, `N. Carolina`, `D.C.`), for the 50 states,
  DC and the territories (PR, GU, VI, AS, MP). Matching ignores case, dots, spaces and hyphens.
- postal_code: ZIP as `12345` or `12345-6789`; the leading zero a spreadsheet dropped is put
  back on 4-digit values (`2134` → `02134`).
- url: `https://` added when no scheme is given, scheme and host lower-cased (the path keeps its
  case), a lone trailing `/` dropped; the companion domain is the host without `www.` and port.
"""

from __future__ import annotations

from crmpipe.clean.plan import Plan, public_macro
from crmpipe.sqltext import sql_str

#: Code → (full name, other spellings). Spellings are compared after lower-casing and removing
#: everything but letters, so "N. Carolina", "n carolina" and "N-Carolina" are one key.
STATES: dict[str, tuple[str, ...]] = {
    "AL": ("Alabama", "Ala"),
    "AK": ("Alaska", "Alas"),
    "AZ": ("Arizona", "Ariz"),
    "AR": ("Arkansas", "Ark"),
    "CA": ("California", "Calif", "Cal", "Cali"),
    "CO": ("Colorado", "Colo", "Col"),
    "CT": ("Connecticut", "Conn"),
    "DE": ("Delaware", "Del"),
    "DC": (
        "District of Columbia",
        "Washington DC",
        "Washington D.C.",
        "Wash DC",
        "Dist of Columbia",
        "Dist Columbia",
    ),
    "FL": ("Florida", "Fla", "Flor"),
    "GA": ("Georgia",),
    "HI": ("Hawaii",),
    "ID": ("Idaho", "Ida"),
    "IL": ("Illinois", "Ill", "Ills"),
    "IN": ("Indiana", "Ind"),
    "IA": ("Iowa",),
    "KS": ("Kansas", "Kan", "Kans"),
    "KY": ("Kentucky", "Ken", "Kent"),
    "LA": ("Louisiana",),
    "ME": ("Maine",),
    "MD": ("Maryland",),
    "MA": ("Massachusetts", "Mass"),
    "MI": ("Michigan", "Mich"),
    "MN": ("Minnesota", "Minn"),
    "MS": ("Mississippi", "Miss"),
    "MO": ("Missouri",),
    "MT": ("Montana", "Mont"),
    "NE": ("Nebraska", "Neb", "Nebr"),
    "NV": ("Nevada", "Nev"),
    "NH": ("New Hampshire", "N Hampshire", "N.H."),
    "NJ": ("New Jersey", "N Jersey", "N.J."),
    "NM": ("New Mexico", "N Mexico", "N Mex", "New Mex", "N.M."),
    "NY": ("New York", "N York", "N.Y."),
    "NC": ("North Carolina", "N Carolina", "No Carolina", "N Car", "N.C."),
    "ND": ("North Dakota", "N Dakota", "No Dakota", "N Dak", "N.D."),
    "OH": ("Ohio",),
    "OK": ("Oklahoma", "Okla"),
    "OR": ("Oregon", "Ore", "Oreg"),
    "PA": ("Pennsylvania", "Penn", "Penna", "Pa."),
    "RI": ("Rhode Island", "R.I.", "Rhode Is"),
    "SC": ("South Carolina", "S Carolina", "So Carolina", "S Car", "S.C."),
    "SD": ("South Dakota", "S Dakota", "So Dakota", "S Dak", "S.D."),
    "TN": ("Tennessee", "Tenn"),
    "TX": ("Texas", "Tex"),
    "UT": ("Utah",),
    "VT": ("Vermont",),
    "VA": ("Virginia", "Virg"),
    "WA": ("Washington", "Wash", "Washington State", "Wash State"),
    "WV": ("West Virginia", "W Virginia", "W Va", "W Virg", "W.Va."),
    "WI": ("Wisconsin", "Wis", "Wisc"),
    "WY": ("Wyoming", "Wyo"),
    "PR": ("Puerto Rico",),
    "GU": ("Guam",),
    "VI": ("Virgin Islands", "US Virgin Islands", "U.S. Virgin Islands", "USVI"),
    "AS": ("American Samoa", "Amer Samoa"),
    "MP": ("Northern Mariana Islands", "Northern Marianas", "N Mariana Islands", "CNMI"),
}


def state_key(text: str) -> str:
    """The matching key of a state spelling: lower-cased ASCII letters only."""
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")


def _state_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for code, spellings in STATES.items():
        for spelling in (code, *spellings):
            key = state_key(spelling)
            if keys.setdefault(key, code) != code:
                raise ValueError(f"state spelling {spelling!r} is ambiguous")
    return keys


STATE_KEYS: dict[str, str] = _state_keys()

_STATE_MAP_SQL = (
    "MAP {" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in STATE_KEYS.items()) + "}"
)

#: ZIP, ZIP+4 (`-`, space or nothing between) and the same with the leading zero lost.
_ZIP_RE = r"^([0-9]{4,5})(?:\s*-?\s*([0-9]{4}))?$"

#: An absolute or scheme-less URL: optional scheme, a dotted host (letters, digits, `-`, `_`,
#: Unicode letters) with an optional port, then path/query/fragment without whitespace. Only
#: matched, never captured: RE2 captures are several times slower, so the parts are then cut
#: out with string functions.
_URL_RE = (
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?"
    r"[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+(?::[0-9]{1,5})?"
    r"(?:[/?#][^\s\x0b\x{85}\p{Z}]*)?"
)
_SCHEME_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://"

MACROS: tuple[str, ...] = (
    "CREATE OR REPLACE TEMP MACRO crm_state_v(v) AS "
    f"{_STATE_MAP_SQL}[regexp_replace(lower(v), '[^a-z]', '', 'g')]",
    # {a: 4-5 digit ZIP, b: +4 digits}; a = '' when the value is no ZIP.
    f"CREATE OR REPLACE TEMP MACRO crm_zip_parts(v) AS regexp_extract(v, {sql_str(_ZIP_RE)}, "
    "['a', 'b'])",
    "CREATE OR REPLACE TEMP MACRO crm_zip_format(m) AS CASE WHEN m.a <> '' THEN "
    "lpad(m.a, 5, '0') || CASE WHEN m.b <> '' THEN '-' || m.b ELSE '' END END",
    # The value after its scheme (NULL when the value is not a usable URL), and the scheme.
    "CREATE OR REPLACE TEMP MACRO crm_url_after(v) AS CASE WHEN "
    f"regexp_full_match(v, {sql_str(_URL_RE)}) THEN CASE WHEN "
    f"regexp_matches(v, {sql_str(_SCHEME_RE)}) THEN substr(v, strpos(v, '://') + 3) ELSE v END END",
    "CREATE OR REPLACE TEMP MACRO crm_url_scheme(v, a) AS CASE WHEN a IS NULL THEN NULL "
    "WHEN strlen(a) = strlen(v) THEN 'https' ELSE lower(left(v, strpos(v, '://') - 1)) END",
    # host[:port] of the part after the scheme.
    "CREATE OR REPLACE TEMP MACRO crm_url_hostport(a) AS regexp_extract(a, '^[^/?#]*')",
    "CREATE OR REPLACE TEMP MACRO crm_url_format(scheme, a, hp) AS scheme || '://' || lower(hp) "
    "|| CASE WHEN strlen(a) = strlen(hp) + 1 AND ends_with(a, '/') THEN '' "
    "ELSE substr(a, length(hp) + 1) END",
    # Host without port, lower-cased; then without a leading `www.` (kept when nothing dotted
    # would remain).
    "CREATE OR REPLACE TEMP MACRO crm_url_host(hp) AS split_part(lower(hp), ':', 1)",
    "CREATE OR REPLACE TEMP MACRO crm_domain_of_host(h) AS CASE WHEN starts_with(h, 'www.') "
    "AND contains(substr(h, 5), '.') THEN substr(h, 5) ELSE h END",
)

STATE_PLAN = Plan(levels=((("c", "crm_state_v({v})"),),), value="c", code="invalid_state")

POSTAL_CODE_PLAN = Plan(
    levels=((("m", "crm_zip_parts({v})"),), (("c", "crm_zip_format({m})"),)),
    value="c",
    code="invalid_postal_code",
)

URL_PLAN = Plan(
    levels=(
        (("a", "crm_url_after({v})"),),
        (("scheme", "crm_url_scheme({v}, {a})"), ("hp", "crm_url_hostport({a})")),
        (("c", "crm_url_format({scheme}, {a}, {hp})"), ("h", "crm_url_host({hp})")),
        (("domain", "crm_domain_of_host({h})"),),
    ),
    value="c",
    companions=(("_domain", "domain"),),
    code="invalid_url",
)

PUBLIC_MACROS: tuple[str, ...] = (
    public_macro("crm_state", STATE_PLAN),
    public_macro("crm_postal_code", POSTAL_CODE_PLAN),
    public_macro("crm_url", URL_PLAN),
    public_macro("crm_url_domain", URL_PLAN, "{domain}"),
)
