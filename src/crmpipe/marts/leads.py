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


def _member_sql(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """(entity records SQL, member SQL): each entity record with its golden facility id."""
    t = ResolvedTables("entities")
    schema, name = t.sources.split(".")
    if table_exists(con, schema, name) and table_exists(con, *t.records.split(".")):
        members = f"SELECT golden_id, record_id FROM {t.sources} WHERE matched_by <> 'same key'"
        records = (
            f"SELECT m.golden_id AS _golden, r.* FROM {t.records} r "
            f"JOIN ({members}) m ON m.record_id = r.entity_id"
        )
        return records, members
    return (
        "SELECT entity_id AS _golden, * FROM core.entities",
        "SELECT entity_id AS golden_id, entity_id AS record_id FROM core.entities",
    )


def build_leads(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """Create marts.lead_provenance and marts.leads; return the number of leads."""
    tables = cfg.tables()
    records, members = _member_sql(con)
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
    parts: list[str] = []
    for col in _columns(tables):
        for table, expr in col.candidates:
            if table != "entities" and not table_exists(con, "core", table):
                continue
            base = (
                records
                if table == "entities"
                else f"SELECT entity_id AS _golden, * FROM core.{quote_ident(table)}"
            )
            parts.append(
                f"SELECT t._golden, {sql_str(col.name)} AS column_name, "
                f"CAST({expr} AS VARCHAR) AS value, t._source, t._file, t._row "
                f"FROM ({base}) t"
            )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _lead_candidates AS SELECT c.*, "
        f"({prio.replace('_source', 'c._source')}) * 1000000000000000 "
        "+ coalesce(f.file_rank, 0) * 10000000000 + c._row AS _score "
        f"FROM ({' UNION ALL '.join(parts)}) c LEFT JOIN _lead_files f ON f.file = c._file "
        "WHERE c.value IS NOT NULL AND c.value <> ''"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {PROVENANCE} AS "
        "SELECT entity_id, column_name, v.value AS value, v._source AS source, "
        'v._file AS file, v._row AS "row" FROM ('
        "SELECT _golden AS entity_id, column_name, "
        "arg_max(struct_pack(value, _source, _file, _row), _score) AS v "
        "FROM _lead_candidates GROUP BY ALL)"
    )
    # phone2: the best phone candidate that differs from the chosen phone.
    con.execute(
        f"INSERT INTO {PROVENANCE} SELECT entity_id, 'phone2', v.value, v._source, v._file, "
        "v._row FROM (SELECT c._golden AS entity_id, "
        "arg_max(struct_pack(c.value, c._source, c._file, c._row), c._score) AS v "
        f"FROM _lead_candidates c JOIN {PROVENANCE} p ON p.entity_id = c._golden "
        "AND p.column_name = 'phone' WHERE c.column_name = 'phone' AND c.value <> p.value "
        "GROUP BY c._golden)"
    )
    types = {c.name: c.type for c in _columns(tables)} | {"phone2": "VARCHAR"}
    pivot = ", ".join(
        f"TRY_CAST(max(p.value) FILTER (WHERE p.column_name = {sql_str(c)}) AS {types[c]}) "
        f"AS {quote_ident(c)}"
        for c in COLUMN_ORDER
    )
    crm = crm_sources(cfg)
    crm_list = "[" + ", ".join(sql_str(s) for s in crm) + "]::VARCHAR[]"
    con.execute(
        f"CREATE OR REPLACE TABLE {LEADS} AS "
        "WITH m AS (SELECT m.golden_id, m.record_id, r._source, r._file, f.file_rank, r._row, "
        "f.seen FROM (" + members + ") m "
        "JOIN (SELECT entity_id, _source, _file, _row FROM ("
        + records
        + ")) r ON r.entity_id = m.record_id LEFT JOIN _lead_files f ON f.file = r._file), "
        "facts AS (SELECT golden_id, list(DISTINCT _source ORDER BY _source) AS sources, "
        f"arg_max(record_id, file_rank * 10000000000 + _row) FILTER (WHERE list_contains("
        f"{crm_list}, _source)) AS crm_lead_id, min(seen) AS first_seen, max(seen) AS last_seen "
        "FROM m GROUP BY golden_id) "
        f"SELECT e.entity_id, {pivot}, facts.crm_lead_id, facts.crm_lead_id IS NULL "
        "AS is_new_lead, facts.sources, facts.first_seen, facts.last_seen "
        f"FROM core.entities e LEFT JOIN {PROVENANCE} p ON p.entity_id = e.entity_id "
        "LEFT JOIN facts ON facts.golden_id = e.entity_id "
        "GROUP BY e.entity_id, facts.crm_lead_id, facts.sources, facts.first_seen, "
        "facts.last_seen ORDER BY e.entity_id"
    )
    con.execute("DROP TABLE _lead_candidates")
    con.execute("DROP TABLE _lead_files")
    return con.execute(f"SELECT count(*) FROM {LEADS}").fetchone()[0]


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


@dataclass
class LeadSummary:
    """What the leads product says about a build: the demo's and the report's figures."""

    rows_per_source: dict[str, int]  # facility rows each source gave
    facilities: int  # golden facilities (one lead each)
    in_several_lists: int  # facilities merged across two or more agency lists
    matched_crm: int  # facilities of the lists the CRM already has as a lead
    new_leads: int  # facilities of the lists the CRM doesn't have
    crm_only: int  # CRM leads no list mentions


def lead_summary(con: duckdb.DuckDBPyConnection, cfg: Config) -> LeadSummary:
    """Counts of marts.leads: per source, merged across lists, matched to the CRM, new."""
    crm = crm_sources(cfg)
    crm_list = "[" + ", ".join(sql_str(s) for s in crm) + "]::VARCHAR[]"
    records, _ = _member_sql(con)
    per_source = dict(
        con.execute(f"SELECT _source, count(*) FROM ({records}) GROUP BY 1 ORDER BY 1").fetchall()
    )
    lists = f"list_filter(sources, lambda s: NOT list_contains({crm_list}, s))"
    facilities, several, matched, new, crm_only = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len({lists}) >= 2), "
        f"count(*) FILTER (WHERE len({lists}) >= 1 AND NOT is_new_lead), "
        f"count(*) FILTER (WHERE len({lists}) >= 1 AND is_new_lead), "
        f"count(*) FILTER (WHERE len({lists}) = 0) FROM {LEADS}"
    ).fetchone()
    return LeadSummary(per_source, facilities, several, matched, new, crm_only)
