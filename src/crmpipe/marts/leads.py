"""The childcare case's leads product: `marts.leads`, one row per golden facility, with the
field-level provenance of every value in `marts.lead_provenance` (docs/childcare.md).

Each lead column has candidate values from the facility's member source rows: the entity
records themselves and the rows they fed (contacts, licenses, addresses, schedules). One value
survives per column, by the configured source priority, else the newest non-null (newer file,
then later row); the provenance table says which source, file and row gave it. Columns of the
exercise's leads table with no canonical counterpart (`accepts_financial_aid`, `ages_served`,
`curriculum_type`, `language`, `min_age`, `max_age`, `operator`, `provider_id`) come from an
extension column of the same name when a source declares one. All of it is set-based SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.ingest.drops import drop_date
from crmpipe.model import WEEKDAYS, Table
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident, sql_str
from crmpipe.warehouse.connection import table_exists

LEADS = "marts.leads"
PROVENANCE = "marts.lead_provenance"
#: Tables whose rows feed a facility's lead besides the facility's own records.
FED_TABLES = ("contacts", "licenses", "addresses", "schedules")
#: Source names that say "the CRM's existing leads" when `marts.leads.crm` is not set.
CRM_WORDS = ("salesforce", "hubspot", "crm", "lead")

_SCHEDULE = (
    "concat_ws('; ', "
    + ", ".join(
        f"CASE WHEN t.{d} IS NOT NULL THEN '{d[:3].title()} ' || t.{d} END" for d in WEEKDAYS
    )
    + ")"
)


@dataclass(frozen=True)
class LeadColumn:
    """One column of the leads table: its type and the candidate expressions per table."""

    name: str
    type: str
    candidates: tuple[tuple[str, str], ...]  # (table, SQL over `t`)


def _c(name: str, type_: str, *candidates: tuple[str, str]) -> LeadColumn:
    return LeadColumn(name, type_, candidates)


#: The exercise's lead columns, in its order, and where each value can come from.
LEAD_COLUMNS: tuple[LeadColumn, ...] = (
    _c("company", "VARCHAR", ("entities", "t.display_name")),
    _c("facility_type", "VARCHAR", ("entities", "t.entity_type")),
    _c("phone", "VARCHAR", ("entities", "t.phone"), ("contacts", "t.phone")),
    _c("email", "VARCHAR", ("entities", "t.email[1]"), ("contacts", "t.emails[1]")),
    _c("website_address", "VARCHAR", ("entities", "t.url"), ("contacts", "t.url")),
    _c(
        "address1",
        "VARCHAR",
        ("addresses", "coalesce(t.number || ' ' || t.street, t.address)"),
        ("entities", "t.address"),
    ),
    _c("address2", "VARCHAR", ("addresses", "coalesce(t.unit, t.address2)")),
    _c("city", "VARCHAR", ("addresses", "t.city"), ("entities", "t.city")),
    _c("state", "VARCHAR", ("addresses", "t.state"), ("entities", "t.state")),
    _c("zip", "VARCHAR", ("addresses", "t.postal_code"), ("entities", "t.postal_code")),
    _c("county", "VARCHAR", ("addresses", "t.county"), ("entities", "t.county")),
    _c("first_name", "VARCHAR", ("contacts", "t.first_name")),
    _c("last_name", "VARCHAR", ("contacts", "t.last_name")),
    _c("title", "VARCHAR", ("contacts", "t.title")),
    _c("license_number", "VARCHAR", ("licenses", "t.license_number")),
    _c("license_type", "VARCHAR", ("licenses", "t.license_type")),
    _c("license_status", "VARCHAR", ("licenses", "t.status")),
    _c("license_issued", "DATE", ("licenses", "t.issued_on")),
    _c("license_renewed", "DATE", ("licenses", "t.renewed_on")),
    _c("certificate_expiration_date", "DATE", ("licenses", "t.expires_on")),
    _c("capacity", "BIGINT", ("licenses", "t.capacity")),
    _c("schedule", "VARCHAR", ("schedules", _SCHEDULE)),
)
#: Lead columns filled only from a same-named extension column (and their types).
EXTENSION_LEAD_COLUMNS: dict[str, str] = {
    "accepts_financial_aid": "BOOLEAN",
    "ages_served": "VARCHAR",
    "curriculum_type": "VARCHAR",
    "language": "VARCHAR",
    "max_age": "DOUBLE",
    "min_age": "DOUBLE",
    "operator": "VARCHAR",
    "provider_id": "VARCHAR",
}
#: The exercise's column order (phone2 is the second phone, chosen after phone).
COLUMN_ORDER = (
    "accepts_financial_aid", "ages_served", "capacity", "certificate_expiration_date", "city",
    "address1", "address2", "company", "phone", "phone2", "county", "curriculum_type", "email",
    "first_name", "language", "last_name", "license_status", "license_issued", "license_number",
    "license_renewed", "license_type", "max_age", "min_age", "operator", "provider_id",
    "schedule", "state", "title", "website_address", "zip", "facility_type",
)  # fmt: skip


def wanted(cfg: Config) -> bool:
    """Whether the project is a lead-list one: some source feeds licenses, addresses or
    schedules (facility lists carry them; the public-sector and funnel cases don't)."""
    return any(cfg.feeds_for(t) for t in ("licenses", "addresses", "schedules"))


def crm_sources(cfg: Config) -> list[str]:
    """The sources holding the CRM's existing leads (configured, else guessed by name)."""
    if cfg.marts.leads.crm is not None:
        return list(cfg.marts.leads.crm)
    fed = {f.source for f in cfg.feeds_for("entities")}
    return sorted(n for n in fed if any(w in n.lower() for w in CRM_WORDS))


def _columns(tables: dict[str, Table]) -> list[LeadColumn]:
    """LEAD_COLUMNS plus the extension-fed ones some table of the project declares."""
    out = list(LEAD_COLUMNS)
    for name, type_ in EXTENSION_LEAD_COLUMNS.items():
        cands = tuple(
            (t, f"t.{quote_ident(name)}")
            for t in ("entities", *FED_TABLES)
            if t in tables and name in {c.name for c in tables[t].extensions}
        )
        out.append(LeadColumn(name, type_, cands))
    return out


#: The entity record columns the mart reads besides those its candidates name.
RECORD_COLUMNS = ("_golden", "_one", "entity_id", "_source", "_file", "_row")


def _record_columns(cols: list[LeadColumn]) -> str:
    """The select list of `_lead_records`: RECORD_COLUMNS and every column an entity
    candidate names (`t.<column>` or `t."<column>"`)."""
    named = [
        m.group(1) or m.group(2)
        for col in cols
        for table, expr in col.candidates
        if table == "entities"
        for m in re.finditer(r'\bt\.(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))', expr)
    ]
    return ", ".join(quote_ident(c) for c in dict.fromkeys([*RECORD_COLUMNS, *named]))


def member_sql(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """(entity records SQL, member SQL): each entity record with its golden facility id
    (`_golden`) and whether it is its golden facility's only record (`_one`: its values
    survive as they are, no aggregation needed)."""
    t = ResolvedTables("entities")
    schema, name = t.sources.split(".")
    if table_exists(con, schema, name) and table_exists(con, *t.records.split(".")):
        members = f"SELECT golden_id, record_id FROM {t.sources} WHERE matched_by <> 'same key'"
        if table_exists(con, *t.clusters.split(".")):
            # the clusters name each record's golden id by its number, with the cluster's
            # size: the same members as the lineage's, joined on an integer
            records = (
                f"SELECT c.golden_id AS _golden, c._size = 1 AS _one, r.* FROM {t.records} r "
                f"JOIN {t.clusters} c ON c._rid = r._rid"
            )
        else:
            records = (
                f"SELECT m.golden_id AS _golden, false AS _one, r.* FROM {t.records} r "
                f"JOIN ({members}) m ON m.record_id = r.entity_id"
            )
        return records, members
    return (
        "SELECT entity_id AS _golden, false AS _one, * FROM core.entities",
        "SELECT entity_id AS golden_id, entity_id AS record_id FROM core.entities",
    )


#: A candidate's score is source priority * PRIO_BASE + origin * ROW_BASE + row: the newest
#: (source priority first, then newer file, then later row) has the highest, and its origin
#: (source and file) and row are read back from it (origins < 100,000, rows < 10^10).
PRIO_BASE, ROW_BASE, ORIGINS = 1_000_000_000_000_000, 10_000_000_000, 100_000


def _base(table: str, records: str, *, split: bool = False) -> str:
    """A table's candidate rows with their golden facility as `_golden` (and, with `split`,
    `_one`: the row is its facility's only one in the table; needs `_lead_multi_<table>`)."""
    if table == "entities":
        return records
    q = quote_ident(table)
    if not split:
        return f"SELECT entity_id AS _golden, * FROM core.{q}"
    return (
        "SELECT t.entity_id AS _golden, t.entity_id IS NOT NULL AND m.entity_id IS NULL AS _one, "
        f"t.* FROM core.{q} t LEFT JOIN {quote_ident('_lead_multi_' + table)} m "
        "ON m.entity_id = t.entity_id"
    )


def _multi(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """`_lead_multi_<table>`: for each fed table, the facilities with more than one of its
    rows (the others' values survive as they are)."""
    for table in tables:
        if table != "entities":
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote_ident('_lead_multi_' + table)} AS "
                f"SELECT entity_id FROM core.{quote_ident(table)} GROUP BY entity_id "
                "HAVING count(*) > 1"
            )


def _scored(table: str, records: str, prio: str, values: str) -> str:
    """SELECT of a table's candidate rows as `t`: `_golden`, `_score` and `values`."""
    return (
        f"SELECT t._golden, t._one, CAST(({prio.replace('_source', 't._source')}) * {PRIO_BASE} "
        f"+ coalesce(o.origin, 0) * {ROW_BASE} + t._row AS BIGINT) AS _score, {values} "
        f"FROM ({_base(table, records, split=True)}) t LEFT JOIN _lead_origins o "
        "ON o.source IS NOT DISTINCT FROM t._source AND o.file IS NOT DISTINCT FROM t._file"
    )


def _origins(con: duckdb.DuckDBPyConnection, records: str, tables: list[str]) -> None:
    """_lead_origins: each (source, file) of the candidate rows, numbered by the file's
    recency (then file and source): a few rows."""
    parts = " UNION ".join(
        f"SELECT DISTINCT _source, _file FROM ({_base(t, records)})" for t in tables
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _lead_origins AS SELECT o._source AS source, "
        "o._file AS file, row_number() OVER (ORDER BY coalesce(f.file_rank, 0), o._file, "
        f"o._source) AS origin FROM ({parts}) o LEFT JOIN _lead_files f ON f.file = o._file"
    )


def _candidate_tables(
    con: duckdb.DuckDBPyConnection, cols: list[LeadColumn]
) -> dict[str, list[tuple[str, str, str]]]:
    """Per table with candidates (those that exist): (column, name of its winner, SQL over
    `t`)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for col in cols:
        for i, (table, expr) in enumerate(col.candidates):
            if table == "entities" or table_exists(con, "core", table):
                out.setdefault(table, []).append((col.name, f"{col.name}#{i}", expr))
    return out


def _best_per_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    records: str,
    prio: str,
    cands: list[tuple[str, str, str]],
) -> str:
    """Create `_lw_<table>`: per golden facility, each column's best value in this table and
    its score (`<name>` and `<name>#s`), in one pass. Plain `arg_max` and `max` over numbers:
    an `arg_max` of a struct per column was 5x slower. A facility with one row in the table
    (most of them) takes that row's values and score as they are: only the others are
    aggregated (on a sample of the 1M case, half the aggregation's CPU)."""
    values = ", ".join(
        f"nullif(CAST({expr} AS VARCHAR), '') AS {quote_ident(f'v{k}')}"
        for k, (_, _, expr) in enumerate(cands)
    )
    best = ", ".join(
        f"arg_max(v{k}, _score) AS {quote_ident(name)}, "
        f"max(_score) FILTER (WHERE v{k} IS NOT NULL) AS {quote_ident(name + '#s')}"
        for k, (_, name, _) in enumerate(cands)
    )
    single = ", ".join(
        f"v{k} AS {quote_ident(name)}, "
        f"CASE WHEN v{k} IS NOT NULL THEN _score END AS {quote_ident(name + '#s')}"
        for k, (_, name, _) in enumerate(cands)
    )
    scored = _scored(table, records, prio, values)
    name = f"_lw_{table}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT _golden, {best} "
        f"FROM ({scored}) WHERE NOT _one GROUP BY _golden "
        f"UNION ALL SELECT _golden, {single} FROM ({scored}) WHERE _one"
    )
    return name


def build_leads(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """Create marts.lead_provenance and marts.leads; return the number of leads.

    One aggregation per table picks, per golden facility, each column's best value of that
    table and its score; the per-table winners are then compared per column (on equal scores
    the candidate listed first wins: the parsed address before the facility's own), phone2 is
    chosen among the phone candidates only, and the provenance is the winners unpivoted, their
    source, file and row read back from the score. No long table of every candidate value is
    built (it was: 13.5M values at 1M rows, ranked per facility and column, then pivoted)."""
    tables = cfg.tables()
    records, _ = member_sql(con)
    cols = _columns(tables)
    # the entity records joined with their golden ids once: the origins, the entities'
    # candidates (both halves), phone2 and the facts each read them (five joins of 1.1M rows
    # at 1M facility rows before); only the columns they read (a third of the records')
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _lead_records AS SELECT {_record_columns(cols)} "
        f"FROM ({records})"
    )
    records = "SELECT * FROM _lead_records"
    _file_order(con)
    priority = cfg.marts.leads.source_priority
    n = len(priority)
    prio = (
        "CASE _source "
        + " ".join(f"WHEN {sql_str(s)} THEN {n - i}" for i, s in enumerate(priority))
        + " ELSE 0 END"
        if priority
        else "0"
    )
    by_table = _candidate_tables(con, cols)
    _origins(con, records, list(by_table))
    _multi(con, list(by_table))
    alias = {t: f"w{i}" for i, t in enumerate(by_table)}
    # every golden facility has entity records, so the entities' winners name them all: the
    # other tables' winners are joined to those (no join with core.entities for its ids)
    base, key = "core.entities e", "e.entity_id"
    if "entities" in by_table:
        alias["entities"] = "e"
        base = _best_per_table(con, "entities", records, prio, by_table["entities"]) + " e"
        key = "e._golden"
    joins = " ".join(
        f"LEFT JOIN {_best_per_table(con, t, records, prio, c)} {alias[t]} "
        f"ON {alias[t]}._golden = {key}"
        for t, c in by_table.items()
        if alias[t] != "e"
    )
    picks = []
    for col in cols:
        value, score = "NULL", "NULL"
        for i, (table, _) in enumerate(col.candidates):
            if table not in by_table:
                continue
            v = f"{alias[table]}.{quote_ident(f'{col.name}#{i}')}"
            s = f"{alias[table]}.{quote_ident(f'{col.name}#{i}#s')}"
            better = f"{s} IS NOT NULL AND ({score} IS NULL OR {s} > {score})"
            value, score = (
                (v, s)
                if value == "NULL"
                else (
                    f"CASE WHEN {better} THEN {v} ELSE {value} END",
                    f"CASE WHEN {better} THEN {s} ELSE {score} END",
                )
            )
        picks.append(f"{value} AS {quote_ident(col.name)}")
        picks.append(f"{score} AS {quote_ident(col.name + '#s')}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _lead_wide AS SELECT {key} AS entity_id, "
        + ", ".join(picks)
        + f" FROM {base} {joins}"
    )
    for t in by_table:
        con.execute(f"DROP TABLE _lw_{t}")
    _phone2(con, records, prio, by_table)
    _store_scores(con, [c.name for c in cols])
    types = {c.name: c.type for c in cols} | {"phone2": "VARCHAR"}
    pivot = ", ".join(
        f"TRY_CAST({'p2' if c == 'phone2' else 'w'}.{quote_ident(c)} AS {types[c]}) "
        f"AS {quote_ident(c)}"
        for c in COLUMN_ORDER
    )
    crm = crm_sources(cfg)
    crm_list = "[" + ", ".join(sql_str(s) for s in crm) + "]::VARCHAR[]"
    newest = f"f.file_rank * {ROW_BASE} + r._row"
    is_crm = f"list_contains({crm_list}, r._source)"
    from_records = f"FROM ({records}) r LEFT JOIN _lead_files f ON f.file = r._file"
    # a facility of one record has that record's facts as they are (no aggregation)
    con.execute(
        f"CREATE OR REPLACE TABLE {LEADS} AS "
        "WITH facts AS (SELECT r._golden AS golden_id, "
        "list_sort(list_distinct(list(r._source))) AS sources, "
        f"arg_max(r.entity_id, {newest}) FILTER (WHERE {is_crm}) AS crm_lead_id, "
        f"min(f.seen) AS first_seen, max(f.seen) AS last_seen {from_records} "
        "WHERE NOT r._one GROUP BY r._golden "
        "UNION ALL SELECT r._golden, list_sort(list_distinct([r._source])), "
        f"CASE WHEN {is_crm} AND {newest} IS NOT NULL THEN r.entity_id END, f.seen, f.seen "
        f"{from_records} WHERE r._one) "
        f"SELECT w.entity_id, {pivot}, facts.crm_lead_id, facts.crm_lead_id IS NULL "
        "AS is_new_lead, facts.sources, facts.first_seen, facts.last_seen "
        "FROM _lead_wide w LEFT JOIN facts ON facts.golden_id = w.entity_id "
        "LEFT JOIN _lead_phone2 p2 ON p2.entity_id = w.entity_id ORDER BY w.entity_id"
    )
    _provenance_view(con)
    for tmp in ("_lead_wide", "_lead_phone2", "_lead_files", "_lead_origins", "_lead_records"):
        con.execute(f"DROP TABLE {tmp}")
    for t in by_table:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident('_lead_multi_' + t)}")
    return con.execute(f"SELECT count(*) FROM {LEADS}").fetchone()[0]


