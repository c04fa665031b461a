"""The facility records' near-unique text, stored without compression.

DuckDB analyses every text column's values for a compression (a dictionary, FSST) before it
writes them. For text with nearly one value per record — a facility's key, name, street
address, phone and e-mails — that analysis was most of each write of the records and saved
little space. A run of facilities (entities resolved by the facility rules,
resolution/facilities.py) writes the records four times: `staging.entities`, the built
`core.entities` (kept as `core.entities__unresolved`), the records snapshot
`resolved.entity_records` and the golden `core.entities`; those columns are declared `USING
COMPRESSION uncompressed` in each. At 1M + 100k facility rows (docs/benchmarks.md, branch
`leads60i`) each copy's write took about 1.1–1.4 s less CPU for ~110 MB more on disk. Every
other column (counties, codes, types, the lineage's file names) stays compressed: a dictionary
makes those almost nothing. A project whose entities are resolved otherwise (a CRM merge's
companies, `comparisons:`) or not at all (the public-sector case) stores everything as before.

The tables a facility run's lists feed (contacts, licenses, addresses, schedules) have their
key, `entity_id` and `address` (the one-field address) stored the same way in staging, in core
and in the records snapshot of a resolved one: at 1M + 100k, 24-38% less CPU for each copy of
addresses, licenses and contacts (docs/benchmarks.md).
"""

from __future__ import annotations

from crmpipe.config.schema import Config, ResolveSpec
from crmpipe.model import Table, physical_columns

#: The table facility resolution applies to (resolution/facilities.py).
ENTITIES = "entities"

#: The facility records' columns with nearly one value per record.
FACILITY_PLAIN = ("entity_id", "display_name", "address", "phone", "email")
#: ... and those of the other tables a facility run writes (contacts, licenses, addresses,
#: schedules: the rows its lists feed), besides their own key.
FED_PLAIN = ("entity_id", "address")


def plain_columns(tbl: Table, spec: ResolveSpec) -> tuple[str, ...]:
    """The columns of `tbl` stored without compression when resolved under `spec`: the
    `FACILITY_PLAIN` ones of facilities, none otherwise."""
    facilities = spec.resolves_facilities(tbl.name) and not spec.resolves_companies(tbl.name)
    if not spec.enabled or not facilities:
        return ()
    names = set(tbl.column_names)
    return tuple(c for c in FACILITY_PLAIN if c in names)


def configured_plain(cfg: Config, tbl: Table) -> tuple[str, ...]:
    """`plain_columns` of `tbl` under the project's `resolve:` settings; for the other tables
    of a project whose entities are facilities, their key and `FED_PLAIN` columns."""
    own = plain_columns(tbl, cfg.resolve_spec(tbl.name))
    entities = cfg.tables().get(ENTITIES)
    if own or tbl.name == ENTITIES or entities is None:
        return own
    if not plain_columns(entities, cfg.resolve_spec(ENTITIES)):
        return ()
    text = {name for name, sql_type in physical_columns(tbl) if sql_type == "VARCHAR"}
    if "entity_id" not in text:  # not a table of the facilities' rows
        return ()
    return tuple(dict.fromkeys(c for c in (*tbl.key, *FED_PLAIN) if c in text))
