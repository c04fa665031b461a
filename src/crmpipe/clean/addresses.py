"""US addresses in one field (`150 N. WILLOW ST MESQUITE, NV 89027`) → number, street, unit,
city, state and ZIP, tagged by `usaddress` and USPS-normalised by `usaddress-scourgify`.

Both libraries are pure Python over a CRF model (~5,500 values/s here), so they only ever see
the *distinct* values of a column (`address_lookup`); the cleaning SQL joins the result.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import usaddress
from scourgify.cleaning import post_clean_addr_str, pre_clean_addr_str
from scourgify.normalize import (
    normalize_directionals,
    normalize_numbered_streets,
    normalize_occupancy_type,
    normalize_state,
    normalize_street_types,
)

from crmpipe.clean.nulls import NULL_TOKENS
from crmpipe.sqltext import quote_qualified

__all__ = ["ParsedAddress", "address_lookup", "parse_address"]

#: Longer text is not one address (and the CRF's time grows with it).
MAX_ADDRESS_LEN = 300
#: "No value" beyond the cleaners' null tokens.
_EMPTY_TOKENS = NULL_TOKENS | {"unknown", "tbd", "?", "0", "none given", "no address"}

_NUMBER_LABELS = ("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix")
_STREET_LABELS = (
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
    "StreetNamePostModifier",
)
#: What scourgify puts on line 1: the number, the street, and intersections, buildings.
_LINE1_LABELS = (
    *_NUMBER_LABELS,
    *_STREET_LABELS,
    "IntersectionSeparator",
    "SecondStreetNamePreDirectional",
    "SecondStreetNamePreModifier",
    "SecondStreetNamePreType",
    "SecondStreetName",
    "SecondStreetNamePostType",
    "SecondStreetNamePostDirectional",
    "LandmarkName",
    "CornerOf",
    "BuildingName",
)
_BOX_LABELS = ("USPSBoxType", "USPSBoxID")
_UNIT_LABELS = ("OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier")
_BOX_TYPE_RE = re.compile(r"^P\s*O\s*BOX$|^POST\s+OFFICE\s+BOX$|^POB$|^BOX$")
_ZIP_RE = re.compile(r"^([0-9]{5})(?:-?[0-9]{4})?$")


@dataclass(frozen=True)
class ParsedAddress:
    """One address in parts, upper-case and USPS-abbreviated (`N`, `ST`, `STE`).

    `ok` is True when a street line (number and street, or a PO box) was found without
    ambiguity; `problem` says why not, or notes that the line was tagged but not normalised.
    Parts are filled as far as the text allowed, ok or not.
    """

    line1: str | None
    number: str | None
    street: str | None
    unit: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    ok: bool
    problem: str | None = None


def _failed(problem: str) -> ParsedAddress:
    return ParsedAddress(None, None, None, None, None, None, None, False, problem)


def _first_runs(tokens: Iterable[tuple[str, str]]) -> tuple[OrderedDict[str, str], list[str]]:
    """Tags from usaddress's token list, keeping the first run of each label (what
    `usaddress.tag` would give if it did not refuse a label seen twice), and the labels whose
    later runs were dropped."""
    tags: OrderedDict[str, str] = OrderedDict()
    closed: set[str] = set()
    dropped: list[str] = []
    previous = None
    for token, label in tokens:
        if label != previous and previous is not None:
            closed.add(previous)
        previous = label
        if label in closed:
            if label not in dropped:
                dropped.append(label)
            continue
        tags[label] = f"{tags[label]} {token}" if label in tags else token
    return tags, dropped


def _segment(tags: OrderedDict[str, str], labels: tuple[str, ...]) -> str | None:
    """The tagged values of `labels`, in text order, cleaned of stray punctuation."""
    parts = [value for label, value in tags.items() if label in labels]
    text = post_clean_addr_str(" ".join(parts)) if parts else None
    return (" ".join(text.split()) or None) if text else None


def _tag(text: str) -> tuple[OrderedDict[str, str], str | None]:
    """usaddress's tags of `text`, and a problem when labels had to be dropped."""
    try:
        tags, _kind = usaddress.tag(text)
        return OrderedDict(tags), None
    except usaddress.RepeatedLabelError as err:
        tags, dropped = _first_runs(err.parsed_string)
        return tags, "repeated " + ", ".join(dropped or ["label"])


