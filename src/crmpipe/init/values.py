"""What sampled values look like, for `crmpipe init`: e-mail addresses, phones, states, ZIPs,
URLs, dates, numbers; and the extension type a column's values call for.

E-mail, phone and state tests are the cleaners' own rules (crmpipe.clean), so a column is
guessed to be what cleaning will accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from crmpipe.clean.emails import EMAIL_RE
from crmpipe.clean.nulls import NULL_TOKENS as CLEAN_NULL_TOKENS
from crmpipe.clean.phones import north_american_e164
from crmpipe.clean.places import STATES
from crmpipe.init.synonyms import CODE_WORDS, normalize
from crmpipe.model import Role

#: Sample values that mean "no value": the cleaners' null tokens and a few more a guess may as
#: well skip.
NULL_TOKENS = CLEAN_NULL_TOKENS | {"nil", "#n/a", "?"}

#: State codes and full names (lower case), from the one state table.
_STATE_CODES = frozenset(STATES)
_STATE_NAMES = frozenset(spellings[0].lower() for spellings in STATES.values())
#: An address anywhere in a (lower-cased) value, by the email cleaner's syntax.
_EMAIL = re.compile(EMAIL_RE)
_ZIP = re.compile(r"^\d{3,5}(-?\d{4})?$")  # 3-4 digits: a ZIP whose leading zeros were lost
_URL = re.compile(
    r"^(https?://)?(www\.)?[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}(:\d+)?([/?#]\S*)?$", re.I
)
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(
    r"""^(
        \d{4}-\d{1,2}-\d{1,2}
      | \d{4}/\d{1,2}/\d{1,2}
      | \d{1,2}/\d{1,2}/(\d{2}|\d{4})
      | \d{1,2}\.\d{1,2}\.\d{4}
      | [A-Za-z]{3,9}\.?\s\d{1,2},?\s\d{4}
    )$""",
    re.X,
)
_TIMESTAMP = re.compile(
    r"""^(\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/(\d{2}|\d{4}))
        [T\s]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s?([AaPp][Mm])?(Z|[+-]\d{2}:?\d{2})?$""",
    re.X,
)
_BOOLEANS = frozenset({"true", "false", "yes", "no", "y", "n", "t", "f"})


def is_email(v: str) -> bool:
    """Holds an address the email cleaner accepts (and is not a URL with a user in it)."""
    low = v.lower()
    return bool(_EMAIL.search(low)) and not low.startswith(("http://", "https://"))


def is_phone(v: str) -> bool:
    """A North American number, as the phone cleaner's fast path reads it."""
    return north_american_e164(v) is not None


def is_state(v: str) -> bool:
    return v.upper() in _STATE_CODES or v.lower() in _STATE_NAMES


def is_zip(v: str) -> bool:
    return bool(_ZIP.match(v))


def is_url(v: str) -> bool:
    return "@" not in v and bool(_URL.match(v)) and not _FLOAT.match(v)


def is_date(v: str) -> bool:
    return bool(_DATE.match(v) or _TIMESTAMP.match(v))


def _in_range(lo: float, hi: float) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        return bool(_FLOAT.match(v)) and lo <= float(v) <= hi

    return check


#: The value test for each role that has one (a header's claim is checked against it).
ROLE_CHECKS: dict[Role, Callable[[str], bool]] = {
    Role.EMAIL_LIST: is_email,
    Role.PHONE: is_phone,
    Role.STATE: is_state,
    Role.POSTAL_CODE: is_zip,
    Role.URL: is_url,
    Role.LAT: _in_range(-90, 90),
    Role.LONG: _in_range(-180, 180),
    Role.DATE: is_date,
    Role.TIMESTAMP: is_date,
}

#: Columns that may be guessed from values alone: (check, share of values needed, score, what).
VALUE_GUESSES: dict[str, tuple[Callable[[str], bool], float, float, str]] = {
    "emails": (is_email, 0.7, 0.8, "e-mail addresses"),
    "email": (is_email, 0.7, 0.8, "e-mail addresses"),
    "phone": (is_phone, 0.8, 0.7, "phone numbers"),
    "url": (is_url, 0.8, 0.65, "URLs"),
    "state": (lambda v: v.upper() in _STATE_CODES, 0.9, 0.6, "US state codes"),
    "postal_code": (lambda v: bool(re.match(r"^\d{5}$", v)), 0.95, 0.55, "5-digit ZIP codes"),
    "created_at": (is_date, 0.9, 0.45, "dates"),
}


def sample_values(records: list[list[str]], index: int) -> list[str]:
    """The non-null sample values of one column, whitespace-trimmed."""
    out = []
    for rec in records:
        v = rec[index].strip() if index < len(rec) else ""
        if v.lower() not in NULL_TOKENS:
            out.append(v)
    return out


def share_of(values: list[str], check: Callable[[str], bool]) -> float:
    return sum(1 for v in values if check(v)) / len(values) if values else 0.0


def guess_type(header: str, values: list[str]) -> tuple[str, str]:
    """Extension type for a column, from its sampled values, and why (for the notes)."""
    if not values:
        return "text", "no values in the sample"
    words = set(normalize(header).split("_"))
    lower = {v.lower() for v in values}
    if lower <= _BOOLEANS:
        return "boolean", "only yes/no values"
    for kind, check, what in (
        ("email_list", is_email, "e-mail addresses"),
        ("phone", is_phone, "phone numbers"),
    ):
        if share_of(values, check) >= 0.9:
            return kind, f"values are {what}"
    if all(_INT.match(v) for v in values):
        if words & CODE_WORDS or normalize(header).endswith("id"):
            return "text", "whole numbers, but the name says it is a code or id"
        if any(re.match(r"^[-+]?0\d", v) for v in values):
            return "text", "whole numbers with leading zeros (a code)"
        if any(len(v.lstrip("+-")) > 18 for v in values):
            return "text", "numbers too long for bigint"
        return "bigint", "all sampled values are whole numbers"
    if all(_FLOAT.match(v) for v in values):
        return "double", "all sampled values are numbers"
    if all(_TIMESTAMP.match(v) or _DATE.match(v) for v in values):
        if any(_TIMESTAMP.match(v) for v in values):
            return "timestamp", "all sampled values are dates with times"
        return "date", "all sampled values are dates"
    if (
        share_of(values, is_url) >= 0.9
        and share_of(values, lambda v: "://" in v or "www." in v) > 0.5
    ):
        return "url", "values are URLs"
    return "text", "text values"
