"""Values a source gives in one field, parsed while cleaning: addresses into their parts, and
person names into people (several in one field become several contact rows).

Both run on one source's cleaned rows of one table, only where the source maps the one-field
value and not its parts, and parse each distinct value once (crmpipe.clean.addresses,
crmpipe.clean.people). The parts are joined into the insert of the cleaned rows
(crmpipe.clean.relation.Fill): each staged row is written once (rewriting a source's staged
rows after the insert was ~4 s of a 1M-row run).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from crmpipe.clean.addresses import address_lookup
from crmpipe.clean.people import people_lookup
from crmpipe.clean.relation import Fill
from crmpipe.config.schema import Mapping
from crmpipe.model import Table
from crmpipe.sqltext import quote_ident, sql_str

#: Parts of an address the parser fills when the source gives the address in one field;
#: city, state and ZIP only where the row has none.
ADDRESS_PARTS = ("number", "street", "unit")
PLACE_PARTS = ("city", "state", "postal_code")


def _mapped(mapping: Mapping) -> set[str]:
    return set(mapping.columns) | set(mapping.constants)


def address_fill(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    mapping: Mapping,
    stage: str,
    cleaned: Callable[[str], str],
) -> Fill | None:
    """The parts of `address` for one source's cleaned rows (`stage`), as a `Fill` of its
    insert; None when the source maps no one-field address or the table has no parts to fill.

    Number, street and unit are filled where the table has them and the source doesn't map
    them; city, state and ZIP only where the row has none (a one-field address carries them).
    The parsed values are in temp table `_parsed_addresses` until `drop_fills`.
    """
    columns = set(tbl.column_names)
    mapped = _mapped(mapping)
    if "address" not in mapped:
        return None
    parts = [c for c in ADDRESS_PARTS if c in columns and c not in mapped]
    places = [c for c in PLACE_PARTS if c in columns]
    if not parts and not places:
        return None
    address = cleaned("address")
    where = f"{address} IS NOT NULL"
    if not parts:  # only places to fill: rows that have them all need no parse
        where += " AND (" + " OR ".join(f"{cleaned(c)} IS NULL" for c in places) + ")"
    address_lookup(
        con,
        f"SELECT {address} AS raw FROM {stage} s WHERE {where}",
        "_parsed_addresses",
        temp=True,
    )
    values = {c: f"crm_pa_.{c}" for c in parts}
    values |= {c: f"coalesce({cleaned(c)}, crm_pa_.{c})" for c in places}
    return Fill([f"LEFT JOIN _parsed_addresses AS crm_pa_ ON crm_pa_.raw = {address}"], values)


def _splits_people(tbl: Table, mapping: Mapping) -> bool:
    """Whether the source's full names are split into people (it maps `full_name` and neither
    first nor last name, and the table has all three and a one-column key)."""
    columns = set(tbl.column_names)
    mapped = _mapped(mapping)
    if not {"full_name", "first_name", "last_name"} <= columns or "full_name" not in mapped:
        return False
    return not mapped & {"first_name", "last_name"} and len(tbl.key) == 1


def people_fill(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    mapping: Mapping,
    rows_sql: str,
    header: str,
    cleaned: Callable[[str], str],
) -> Fill | None:
    """The first person of each full name of one source's rows, as a `Fill` of its insert
    (first, last and full name); None unless the source's full names are split.

    The names are split from the source's own text (`header` of the rows `rows_sql` feeds,
    joined by lineage), not the cleaned value: cleaning joins lines, and a role on a line of
    its own (`Kathryn Bennett\n \n Director`) would read as a last name. A value that names no
    person (a company) is left as it is. The split values stay in temp tables `_people_raw`
    and `_people` for `add_further_people`, until `drop_fills`.
    """
    if not _splits_people(tbl, mapping):
        return None
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _people_raw AS SELECT _file_hash, _row, "
        f"{quote_ident(header)} AS raw FROM ({rows_sql}) WHERE {quote_ident(header)} IS NOT NULL"
    )
    people_lookup(con, "SELECT raw FROM _people_raw", "_people", temp=True)
    joins = [
        "LEFT JOIN _people_raw AS crm_pr_ ON crm_pr_._file_hash = s._file_hash "
        "AND crm_pr_._row = s._row",
        "LEFT JOIN _people AS crm_pp_ ON crm_pp_.raw = crm_pr_.raw AND crm_pp_.ordinal = 1",
    ]
    values = {
        c: f"CASE WHEN crm_pp_.raw IS NULL THEN {cleaned(c)} ELSE crm_pp_.{c} END"
        for c in ("first_name", "last_name", "full_name")
    }
    return Fill(joins, values)


def add_further_people(
    con: duckdb.DuckDBPyConnection, tbl: Table, source: str, mapping: Mapping
) -> int:
    """After `people_fill`'s insert: a row for each further person of a name field (the first
    keeps the source row and its key; the n-th is keyed `<key>#<n>`); return the rows added."""
    if not _splits_people(tbl, mapping):
        return 0
    key = quote_ident(tbl.key[0])
    target = f"staging.{quote_ident(tbl.name)}"
    (added,) = con.execute(
        f"INSERT INTO {target} SELECT t.* REPLACE (t.{key} || '#' || p.ordinal AS {key}, "
        "p.first_name AS first_name, p.last_name AS last_name, p.full_name AS full_name) "
        f"FROM {target} t JOIN _people_raw r ON r._file_hash = t._file_hash AND r._row = t._row "
        f"JOIN _people p ON p.raw = r.raw WHERE t._source = {sql_str(source)} AND p.ordinal > 1"
    ).fetchone()
    return int(added)


def drop_fills(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp tables `address_fill` and `people_fill` made."""
    for name in ("_parsed_addresses", "_people", "_people_raw"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
