"""The facilities' lineage (`core.entity_sources`) published in place: two CRMs merged into one
(the crm-merge case), then a new HubSpot export of one contact at a Salesforce account; the
in-place publish carries the changed lineage and facility_search's sources, as a full publish
of the same warehouse does. Real DuckDB and real PostgreSQL (conftest's `pg_db`)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from crmpipe.config.load import load_config
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.warehouse.connection import connect
from test_resolve_meanwhile import crm_merge_case, new_hubspot_contact

SOURCES = "SELECT entity_id, sources FROM {} ORDER BY entity_id{}"
#: Compared as sorted lists: (source, row) is not unique (two files of one source), and the
#: two stores may order ties differently.
LINEAGE = "SELECT golden_id, record_id, source, row, matched_by FROM {}"


def _served(dsn: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn, autocommit=True) as pg:
        return (
            pg.execute(SOURCES.format("crmpipe.facility_search", ' COLLATE "C"')).fetchall(),
            sorted(pg.execute(LINEAGE.format("crmpipe.entity_sources")).fetchall()),
        )


def test_a_new_record_merged_into_a_company_is_published_in_place(
    tmp_path: Path, pg_db: str
) -> None:
    made, config = crm_merge_case(tmp_path, "\npublish:\n  incremental_share: 0.9\n", 1500)
    cfg = load_config(config)
    run(cfg)
    assert publish_build(cfg, pg_db).mode == "full"

    new_hubspot_contact(made)
    cfg = load_config(config)  # the project's files, read again
    run(cfg)
    second = publish_build(cfg, pg_db)
    assert second.mode == "in place", second.notes
    assert second.changed["entity_sources"]["upserted"] >= 1
    sources, lineage = _served(pg_db)
    with connect(cfg.warehouse_path, read_only=True) as con:
        assert sources == con.execute(SOURCES.format("search.facility_search", "")).fetchall()
        assert lineage == sorted(con.execute(LINEAGE.format("core.entity_sources")).fetchall())
        (golden,) = con.execute(
            "SELECT golden_id FROM core.entity_sources WHERE file LIKE '%hubspot_contacts_2.csv'"
        ).fetchone()
    assert dict(sources)[golden] == ["hubspot_contacts", "salesforce_contacts"]
    assert publish_build(cfg, pg_db, full=True).mode == "full"
    assert _served(pg_db) == (sources, lineage)
