"""Build: staging → `core.<table>` (one row per key) → `search.contact_search`.

Duplicates of a key are resolved by the latest file, then the latest row in it, and counted;
rows without a key go to `quarantine.<table>` with the reason, so nothing is lost. The search
table flattens contacts with their entity, the entity's tech names, the customers that map it
(`crm`) and their CRM ids, plus a lower-cased free-text `document`; `meta.search_fields` records
each searchable column's kind for the query language.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.model import Role, Table, duckdb_ddl, physical_columns
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

#: How each role is searched (see docs/query-language.md).
SEARCH_KINDS: dict[Role, str] = {
    Role.ID: "code",
    Role.REF: "code",
    Role.TEXT: "text",
    Role.PERSON_NAME: "text",
    Role.EMAIL_LIST: "text_list",
    Role.PHONE: "text",
    Role.STATE: "code",
    Role.POSTAL_CODE: "text",
    Role.URL: "text",
    Role.DATE: "date",
    Role.TIMESTAMP: "timestamp",
    Role.INTEGER: "number",
    Role.NUMBER: "number",
    Role.BOOLEAN: "code",
    Role.LAT: "number",
    Role.LONG: "number",
    Role.CATEGORY: "code",
}

#: Entity columns carried into the search table (besides the entity's extension columns).
ENTITY_SEARCH_COLUMNS = (
    "display_name",
    "entity_type",
    "city",
    "state",
    "postal_code",
    "county",
    "lat",
    "long",
)


@dataclass
class CoreResult:
    table: str
    staged: int
    loaded: int
    merged: int  # rows superseded by a later version of the same key
    quarantined: int  # rows without a key


def build_core(con: duckdb.DuckDBPyConnection, tbl: Table, run_id: int) -> CoreResult:
    """core.<table>: the latest version of each key; keyless rows quarantined with a reason."""
    name = quote_ident(tbl.name)
    keys = [quote_ident(k) for k in tbl.key]
    has_key = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    con.execute(
        f"CREATE OR REPLACE TABLE quarantine.{name} AS SELECT *, "
        f"'key_not_null' AS _check, 'missing key: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote_ident(k)} IS NULL THEN '{k}' END" for k in tbl.key)
        + f") AS _reason, {int(run_id)}::BIGINT AS _quarantined_run "
        f"FROM staging.{name} WHERE NOT ({has_key})"
    )
    cols = ", ".join(quote_ident(n) for n, _ in physical_columns(tbl))
    key_list = ", ".join(keys)
    # Duplicated keys are rare: find them with a narrow GROUP BY, rank only their rows, and
    # anti-join the losers by rowid, instead of windowing every (wide) row of the table.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _superseded AS SELECT _rid FROM ("
        f"SELECT s.rowid AS _rid, row_number() OVER (PARTITION BY {key_list} "
        "ORDER BY _file_mtime DESC, _file DESC, _row DESC) AS _rank "
        f"FROM staging.{name} s SEMI JOIN (SELECT {key_list} FROM staging.{name} "
        f"WHERE {has_key} GROUP BY ALL HAVING count(*) > 1) d USING ({key_list})"
        ") WHERE _rank > 1"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE core.{name} AS SELECT {cols}, _source, _file, _row, _run_id, "
        f"_loaded_at FROM staging.{name} s WHERE {has_key} "
        "AND s.rowid NOT IN (SELECT _rid FROM _superseded)"
    )
    con.execute("DROP TABLE _superseded")
    staged = con.execute(f"SELECT count(*) FROM staging.{name}").fetchone()[0]
    loaded = con.execute(f"SELECT count(*) FROM core.{name}").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM quarantine.{name}").fetchone()[0]
    return CoreResult(tbl.name, staged, loaded, staged - loaded - quarantined, quarantined)


def _systems(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT lower(system) FROM core.external_ids WHERE system IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def safe_name(value: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in value.lower()).strip("_") or "crm"


def build_search(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """Create search.contact_search and meta.search_fields; return the row count."""
    tables = cfg.tables()
    contacts, entities = tables["contacts"], tables["entities"]
    for needed in ("entities", "techstacks", "external_ids"):
        if not table_exists(con, "core", needed):  # a project without that source
            con.execute(duckdb_ddl(tables[needed], "core"))
    select: list[str] = []
    fields: list[tuple[str, str, str | None]] = []

    def add(expr: str, name: str, kind: str) -> None:
        select.append(f"{expr} AS {quote_ident(name)}")
        match_column = None
        if kind == "text_list":
            # The elements joined by a separator no value has: a substring test on this text is
            # much faster than on the list and gives the same answers (search.fields).
            match_column = f"_{name}_joined"
            select.append(f"array_to_string({expr}, chr(31)) AS {quote_ident(match_column)}")
        fields.append((name, kind, match_column))

    for col in contacts.all_columns:
        expr = f"c.{quote_ident(col.name)}"
        if col.name == "full_name":
            expr = "coalesce(c.full_name, nullif(concat_ws(' ', c.first_name, c.last_name), ''))"
        elif col.role is Role.BOOLEAN:
            expr = f"CAST({expr} AS VARCHAR)"
        add(expr, col.name, SEARCH_KINDS[col.role])
    taken = {f[0] for f in fields}
    entity_cols = [entities.column(n) for n in ENTITY_SEARCH_COLUMNS] + list(entities.extensions)
    for col in entity_cols:
        out = col.name if col.name not in taken else f"entity_{col.name}"
        expr = f"e.{quote_ident(col.name)}"
        if col.role is Role.BOOLEAN:
            expr = f"CAST({expr} AS VARCHAR)"
        add(expr, out, SEARCH_KINDS[col.role])
        taken.add(out)
    add("e.url", "entity_url", "text")
    add("e.url_domain", "domain", "code")
    add("t.tech_names", "tech_names", "text_list")
    add("t.tech_types", "tech_types", "code_list")
    add("x.crm", "crm", "code_list")
    systems = _systems(con)
    for i, system in enumerate(systems):
        add(f"x.ids_{i}", f"{safe_name(system)}_ids", "code_list")
    id_lists = "".join(
        f", list(DISTINCT lower(external_id) ORDER BY lower(external_id)) "
        "FILTER (WHERE lower(system) = ?) "
        f"AS ids_{i}"
        for i in range(len(systems))
    )
    # Free terms match word prefixes, and words are runs of letters and digits, so an address
    # already yields its parts (bob.smith@city.gov → bob, smith, city, gov): no need to add them.
    document = (
        "lower(concat_ws(' ', array_to_string(c.emails, ' '), c.title, "
        "array_to_string(t.tech_names, ' ')))"
    )
    add(document, "document", "document")
    query = (
        "WITH t AS (SELECT entity_id, list(DISTINCT lower(name) ORDER BY lower(name)) AS "
        "tech_names, list(DISTINCT lower(type) ORDER BY lower(type)) FILTER (WHERE type IS NOT "
        "NULL) AS tech_types FROM core.techstacks GROUP BY entity_id), "
        "x AS (SELECT entity_id, list(DISTINCT lower(customer) ORDER BY lower(customer)) AS crm"
        f"{id_lists} FROM core.external_ids WHERE entity_id IS NOT NULL GROUP BY entity_id) "
        f"SELECT {', '.join(select)} FROM core.contacts c "
        "LEFT JOIN core.entities e ON e.entity_id = c.entity_id "
        "LEFT JOIN t ON t.entity_id = c.entity_id LEFT JOIN x ON x.entity_id = c.entity_id "
        # Stored in key order: a top-50 by contact_id then reads only the first row groups.
        "ORDER BY c.contact_id"
    )
    # The columns that searches scan in full (joined lists, the document) are stored without
    # compression: twice as fast to write and to scan, for a somewhat larger file.
    scanned = {m for _, _, m in fields if m} | {"document"}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _search_shape AS {query} LIMIT 0", systems)
    shape = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = '_search_shape' ORDER BY ordinal_position"
    ).fetchall()
    con.execute("DROP TABLE _search_shape")
    columns = ", ".join(
        f"{quote_ident(n)} {t}" + (" USING COMPRESSION uncompressed" if n in scanned else "")
        for n, t in shape
    )
    con.execute(f"CREATE OR REPLACE TABLE search.contact_search ({columns})")
    con.execute(f"INSERT INTO search.contact_search {query}", systems)
    con.execute("DELETE FROM meta.search_fields")
    con.executemany(
        "INSERT INTO meta.search_fields VALUES (?, ?, ?, ?)",
        [(n, k, i, m) for i, (n, k, m) in enumerate(fields)],
    )
    return con.execute("SELECT count(*) FROM search.contact_search").fetchone()[0]
