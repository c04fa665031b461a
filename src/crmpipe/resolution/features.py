"""Comparison features derived from the canonical model's roles.

Each compared column becomes normalized columns of the matching input (lower-cased, accents
stripped, a first name's usual given name for nicknames, an email's first address and local part,
a phone with its extension), computed once in SQL so Splink's comparisons stay plain.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmpipe.config.schema import ResolveSpec
from crmpipe.model import Role, Table
from crmpipe.sqltext import quote_ident

#: The comparison kind each role implies (`off`: not compared).
ROLE_KINDS: dict[Role, str] = {
    Role.PERSON_NAME: "name",
    Role.EMAIL_LIST: "email",
    Role.PHONE: "phone",
    Role.REF: "exact",
    Role.TEXT: "text",
    Role.STATE: "exact",
    Role.CATEGORY: "exact",
    Role.POSTAL_CODE: "exact",
    Role.URL: "exact",
    Role.DATE: "date",
    Role.TIMESTAMP: "date",
}

#: Usual nicknames → given name (a name compared through this too: Bob ~ Robert).
NICKNAMES: dict[str, str] = {
    "bob": "robert",
    "rob": "robert",
    "bobby": "robert",
    "robbie": "robert",
    "bill": "william",
    "will": "william",
    "billy": "william",
    "jim": "james",
    "jimmy": "james",
    "mike": "michael",
    "rick": "richard",
    "rich": "richard",
    "dick": "richard",
    "tom": "thomas",
    "joe": "joseph",
    "chuck": "charles",
    "charlie": "charles",
    "dan": "daniel",
    "danny": "daniel",
    "dave": "david",
    "chris": "christopher",
    "matt": "matthew",
    "tony": "anthony",
    "steve": "steven",
    "ken": "kenneth",
    "ed": "edward",
    "eddie": "edward",
    "greg": "gregory",
    "tim": "timothy",
    "jen": "jennifer",
    "jenny": "jennifer",
    "liz": "elizabeth",
    "beth": "elizabeth",
    "betsy": "elizabeth",
    "kathy": "katherine",
    "kate": "katherine",
    "peggy": "margaret",
    "maggie": "margaret",
    "pat": "patricia",
    "trish": "patricia",
    "sue": "susan",
    "debbie": "deborah",
    "deb": "deborah",
    "becky": "rebecca",
    "kim": "kimberly",
    "sam": "samantha",
    "andy": "andrew",
    "alex": "alexander",
    "ben": "benjamin",
    "nick": "nicholas",
    "jon": "jonathan",
    "larry": "lawrence",
    "jerry": "gerald",
    "ron": "ronald",
    "don": "donald",
}


@dataclass(frozen=True)
class Feature:
    """One compared column: its kind and the normalized input column(s) it reads."""

    column: str  # canonical column
    kind: str  # name, email, phone, exact, text, date

    @property
    def name(self) -> str:
        return self.column


def _nickname_map() -> str:
    items = ", ".join(f"'{k}': '{v}'" for k, v in sorted(NICKNAMES.items()))
    return f"MAP {{{items}}}"


def derive_features(tbl: Table, spec: ResolveSpec) -> list[Feature]:
    """The compared columns of `tbl`: by role, unless `spec.comparisons` says otherwise.

    `full_name` is left out when first and last names are compared (it repeats them).
    """
    names = {c.name for c in tbl.all_columns}
    out: list[Feature] = []
    for col in tbl.all_columns:
        if col.name in tbl.key:
            continue
        kind = spec.comparisons.get(col.name) or ROLE_KINDS.get(col.role, "off")
        derived = col.name == "full_name" and {"first_name", "last_name"} <= names
        if derived and col.name not in spec.comparisons:
            kind = "off"
        if kind != "off":
            out.append(Feature(col.name, kind))
    return out


def feature_columns(tbl: Table, features: list[Feature]) -> list[tuple[str, str]]:
    """(name, SQL expression over the records table) of every matching input column."""
    cols: list[tuple[str, str]] = []
    for f in features:
        c = quote_ident(f.column)
        role = tbl.column(f.column).role
        if f.kind == "name":
            norm = f"nullif(lower(strip_accents(trim(CAST({c} AS VARCHAR)))), '')"
            cols.append((f.column, norm))
            cols.append((f"{f.column}_canon", f"coalesce({_nickname_map()}[{norm}], {norm})"))
        elif f.kind == "email":
            if role is Role.EMAIL_LIST:
                lst = f"list_filter({c}, lambda e: e IS NOT NULL)"
            else:
                lst = f"[lower(trim(CAST({c} AS VARCHAR)))]"
            cols.append((f.column, f"CASE WHEN len({lst}) > 0 THEN {lst} END"))
            cols.append((f"{f.column}_key", f"{lst}[1]"))
            cols.append((f"{f.column}_local", f"split_part({lst}[1], '@', 1)"))
        elif f.kind == "phone":
            ext = quote_ident(f"{f.column}_ext") if role is Role.PHONE else "NULL"
            cols.append((f.column, f"CAST({c} AS VARCHAR)"))
            cols.append((f"{f.column}_key", f"{c} || coalesce('x' || {ext}, '')"))
        elif f.kind == "date":
            cols.append((f.column, f"TRY_CAST({c} AS DATE)"))
        elif f.kind == "text":
            cols.append((f.column, f"nullif(lower(trim(CAST({c} AS VARCHAR))), '')"))
        else:  # exact
            src = quote_ident(f"{f.column}_domain") if role is Role.URL else c
            cols.append((f.column, f"nullif(lower(trim(CAST({src} AS VARCHAR))), '')"))
    return cols


def email_columns(features: list[Feature]) -> list[str]:
    """The email-list columns compared (their `<column>_key` is the normalised first address)."""
    return [f.column for f in features if f.kind == "email"]