def _normalise(tags: OrderedDict[str, str]) -> tuple[OrderedDict[str, str], str | None]:
    """scourgify's USPS abbreviations (directionals, street and unit types, ordinals), the
    steps of its `normalize_address_record` on tags we already have (one tagging per value)."""
    try:
        norm = OrderedDict(tags)
        # `FM 3455 RD`, `COUNTY ROAD 12`: a numbered road after a pre-type takes no ordinal.
        if "StreetNamePreType" not in norm:
            norm = normalize_numbered_streets(norm)
        norm = normalize_directionals(norm)
        norm = normalize_street_types(norm)
        return normalize_occupancy_type(norm), None
    except Exception as err:  # AddressNormalizationError and anything odd: keep the tags
        message = str(getattr(err, "error", "") or "")
        if "occupancy" in message.lower():
            return tags, "not normalised: unit type without a number"
        return tags, f"not normalised: {type(err).__name__}"


def _box(tags: OrderedDict[str, str]) -> str | None:
    box_type = _segment(tags, ("USPSBoxType",))
    box_id = _segment(tags, ("USPSBoxID",))
    if not box_id:
        return None
    if box_type is None or _BOX_TYPE_RE.match(box_type):
        box_type = "PO BOX"
    return f"{box_type} {box_id}"


def parse_address(text: str | None) -> ParsedAddress | None:
    """The parts of one US address written in one field; None when there is no value.

    Never raises: text usaddress cannot tag without repeating a label keeps the first run of
    each label (`problem` = `repeated <label>`); tags scourgify cannot normalise are kept as
    tagged (`not normalised: ...`); text with no address in it gives `ok=False`.
    A street line alone (`1234 N MAIN ST`, `STE 5`) parses too, without city, state or ZIP.
    """
    if text is None:
        return None
    squashed = " ".join(str(text).split())
    if squashed.lower().strip(" .") in _EMPTY_TOKENS or not any(c.isalnum() for c in squashed):
        return None
    if len(squashed) > MAX_ADDRESS_LEN:
        return _failed("too long for an address")
    try:
        cleaned = pre_clean_addr_str(squashed)
        raw_tags, problem = _tag(cleaned)
    except Exception as err:  # never let one odd value stop a run
        return _failed(f"unparseable: {type(err).__name__}")
    tags, norm_problem = _normalise(raw_tags)
    number = _segment(tags, _NUMBER_LABELS)
    street = _segment(tags, _STREET_LABELS)
    box = _box(tags)
    unit = _segment(tags, _UNIT_LABELS)
    line1 = _segment(tags, _LINE1_LABELS) or box
    city = _segment(tags, ("PlaceName",))
    state = _segment(tags, ("StateName",))
    state = normalize_state(state) if state else None
    if state is not None and not (len(state) == 2 and state.isalpha()):
        problem = problem or f"unknown state {state}"
        state = None
    zip_text = _segment(tags, ("ZipCode",))
    zip_match = _ZIP_RE.match(zip_text.replace(" ", "")) if zip_text else None
    postal_code = zip_match.group(1) if zip_match else None
    if zip_text and not zip_match:
        problem = problem or f"bad ZIP {zip_text}"
    # A second address line (`STE 5`) alone is a part of an address too.
    typed_unit = "OccupancyType" in raw_tags or "SubaddressType" in raw_tags or "#" in cleaned
    unit_only = bool(unit) and typed_unit and not (line1 or city or state or zip_text)
    has_line = bool((number and street) or box or unit_only)
    if not has_line and not problem:
        problem = "no street line" if (line1 or unit or city or postal_code) else "not an address"
    ok = has_line and not (problem or "").startswith("repeated")
    if ok and problem is None:
        problem = norm_problem
    return ParsedAddress(line1, number, street, unit, city, state, postal_code, ok, problem)


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line1", "VARCHAR"),
    ("number", "VARCHAR"),
    ("street", "VARCHAR"),
    ("unit", "VARCHAR"),
    ("city", "VARCHAR"),
    ("state", "VARCHAR"),
    ("postal_code", "VARCHAR"),
)


