"""The searchable tables a project can have, and which ones it builds.

Each is declared once (search.table.SearchTable): `contact_search` (search.table) and
`facility_search` (search.facilities). A project builds contact_search when a source feeds
`contacts` (the public-sector shape), and facility_search when sources feed `entities` and
either licenses or addresses, or more than one source feeds entities (facility lists from
several agencies). Users name a table by its label (`contacts`, `facilities`) or its name;
the default is contacts where it is built, else facilities (docs/query-language.md).
"""

from __future__ import annotations

from typing import Any

from crmpipe.config.schema import Config
from crmpipe.search.errors import QueryError
from crmpipe.search.facilities import FACILITY_SEARCH
from crmpipe.search.table import CONTACT_SEARCH, SearchInputs, SearchTable, crm_systems

#: Every searchable table, the default first.
SEARCH_TABLES: tuple[SearchTable, ...] = (CONTACT_SEARCH, FACILITY_SEARCH)
#: A label's singular, accepted too (`--table facility`).
SINGULAR = {"contacts": "contact", "facilities": "facility"}
#: Canonical tables a search table may read (SearchInputs.tables lists those a store has).
INPUT_TABLES = ("entities", "contacts", "licenses", "addresses", "entity_sources")
#: The facilities' lineage (resolution's golden id → source row), read for their sources.
LINEAGE = "entity_sources"


def known_tables() -> list[str]:
    """The labels users may name, in order."""
    return [t.label for t in SEARCH_TABLES]


def search_table(name: str) -> SearchTable:
    """The table `name` means (a label such as `facilities`, or a table name such as
    `facility_search`, optionally schema-qualified); QueryError listing the known ones."""
    wanted = name.strip().lower().rsplit(".", 1)[-1]
    for spec in SEARCH_TABLES:
        if wanted in (spec.label, spec.name, SINGULAR.get(spec.label)):
            return spec
    raise QueryError(f"unknown search table {name!r}; known tables: {', '.join(known_tables())}")


def planned_tables(cfg: Config) -> list[SearchTable]:
    """The search tables this project builds (the rule in this module's docstring)."""
    out = []
    if cfg.feeds_for("contacts"):
        out.append(CONTACT_SEARCH)
    facilities = cfg.feeds_for("entities")
    if facilities and (
        cfg.feeds_for("licenses")
        or cfg.feeds_for("addresses")
        or len({f.source for f in facilities}) > 1
    ):
        out.append(FACILITY_SEARCH)
    return out


def duckdb_inputs(con: Any) -> SearchInputs:
    """The warehouse's inputs: its CRM systems (when it has `core.external_ids`) and which of
    INPUT_TABLES it has (`entity_sources`, the facilities' lineage, only with its `golden_id`
    and `source` columns)."""
    rows = con.execute(
        "SELECT table_name, list(column_name) FROM information_schema.columns "
        "WHERE table_schema = 'core' GROUP BY table_name"
    ).fetchall()
    columns = {name: set(cols) for name, cols in rows}
    tables = {t for t in INPUT_TABLES if t in columns}
    if LINEAGE in tables and not {"golden_id", "source"} <= columns[LINEAGE]:
        tables.discard(LINEAGE)
    systems = tuple(crm_systems(con)) if "external_ids" in columns else ()
    return SearchInputs(systems, frozenset(tables))
