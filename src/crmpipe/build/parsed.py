"""Values a source gives in one field, parsed after cleaning: addresses into their parts, and
person names into people (several in one field become several contact rows).

Both run on one source's staged rows of one table, only where the source maps the one-field
value and not its parts, and parse each distinct value once (crmpipe.clean.addresses,
crmpipe.clean.people).
"""

from __future__ import annotations

import duckdb

from crmpipe.clean.addresses import address_lookup
from crmpipe.clean.people import people_lookup
from crmpipe.config.schema import Mapping
from crmpipe.model import Table
from crmpipe.sqltext import quote_ident, sql_str

#: Parts of an address the parser fills when the source gives the address in one field;
#: city, state and ZIP only where the row has none.
ADDRESS_PARTS = ("number", "street", "unit")
PLACE_PARTS = ("city", "state", "postal_code")


def _mapped(mapping: Mapping) -> set[str]:
    return set(mapping.columns) | set(mapping.constants)


def parse_addresses(
    con: duckdb.DuckDBPyConnection, tbl: Table, source: str, mapping: Mapping
) -> int:
    """Fill the parts of `address` in staging.<table> for `source`'s rows; return rows filled.

    Number, street and unit are filled where the table has them and the source doesn't map
    them; city, state and ZIP only where the row has none (a one-field address carries them).
    """
    columns = set(tbl.column_names)
    mapped = _mapped(mapping)
    if "address" not in mapped:
        return 0
    parts = [c for c in ADDRESS_PARTS if c in columns and c not in mapped]
    places = [c for c in PLACE_PARTS if c in columns]
    if not parts and not places:
        return 0
    target = f"staging.{quote_ident(tbl.name)}"
    where = f"_source = {sql_str(source)}"
    address_lookup(con, f"SELECT address AS raw FROM {target} WHERE {where}", "_parsed_addresses")
    sets = [f"{quote_ident(c)} = p.{c}" for c in parts]
    sets += [f"{quote_ident(c)} = coalesce(t.{quote_ident(c)}, p.{c})" for c in places]
    (changed,) = con.execute(
        f"UPDATE {target} t SET {', '.join(sets)} FROM _parsed_addresses p "
        f"WHERE p.raw = t.address AND t.{where}"
    ).fetchone()
    con.execute("DROP TABLE _parsed_addresses")
    return int(changed)


def split_people(con: duckdb.DuckDBPyConnection, tbl: Table, source: str, mapping: Mapping) -> int:
    """Split `full_name` of `source`'s staged rows into people; return the rows added.

    Only where the source maps `full_name` and neither first nor last name. The first person
    keeps the row (and its key); each further one is a new row keyed `<key>#<n>`. A value that
    names no person (a company) is left as it is.
    """
    columns = set(tbl.column_names)
    mapped = _mapped(mapping)
    if not {"full_name", "first_name", "last_name"} <= columns or "full_name" not in mapped:
        return 0
    if mapped & {"first_name", "last_name"} or len(tbl.key) != 1:
        return 0
    key = quote_ident(tbl.key[0])
    target = f"staging.{quote_ident(tbl.name)}"
    where = f"_source = {sql_str(source)}"
    people_lookup(con, f"SELECT full_name AS raw FROM {target} WHERE {where}", "_people")
    (added,) = con.execute(
        f"INSERT INTO {target} SELECT t.* REPLACE (t.{key} || '#' || p.ordinal AS {key}, "
        "p.first_name AS first_name, p.last_name AS last_name, p.full_name AS full_name) "
        f"FROM {target} t JOIN _people p ON p.raw = t.full_name "
        f"WHERE t.{where} AND p.ordinal > 1"
    ).fetchone()
    con.execute(
        f"UPDATE {target} t SET first_name = p.first_name, last_name = p.last_name, "
        "full_name = p.full_name FROM _people p "
        f"WHERE p.raw = t.full_name AND p.ordinal = 1 AND t.{where}"
    )
    con.execute("DROP TABLE _people")
    return int(added)
