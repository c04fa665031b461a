"""The facilities' lineage (`core.entity_sources`) published in place: two CRMs merged into one
(the crm-merge case), then a new HubSpot export of one contact at a Salesforce account; the
in-place publish carries the changed lineage and facility_search's sources, as a full publish
of the same warehouse does. Real DuckDB and real PostgreSQL (conftest's `pg_db`)."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg

from crmpipe.config.load import load_config
from crmpipe.demo.datasets.crm_merge import generate
from crmpipe.init.guess import init
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.warehouse.connection import connect

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
    made = generate(tmp_path / "case", contacts=1500, seed=5)
    config = init(made.files[0].parent).path
    text = config.read_text().replace("path: hubspot_contacts.csv", "path: hubspot_contacts*.csv")
    config.write_text(text + "\npublish:\n  incremental_share: 0.9\n")
    cfg = load_config(config)
    run(cfg)
    assert publish_build(cfg, pg_db).mode == "full"

    hub, sf = made.files
    with sf.open(encoding="utf-8-sig") as f:
        account = next(csv.DictReader(f, delimiter=";"))["Account.Name"]
    header = hub.read_text(encoding="utf-8").splitlines()[0]
    new = f"999001,Ada,Quill,ada.quill@example.org,,Buyer,{account},OH,2024-01-02 10:00"
    hub.with_name("hubspot_contacts_2.csv").write_text(f"{header}\n{new}\n", encoding="utf-8")
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
