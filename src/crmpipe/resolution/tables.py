"""Names of the tables resolution writes, per canonical table (contacts → contact_*)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import RESOLVABLE, Config
from crmpipe.model import Table
from crmpipe.resolution.companies import resolution_reads


@dataclass(frozen=True)
class ResolvedTables:
    """Where the resolution of canonical table `table` keeps its state."""

    table: str

    @property
    def singular(self) -> str:
        if self.table.endswith("ies"):
            return self.table[:-3] + "y"
        return self.table[:-1] if self.table.endswith("s") else self.table

    @property
    def records(self) -> str:
        """The input: one row per key (core before resolution), with a numeric `_rid`."""
        return f"resolved.{self.singular}_records"

    @property
    def pairs(self) -> str:
        """Linked pairs (pre-pass and Splink at or above the threshold) with their evidence."""
        return f"resolved.{self.singular}_pairs"

    @property
    def predictions(self) -> str:
        """Splink's scored pairs above the storage floor, with every comparison's weight."""
        return f"resolved.{self.singular}_predictions"

    @property
    def prepass(self) -> str:
        """Each pre-pass rule's links (before one rule is kept per pair), by `_rid`: what an
        incremental resolution keeps of the groups no new or gone record falls in."""
        return f"resolved.{self.singular}_prepass"

    @property
    def changes(self) -> str:
        """The records the snapshots updated in place appended (`gone` false) and deleted
        (true) since a resolution last read them: what an in-place resolution works from
        instead of comparing every record with the stored state (resolution/records.py)."""
        return f"resolved.{self.singular}_record_changes"

    @property
    def clusters(self) -> str:
        """`_rid` → cluster label and golden id."""
        return f"resolved.{self.singular}_clusters"

    @property
    def fingerprints(self) -> str:
        """Each record's hash of its matching input at the last resolution (incremental runs)."""
        return f"resolved.{self.singular}_fingerprints"

    @property
    def splits(self) -> str:
        """Links cut when a chained or oversized cluster was split, with the reason."""
        return f"resolved.{self.singular}_splits"

    @property
    def sources(self) -> str:
        """Lineage: golden id → every source row, with its match probability."""
        return f"core.{self.singular}_sources"

    @property
    def field_sources(self) -> str:
        """Field-level provenance: golden id, column → the member record that gave its value."""
        return f"core.{self.singular}_field_sources"


RESOLVE_DDL = """
CREATE SCHEMA IF NOT EXISTS resolved;
CREATE TABLE IF NOT EXISTS meta.resolve_models (
  run_id BIGINT, table_name VARCHAR, created_at TIMESTAMP, records BIGINT, trained BOOLEAN,
  threshold DOUBLE, settings_json VARCHAR
);
ALTER TABLE meta.resolve_models ADD COLUMN IF NOT EXISTS timings_json VARCHAR;
ALTER TABLE meta.resolve_models ADD COLUMN IF NOT EXISTS spec_hash VARCHAR;
ALTER TABLE meta.resolve_models ADD COLUMN IF NOT EXISTS mode VARCHAR;
ALTER TABLE meta.resolve_models ADD COLUMN IF NOT EXISTS changed BIGINT;
"""


#: The temp tables and views a resolution makes (resolve_table drops them at its end).
RESOLVE_TEMPS = (
    "_rin2",
    "_rin",
    "_prepass",
    "_pg",
    "_components",
    "_previous",
    "_fp",
    "_changed",
    "_stale",
    "_gone",
    "_touched",
    "_tclusters",
    "_trecords",
)


def drop_resolution(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Forget a table's resolution state (its resolution was turned off)."""
    t = ResolvedTables(name)
    for table in (t.records, t.pairs, t.predictions, t.clusters, t.sources, t.prepass):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def built_meanwhile(cfg: Config, tables: dict[str, Table]) -> list[str]:
    """The tables (of `tables`, in build order) built while the first resolved table's Splink
    scores (`resolve_table`'s `meanwhile`, pipeline.py): those after it. Their builds and checks
    read staging and the tables built before them, which that resolution leaves as they are
    until Splink is done; its snapshot reads only its own table. None when one of them is
    resolvable with resolution off (its resolution state is dropped before any resolution,
    after its build), or when that resolution reads one of them before Splink: a CRM merge's
    companies take this run's contacts' e-mail domains (`resolution_reads`)."""
    order = list(tables)
    first = next((n for n in cfg.resolved_tables() if n in order), None)
    if first is None:
        return []
    later = order[order.index(first) + 1 :]
    off = [n for n in later if n in RESOLVABLE and n not in cfg.resolved_tables()]
    read = set(resolution_reads(tables[first], cfg.resolve_spec(first)))
    return [] if off or read.intersection(later) else later