#: The cache of parsed values on a connection (a temp table: one run's connection parses a
#: value once, whichever feed — entities, addresses — gives it).
CACHE_TABLE = "_crm_address_cache"
_PARTS_SQL = ", ".join(f"{name} {sql_type}" for name, sql_type in _COLUMNS)


def _library_rows(values: list[str]) -> list[tuple[Any, ...]]:
    """`raw, parts..., parsed, problem` of each value, by `parse_address` (the library path)."""
    out = []
    for raw in values:
        address = parse_address(raw)
        parts = tuple(getattr(address, name) if address else None for name, _ in _COLUMNS)
        out.append((raw, *parts, address.ok if address else False,
                    address.problem if address else "empty"))  # fmt: skip
    return out


def _insert_rows(con: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Append `rows` (as `_library_rows` gives them) to `table` in one statement."""
    if not rows:
        return
    names = (("raw", "VARCHAR"), *_COLUMNS, ("parsed", "BOOLEAN"), ("problem", "VARCHAR"))
    columns = ", ".join(
        f"unnest(${i}::{sql_type}[]) AS {name}" for i, (name, sql_type) in enumerate(names, 1)
    )
    # Lists as parameters: no pandas or pyarrow import, and one statement for the whole table.
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT {columns}",
        [[r[i] for r in rows] for i in range(len(names))],
    )


def address_lookup(con: Any, values_sql: str, out_table: str, *, temp: bool = False) -> int:
    """Parse each distinct address of `values_sql` once into table `out_table`; its row count.

    `values_sql` yields one VARCHAR column of raw addresses (any name); NULLs are skipped and
    duplicates parsed once. `out_table` (`name` or `schema.name`, replaced if it exists) has
    `raw, line1, number, street, unit, city, state, postal_code, parsed BOOLEAN, problem`,
    one row per distinct non-NULL value, `raw` exactly as the query yielded it and `parsed`
    the `ok` of `parse_address` (False, with `problem` `empty`, for blank or `N/A` text).

    Values of the common unambiguous shapes (`<number> [<dir>] <name> <suffix>[ <unit>]
    [ <city>, <ST> <zip>]`) are parsed in SQL (crmpipe.clean.address_fast, proven equal to the
    library on the real and generated values by tests/test_address_fast.py); the rest by
    `parse_address` (~5,600 distinct values/s), over several processes when there are many.
    Parsed values are cached on the connection, so a second feed of the same values is free.
    `temp`: `out_table` (unqualified) is a temporary table, never written to the database.
    """
    from crmpipe.clean.address_fast import fast_path_sql
    from crmpipe.clean.parallel import parallel_map

    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {CACHE_TABLE} (raw VARCHAR, {_PARTS_SQL}, "
        "parsed BOOLEAN, problem VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _crm_address_values AS SELECT DISTINCT crm_src_.raw "
        f"FROM ({values_sql}) AS crm_src_(raw) WHERE crm_src_.raw IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _crm_address_todo AS SELECT raw FROM _crm_address_values "
        f"ANTI JOIN {CACHE_TABLE} USING (raw)"
    )
    con.execute(f"INSERT INTO {CACHE_TABLE} BY NAME {fast_path_sql('_crm_address_todo')}")
    rest = con.execute(
        f"SELECT raw FROM _crm_address_todo ANTI JOIN {CACHE_TABLE} USING (raw)"
    ).fetchall()
    for chunk in parallel_map(_library_rows, [r[0] for r in rest]):
        _insert_rows(con, CACHE_TABLE, chunk)
    (n,) = con.execute(
        f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {quote_qualified(out_table)} AS "
        "SELECT c.* FROM "
        f"{CACHE_TABLE} c SEMI JOIN _crm_address_values v USING (raw)"
    ).fetchone()
    con.execute("DROP TABLE _crm_address_values")
    con.execute("DROP TABLE _crm_address_todo")
    return int(n)