#: Where the provenance's compact parts live (not `marts`: every table there is published).
SCORES = "resolved.lead_scores"
ORIGINS_TABLE = "resolved.lead_origins"


def _store_scores(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Keep each facility's winning scores (one row per facility, a BIGINT per column) and
    the origins they point at, for the provenance view."""
    scores = ", ".join(f"w.{quote_ident(n + '#s')}" for n in names)
    con.execute("CREATE SCHEMA IF NOT EXISTS resolved")
    con.execute(
        f"CREATE OR REPLACE TABLE {SCORES} AS SELECT w.entity_id, {scores}, "
        'p2."phone2#s" FROM _lead_wide w LEFT JOIN _lead_phone2 p2 ON p2.entity_id = '
        "w.entity_id ORDER BY w.entity_id"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {ORIGINS_TABLE} AS SELECT origin, source, file FROM _lead_origins"
    )


def _provenance_view(con: duckdb.DuckDBPyConnection) -> None:
    """Create the view marts.lead_provenance: one row per (facility, column with a value) —
    the lead's value, and the source, file and row of the score that won it."""
    drop_provenance(con)
    items = ", ".join(
        f"struct_pack(column_name := {sql_str(c)}, value := CAST(l.{quote_ident(c)} AS "
        f"VARCHAR), s := s.{quote_ident(c + '#s')})"
        for c in COLUMN_ORDER
    )
    con.execute(
        f"CREATE VIEW {PROVENANCE} AS SELECT p.entity_id, p.e.column_name AS column_name, "
        f'p.e.value AS value, o.source, o.file, p.e.s % {ROW_BASE} AS "row" FROM '
        f"(SELECT l.entity_id, unnest([{items}]) AS e FROM {LEADS} l JOIN {SCORES} s "
        f"ON s.entity_id = l.entity_id) p LEFT JOIN {ORIGINS_TABLE} o "
        f"ON o.origin = (p.e.s // {ROW_BASE}) % {ORIGINS} WHERE p.e.value IS NOT NULL"
    )


def provenance_rows(con: duckdb.DuckDBPyConnection) -> int:
    """The rows of marts.lead_provenance (the values of the leads), from one scan of the leads
    instead of unpivoting the view."""
    counts = " + ".join(f"count({quote_ident(c)})" for c in COLUMN_ORDER)
    return int(con.execute(f"SELECT {counts} FROM {LEADS}").fetchall()[0][0])


def drop_provenance(con: duckdb.DuckDBPyConnection) -> None:
    """Drop marts.lead_provenance, a view now, a table in warehouses built before."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_name = 'lead_provenance'"
    ).fetchall()
    if rows:
        kind = "VIEW" if rows[0][0] == "VIEW" else "TABLE"
        con.execute(f"DROP {kind} {PROVENANCE}")


def drop_leads(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the leads product and its provenance (a project that builds no leads)."""
    drop_provenance(con)
    con.execute(f"DROP TABLE IF EXISTS {LEADS}")
    con.execute(f"DROP TABLE IF EXISTS {SCORES}")
    con.execute(f"DROP TABLE IF EXISTS {ORIGINS_TABLE}")


def _phone2(
    con: duckdb.DuckDBPyConnection,
    records: str,
    prio: str,
    by_table: dict[str, list[tuple[str, str, str]]],
) -> None:
    """Create `_lead_phone2`: per facility the best phone candidate that differs from the
    chosen phone (over the phone candidates only), and its score."""
    parts = [
        _scored(table, records, prio, f"nullif(CAST({expr} AS VARCHAR), '') AS value")
        for table, cands in by_table.items()
        for col, _, expr in cands
        if col == "phone"
    ]
    if not parts:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _lead_phone2 (entity_id VARCHAR, phone2 VARCHAR, "
            '"phone2#s" BIGINT)'
        )
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _lead_phone2 AS SELECT c._golden AS entity_id, "
        'arg_max(c.value, c._score) AS phone2, max(c._score) AS "phone2#s" FROM ('
        + " UNION ALL ".join(parts)
        + ") c JOIN _lead_wide w ON w.entity_id = c._golden "
        "WHERE c.value IS NOT NULL AND c.value <> w.phone GROUP BY c._golden"
    )


def _file_order(con: duckdb.DuckDBPyConnection) -> None:
    """_lead_files: each loaded file's recency rank and the date it was seen (its drop date,
    else its modification day); few rows, so the date is read from the name in Python."""
    rows = con.execute(
        "SELECT file, max(file_mtime) FROM meta.manifest GROUP BY file ORDER BY 2, 1"
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _lead_files (file VARCHAR, file_rank BIGINT, seen DATE)"
    )
    con.executemany(
        "INSERT INTO _lead_files VALUES (?, ?, ?)",
        [(f, i + 1, drop_date(f) or m.date()) for i, (f, m) in enumerate(rows)],
    )
