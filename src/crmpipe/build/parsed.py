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


def _update(
    con: duckdb.DuckDBPyConnection, target: str, matched_sql: str, sets: dict[str, str]
) -> int:
    """What `UPDATE target t SET <col> = <expr> FROM … WHERE …` does, as a rewrite of the
    table's tail: an UPDATE of a few hundred thousand rows took 140–240 s here (DuckDB 2.0, a
    staging table with a list column). The rows from the first changed one on (a source's
    rows, just appended) are rewritten in order, deleted and appended again: the rows before
    stay untouched (a rebuild of the whole table, once per source, copied and sorted every
    earlier source's rows again: ~3M rows for 1M staged entities).

    `matched_sql` selects `t.rowid AS _rid` and the values `sets`' expressions read as `u.…`
    (over the target as `t`), one row per target row to change; returns the rows changed.
    Columns keep their types; rows keep their order.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _crm_matched AS {matched_sql}")
    changed, first = con.execute("SELECT count(*), min(_rid) FROM _crm_matched").fetchone()
    if changed:
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {target}").fetchall()}
        replace = ", ".join(
            f"CAST(CASE WHEN u._rid IS NULL THEN t.{quote_ident(c)} ELSE {expr} END "
            f"AS {types[c]}) AS {quote_ident(c)}"
            for c, expr in sets.items()
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _crm_tail AS SELECT t.* REPLACE ({replace}) "
            f"FROM {target} t LEFT JOIN _crm_matched u ON u._rid = t.rowid "
            f"WHERE t.rowid >= {int(first)} ORDER BY t.rowid"
        )
        con.execute(f"DELETE FROM {target} WHERE rowid >= {int(first)}")
        con.execute(f"INSERT INTO {target} SELECT * FROM _crm_tail")
        con.execute("DROP TABLE _crm_tail")
    con.execute("DROP TABLE _crm_matched")
    return int(changed)


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
    where = f"t._source = {sql_str(source)}"
    if not parts:  # only places to fill: rows that have them all need no parse
        where += " AND (" + " OR ".join(f"t.{quote_ident(c)} IS NULL" for c in places) + ")"
    address_lookup(
        con,
        f"SELECT t.address AS raw FROM {target} t WHERE {where}",
        "_parsed_addresses",
        temp=True,
    )
    sets = {c: f"u.{c}" for c in parts}
    sets |= {c: f"coalesce(t.{quote_ident(c)}, u.{c})" for c in places}
    # only the rows a value changes in are rewritten (a list whose rows all carry their city,
    # state and ZIP keeps them: ~800k of the 1.1M staged facilities at 1M rows)
    changes = [f"p.{c} IS DISTINCT FROM t.{quote_ident(c)}" for c in parts] + [
        f"(t.{quote_ident(c)} IS NULL AND p.{c} IS NOT NULL)" for c in places
    ]
    changed = _update(
        con,
        target,
        f"SELECT t.rowid AS _rid, p.* FROM {target} t JOIN _parsed_addresses p "
        f"ON p.raw = t.address WHERE {where} AND ({' OR '.join(changes)})",
        sets,
    )
    con.execute("DROP TABLE _parsed_addresses")
    return int(changed)


def split_people(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    source: str,
    mapping: Mapping,
    rows_sql: str,
    header: str,
) -> int:
    """Split the full names of `source`'s staged rows into people; return the rows added.

    Only where the source maps `full_name` and neither first nor last name. The names are
    split from the source's own text (`header` of the rows `rows_sql` feeds, joined back by
    lineage), not the cleaned value: cleaning joins lines, and a role on a line of its own
    (`Kathryn Bennett\n \n Director`) would read as a last name. The first person keeps the
    row (and its key); each further one is a new row keyed `<key>#<n>`. A value that names no
    person (a company) is left as it is.
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
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _people_raw AS SELECT _file_hash, _row, "
        f"{quote_ident(header)} AS raw FROM ({rows_sql}) WHERE {quote_ident(header)} IS NOT NULL"
    )
    people_lookup(con, "SELECT raw FROM _people_raw", "_people", temp=True)
    matched = (
        f"FROM {target} t JOIN _people_raw r ON r._file_hash = t._file_hash AND r._row = t._row "
        f"JOIN _people p ON p.raw = r.raw WHERE t.{where}"
    )
    _update(
        con,
        target,
        f"SELECT t.rowid AS _rid, p.* {matched} AND p.ordinal = 1",
        {c: f"u.{c}" for c in ("first_name", "last_name", "full_name")},
    )
    (added,) = con.execute(
        f"INSERT INTO {target} SELECT t.* REPLACE (t.{key} || '#' || p.ordinal AS {key}, "
        "p.first_name AS first_name, p.last_name AS last_name, p.full_name AS full_name) "
        f"{matched} AND p.ordinal > 1"
    ).fetchone()
    con.execute("DROP TABLE _people")
    con.execute("DROP TABLE _people_raw")
    return int(added)
