"""Publishing to PostgreSQL: tables, keys, indexes, the search view, swaps, rollback, readers
during a publish, and one-line errors. Real DuckDB, real PostgreSQL (conftest's `pg_db`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import psycopg
import pytest

from crmpipe.build.core import build_search
from crmpipe.config.load import parse_config
from crmpipe.config.schema import Config
from crmpipe.model import duckdb_ddl, physical_columns
from crmpipe.publish import PublishError, publish, published_versions, rollback, versions
from crmpipe.warehouse.connection import connect

CONFIG = """
warehouse: wh.duckdb
sources:
  places:
    path: places.csv
    table: entities
    columns: {entity_id: place_id}
    extra: {pop_estimate_2022: bigint, place_fips: text}
  people:
    path: contacts.csv
    table: contacts
    columns: {contact_id: id}
  tech:
    path: tech.csv
    table: techstacks
    columns: {entity_id: place_id, name: name}
  crm_a:
    path: a.csv
    table: external_ids
    constants: {customer: a, system: salesforce}
    columns: {external_id: sfdc_id, entity_id: place_id}
  crm_b:
    path: b.csv
    table: external_ids
    constants: {customer: b, system: hubspot}
    columns: {external_id: hubspot_id, entity_id: place_id}
"""

T0 = datetime(2024, 5, 1, 12, 30, 15)

ENTITIES = [
    # entity_id, display_name, state, lat, pop_estimate_2022, place_fips
    ("e1", "City of Springfield", "IL", 39.78, 50_000, "0672000"),
    ("e2", "Shelbyville", "TN", 35.48, 8_000, None),
    ("e3", "Ünïcödé Tōwn — “quoted” \\ back", "CA", None, None, "06\t99"),
]

CONTACTS = [
    # contact_id, entity_id, emails, title, first_name, last_name
    ("c1", "e1", ["bob.smith@springfield.gov", "b@x.com"], "Finance Director", "Bob", "Smith"),
    ("c2", "e1", [], None, None, None),
    ("c3", "e2", None, "Directrice des finances — Zoë", "Zoë", None),
    ("c4", "e404", ["orphan@nowhere.org"], "Refinance officer", None, "Nobody"),
    ("c5", None, ['we"ird\\name@x.org', None], "Clerk\nline two\twith tab", "Al", "Q"),
    ("c6", "e3", ["ann@town.ca.gov"], "Treasurer {1,2}", "Ann", "Ünïcödé"),
]

TECH = [("e1", "Accela", "permitting"), ("e1", "Granicus", "CMS"), ("e2", "accela", None)]

EXTERNAL = [
    ("a", "salesforce", "SF1", "e1", "alice"),
    ("b", "hubspot", "HS1", "e1", None),
    ("b", "hubspot", "HS2", "e2", None),
]


def make_warehouse(
    path: Path | None = None, *, extra_contacts: int = 0
) -> tuple[duckdb.DuckDBPyConnection, Config]:
    """A small built warehouse: core.* with lists, NULLs, unicode, an orphan entity_id, plus
    search.contact_search and meta.search_fields from build_search."""
    cfg = parse_config(CONFIG)
    con = connect(path)
    tables = cfg.tables()
    for name in ("entities", "contacts", "techstacks", "external_ids"):
        con.execute(duckdb_ddl(tables[name], "core"))

    def insert(name: str, values: dict[str, object]) -> None:
        cols = [n for n, _ in physical_columns(tables[name])]
        row = {
            **{c: None for c in cols},
            "_source": "test",
            "_file": f"{name}.csv",
            "_row": 1,
            "_run_id": 1,
            "_loaded_at": T0,
            **values,
        }
        names = ", ".join(f'"{k}"' for k in row)
        con.execute(
            f"INSERT INTO core.{name} ({names}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    for eid, dname, state, lat, pop, fips in ENTITIES:
        insert(
            "entities",
            {
                "entity_id": eid,
                "display_name": dname,
                "state": state,
                "lat": lat,
                "pop_estimate_2022": pop,
                "place_fips": fips,
                "url": f"https://{eid}.gov",
                "url_domain": f"{eid}.gov",
                "created_at": T0,
                "entity_type": "city",
            },
        )
    contacts = list(CONTACTS) + [
        (f"x{i}", "e2", [f"extra{i}@shelbyville.gov"], "Intern", None, None)
        for i in range(extra_contacts)
    ]
    for cid, eid, emails, title, first, last in contacts:
        insert(
            "contacts",
            {
                "contact_id": cid,
                "entity_id": eid,
                "emails": emails,
                "title": title,
                "first_name": first,
                "last_name": last,
                "created_at": T0,
                "phone": "+15551234567" if cid == "c1" else None,
            },
        )
    for eid, name, typ in TECH:
        insert("techstacks", {"entity_id": eid, "name": name, "type": typ})
    for customer, system, xid, eid, owner in EXTERNAL:
        insert(
            "external_ids",
            {
                "customer": customer,
                "system": system,
                "external_id": xid,
                "entity_id": eid,
                "owner": owner,
            },
        )
    build_search(con, cfg)
    return con, cfg


def pg_rows(dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _norm(v: object) -> object:
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


def test_publish_tables_keys_indexes_and_search_view(pg_db: str) -> None:
    con, cfg = make_warehouse()
    result = publish(con, pg_db, cfg=cfg, table_text_indexes=True)

    assert result.schema == "crmpipe" and result.version == 1
    duck_counts = {
        t: con.execute(f"SELECT count(*) FROM core.{t}").fetchone()[0]
        for t in ("entities", "contacts", "techstacks", "external_ids")
    }
    pg_counts = {t: pg_rows(pg_db, f"SELECT count(*) FROM crmpipe.{t}")[0][0] for t in duck_counts}
    assert pg_counts == duck_counts
    assert {k: result.tables[k] for k in duck_counts} == duck_counts
    assert result.tables["contact_search"] == len(CONTACTS)
    assert result.orphans == {"contacts.entity_id": 1}
    assert any("NOT VALID" in n for n in result.notes)
    step_names = [n for n, _ in result.steps]
    for expected in ("copy contacts", "copy contact_search", "swap crmpipe"):
        assert expected in step_names

    # Every value survives the trip: lists, NULLs, unicode, tabs, newlines, quotes, backslashes.
    for name in ("entities", "contacts", "techstacks", "external_ids"):
        tbl = cfg.tables()[name]
        cols = [n for n, _ in physical_columns(tbl)] + [
            "_source",
            "_file",
            "_row",
            "_run_id",
            "_loaded_at",
        ]
        select = ", ".join(f'"{c}"' for c in cols)
        order = ", ".join(f'"{k}"' for k in tbl.key)
        want = con.execute(f"SELECT {select} FROM core.{name} ORDER BY {order}").fetchall()
        got = pg_rows(pg_db, f'SELECT {select} FROM crmpipe.{name} ORDER BY {order} COLLATE "C"')
        assert [[_norm(v) for v in r] for r in got] == [[_norm(v) for v in r] for r in want]

    # Keys: primary keys on all four; FKs validated where clean, NOT VALID with the orphan.
    cons = dict(
        ((r[0], r[1]), r[2])
        for r in pg_rows(
            pg_db,
            "SELECT conrelid::regclass::text, contype, bool_and(convalidated) "
            "FROM pg_constraint WHERE connamespace = 'crmpipe'::regnamespace GROUP BY 1, 2",
        )
    )
    for t in ("entities", "contacts", "techstacks", "external_ids"):
        assert cons[(f"crmpipe.{t}", "p")] is True
    assert cons[("crmpipe.contacts", "f")] is False  # one orphan: kept NOT VALID
    assert cons[("crmpipe.techstacks", "f")] is True
    assert cons[("crmpipe.external_ids", "f")] is True

    indexes = {
        r[0]: r[1]
        for r in pg_rows(
            pg_db, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'crmpipe'"
        )
    }
    for name, fragment in {
        "contacts_pkey": "(contact_id)",
        "contacts_entity_id_idx": "(entity_id)",
        "external_ids_entity_id_idx": "(entity_id)",
        "techstacks_pkey": "(entity_id, name)",  # its leading column covers the foreign key
        "contacts_title_trgm": "gin_trgm_ops",
        "contacts_emails_trgm": "list_text(emails)",
        "entities_display_name_trgm": "gin_trgm_ops",
        # An entity lookup's B-tree covers the key (and a code's column, which an expression
        # index needs to be read index-only): the lookup reads no entity rows.
        "entities_pop_estimate_2022_idx": "(pop_estimate_2022) INCLUDE (entity_id)",
        "entities_state_lower_idx": "(lower(state)) INCLUDE (entity_id, state)",
        # ... and the other way, an entity checked by its key covers what the lookups test
        "entities_entity_id_probe": "btree (entity_id) INCLUDE (",
        "external_ids_external_id_idx": "(external_id)",
        "contact_search_contact_id_key": "UNIQUE",
        "contact_search_document_idx": "gin (document)",
        "contact_search_title_trgm": "gin_trgm_ops",
        "contact_search_emails_trgm": "(_emails_joined gin_trgm_ops)",
        "contact_search_entity_id_idx": "btree (entity_id) INCLUDE (contact_id)",
        # A date: covering the key and the entity (the capped count, beside entity terms too),
        # and by month then key (a range's page), the entity included for entity terms.
        "contact_search_created_at_idx": "btree (created_at) INCLUDE (contact_id, entity_id)",
        "contact_search_created_at_month_idx": "btree (date_trunc('month'::text, created_at), "
        'contact_id COLLATE "C", created_at) INCLUDE (entity_id)',
        "techstacks_name_trgm": "gin_trgm_ops",
        # The entity's lists are searched in search_values, not in the view.
        "search_values_key": "UNIQUE INDEX search_values_key ON crmpipe.search_values USING "
        "btree (field, value, entity_id)",
        "search_values_value_trgm": "gin_trgm_ops",
    }.items():
        assert name in indexes, name
        assert fragment in indexes[name], (name, indexes[name])
    assert "contact_search_crm_idx" not in indexes  # nothing would use it
    # An entity's numbers are searched in entities (its B-tree), not over the view's rows.
    assert "contact_search_pop_estimate_2022_idx" not in indexes
    assert "entities_lat_idx" in indexes
    assert "INCLUDE (entity_id)" in indexes["entities_lat_idx"]
    # ... so an entity code's lookup is an index-only scan of that index, and a contact's entity
    # checked by its key (the selective term was the contact's) reads no entity row either
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("VACUUM (ANALYZE) crmpipe.entities")
        c.execute("SET enable_bitmapscan = off")  # a tiny table: not the plan's choice here
        c.execute("SET enable_seqscan = off")

        def plan(where: str) -> str:
            sql = f"EXPLAIN SELECT entity_id FROM crmpipe.entities WHERE {where}"
            return "\n".join(r[0] for r in c.execute(sql).fetchall())

        code = plan("lower(CAST(state AS text)) = 'ca'")
        probe = plan("entity_id = 'e1' AND pop_estimate_2022 > 10 AND lower(state) = 'ca'")
    assert "Index Only Scan using entities_state_lower_idx" in code, code
    assert "Index Only Scan using entities_entity_id_probe" in probe, probe
    for column in ("pop_estimate_2022", "lat", "state"):
        assert column in indexes["entities_entity_id_probe"].split("INCLUDE")[1], column
    # search_values holds each entity's list elements, as the view's lists have them.
    assert pg_rows(
        pg_db,
        "SELECT field, value, entity_id FROM crmpipe.search_values "
        "WHERE field IN ('crm', 'tech_names', 'salesforce_ids') ORDER BY 1, 2, 3",
    ) == [
        ("crm", "a", "e1"),
        ("crm", "b", "e1"),
        ("crm", "b", "e2"),
        ("salesforce_ids", "sf1", "e1"),
        ("tech_names", "accela", "e1"),
        ("tech_names", "accela", "e2"),
        ("tech_names", "granicus", "e1"),
    ]

    # The view: same columns as DuckDB's search table, same ids, lists and CRM mappings.
    duck_cols = [r[0] for r in con.execute("DESCRIBE search.contact_search").fetchall()]
    pg_cols = [
        r[0]
        for r in pg_rows(
            pg_db,
            "SELECT attname FROM pg_attribute WHERE attrelid = 'crmpipe.contact_search'"
            "::regclass AND attnum > 0 ORDER BY attnum",
        )
    ]
    # ... but for DuckDB's own prefilter columns and entity key, which the publish doesn't copy
    own = {"_emails_sig", "_tech_names_hash", "_entity_key"}
    assert own <= set(duck_cols) and not own & set(pg_cols)
    assert pg_cols == [c for c in duck_cols if c not in own]
    lists = (
        "contact_id, tech_names, tech_types, crm, salesforce_ids, hubspot_ids, full_name, "
        "_emails_joined, _tech_names_joined"
    )
    want = con.execute(f"SELECT {lists} FROM search.contact_search ORDER BY contact_id").fetchall()
    got = pg_rows(pg_db, f"SELECT {lists} FROM crmpipe.contact_search ORDER BY contact_id")
    assert got == want
    assert (
        pg_rows(
            pg_db,
            "SELECT name, kind, position, match_column FROM crmpipe.search_fields "
            "ORDER BY position",
        )
        == con.execute(
            "SELECT name, kind, position, match_column FROM meta.search_fields ORDER BY position"
        ).fetchall()
    )

    # The tsvector holds exactly DuckDB's document words, in order (so prefixes and phrases
    # match the same rows in both backends).
    duck_words = dict(
        con.execute(
            r"SELECT contact_id, regexp_extract_all(document, '[\pL\pN]+') "
            "FROM search.contact_search"
        ).fetchall()
    )
    pg_words: dict[str, list[tuple[int, str]]] = {}
    for cid, lexeme, positions in pg_rows(
        pg_db,
        "SELECT contact_id, u.lexeme, u.positions FROM crmpipe.contact_search, unnest(document) u",
    ):
        pg_words.setdefault(cid, []).extend((p, lexeme) for p in positions)
    assert {c: [w for _, w in sorted(ws)] for c, ws in pg_words.items()} == {
        c: ws for c, ws in duck_words.items() if ws
    }

    def matching(query: str) -> list[str]:
        return [
            r[0]
            for r in pg_rows(
                pg_db,
                "SELECT contact_id FROM crmpipe.contact_search WHERE document @@ "
                "to_tsquery('simple', %s) ORDER BY contact_id",
                [query],
            )
        ]

    assert matching("fin:*") == ["c1", "c3"]  # finance, finances; not refinance
    assert matching("smith:*") == ["c1"]  # an email's parts are words too
    assert matching("accela") == ["c1", "c2", "c3"]  # tech names of e1 and e2
    assert matching("zoë") == ["c3"]
    assert pg_rows(
        pg_db, "SELECT contact_id FROM crmpipe.contact_search WHERE _emails_joined LIKE '%bob%'"
    ) == [("c1",)]
    assert pg_rows(
        pg_db,
        "SELECT contact_id FROM crmpipe.contacts WHERE crmpipe.list_text(emails) ILIKE '%BOB%'",
    ) == [("c1",)]
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("SELECT 1")
    [(version, status)] = [(v.version, v.status) for v in published_versions(pg_db)]
    assert (version, status) == (1, "serving")


def test_second_publish_swaps_and_rollback_restores(pg_db: str) -> None:
    con, cfg = make_warehouse()
    publish(con, pg_db, cfg=cfg)
    role = f"reader_{os.getpid()}"
    with psycopg.connect(pg_db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA crmpipe TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA crmpipe TO {role}")
    try:
        con.execute(
            "INSERT INTO core.contacts (contact_id, entity_id, title) "
            "VALUES ('c7', 'e2', 'Finance clerk')"
        )
        build_search(con, cfg)
        second = publish(con, pg_db, cfg=cfg)
        assert second.version == 2
        assert pg_rows(pg_db, "SELECT count(*) FROM crmpipe.contacts")[0][0] == len(CONTACTS) + 1
        assert {v.version: (v.status, v.schema) for v in published_versions(pg_db)} == {
            2: ("serving", "crmpipe"),
            1: ("previous", "crmpipe_v1"),
        }
        # Grants given on the serving schema are carried to the new version.
        reader_dsn = psycopg.conninfo.make_conninfo(pg_db, user=role)
        assert pg_rows(reader_dsn, "SELECT count(*) FROM crmpipe.contact_search")[0][0] == 7

        assert rollback(pg_db) == "crmpipe_v1"
        assert pg_rows(pg_db, "SELECT count(*) FROM crmpipe.contacts")[0][0] == len(CONTACTS)
        assert {v.version: v.status for v in published_versions(pg_db)} == {
            2: "rolled_back",
            1: "serving",
        }
        with pytest.raises(PublishError, match="no previous version"):
            rollback(pg_db)

        # The next publish drops the rolled-back version and keeps `keep_versions` previous.
        third = publish(con, pg_db, cfg=cfg, keep_versions=1, table_text_indexes=False)
        assert third.version == 3 and third.dropped == ["crmpipe_v2"]
        trgm = {
            r[0]
            for r in pg_rows(
                pg_db,
                "SELECT indexname FROM pg_indexes WHERE schemaname "
                "= 'crmpipe' AND indexname LIKE '%trgm'",
            )
        }
        assert "contacts_title_trgm" not in trgm and "contact_search_title_trgm" in trgm
        fourth = publish(con, pg_db, cfg=cfg, keep_versions=1)
        assert fourth.dropped == ["crmpipe_v1"]
        schemas = {
            r[0]
            for r in pg_rows(
                pg_db, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'crmpipe%'"
            )
        }
        assert schemas == {"crmpipe", "crmpipe_v3", "crmpipe_meta"}
        assert pg_rows(reader_dsn, "SELECT count(*) FROM crmpipe.contacts")[0][0] == 7
    finally:
        with psycopg.connect(pg_db, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_readers_during_publish_always_get_complete_answers(
    pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    con, cfg = make_warehouse()
    publish(con, pg_db, cfg=cfg)
    before = len(CONTACTS)
    con.execute(
        "INSERT INTO core.contacts (contact_id, entity_id, title) "
        "SELECT 'n' || i, 'e1', 'Finance analyst' FROM range(500) t(i)"
    )
    build_search(con, cfg)
    after = before + 500

    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with psycopg.connect(pg_db, autocommit=True) as conn:
                while not stop.is_set():
                    # Prepared after a few runs: plans must follow the swap too.
                    a = conn.execute("SELECT count(*) FROM crmpipe.contacts").fetchone()[0]
                    b = conn.execute(
                        "SELECT count(*) FROM crmpipe.contact_search WHERE "
                        "document @@ to_tsquery('simple', 'fin:*')"
                    ).fetchone()[0]
                    c = conn.execute(
                        "SELECT count(*) FROM crmpipe.contacts c JOIN "
                        "crmpipe.entities e USING (entity_id)"
                    ).fetchone()[0]
                    seen.append((a, b, c))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    # A reader inside one REPEATABLE READ transaction begun before the publish, holding locks
    # on the old tables all along: the swap must not wait for it, and what it reads after the
    # swap must be whole (the new version's rows are written frozen).
    held = psycopg.connect(pg_db)
    held.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert held.execute("SELECT count(*) FROM crmpipe.contacts").fetchone()[0] == before

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    monkeypatch.setattr(versions, "DROP_LOCK_TIMEOUT", "100ms")
    try:
        result = publish(con, pg_db, cfg=cfg, keep_versions=0)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    # Each statement sees one whole version, old or new; never a missing table or part of one.
    assert {a for a, _, _ in seen} == {before, after}
    assert {b for _, b, _ in seen} <= {2, 502}
    assert {c for _, _, c in seen} <= {4, 504}
    # The old version is still locked by the held transaction: left for the next publish.
    assert result.dropped == [] and any("in use" in n for n in result.notes)
    assert held.execute("SELECT count(*) FROM crmpipe.contacts").fetchone()[0] == after
    held.rollback()
    held.close()
    assert set(publish(con, pg_db, cfg=cfg, keep_versions=0).dropped) == {
        "crmpipe_v1",
        "crmpipe_v2",
    }


def test_bad_dsn_and_down_server_give_one_line_errors(pg_db: str) -> None:
    from crmpipe.publish.pgserver import free_port

    con, cfg = make_warehouse()
    port = free_port()  # nothing listens there: a server that is down
    cases = {
        f"host=127.0.0.1 port={port} dbname=x user=u password=s3cret": "cannot connect",
        "not a dsn": "not valid",
        "": "no PostgreSQL DSN",
        psycopg.conninfo.make_conninfo(pg_db, dbname="no_such_db"): "no_such_db",
    }
    for dsn, fragment in cases.items():
        with pytest.raises(PublishError) as info:
            publish(con, dsn, cfg=cfg)
        message = str(info.value)
        assert fragment in message and "\n" not in message, message
        assert "s3cret" not in message
    with pytest.raises(PublishError, match="cannot connect"):
        rollback(f"host=127.0.0.1 port={port}")


def test_role_without_create_privilege_gets_told_what_to_grant(pg_db: str) -> None:
    con, cfg = make_warehouse()
    role = f"nocreate_{os.getpid()}"
    with psycopg.connect(pg_db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with pytest.raises(PublishError, match="GRANT CREATE ON DATABASE") as info:
            publish(con, psycopg.conninfo.make_conninfo(pg_db, user=role), cfg=cfg)
        assert "\n" not in str(info.value)
    finally:
        with psycopg.connect(pg_db, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_bad_keys_are_refused_before_postgres_is_touched(pg_db: str) -> None:
    con, cfg = make_warehouse()
    publish(con, pg_db, cfg=cfg)
    con.execute("INSERT INTO core.contacts (contact_id, entity_id) VALUES ('c1', 'e1')")
    build_search(con, cfg)
    with pytest.raises(PublishError, match="1 repeated keys") as info:
        publish(con, pg_db, cfg=cfg)
    assert "\n" not in str(info.value)
    assert [v.version for v in published_versions(pg_db)] == [1]


def test_interrupted_publish_leaves_the_serving_version_alone(pg_db: str) -> None:
    con, cfg = make_warehouse()
    publish(con, pg_db, cfg=cfg)
    con.execute("INSERT INTO core.contacts (contact_id, entity_id) VALUES ('c9', 'e1')")
    build_search(con, cfg)

    class CtrlC:
        def start(self, step: str, target: str) -> None:
            if step == "index":  # the search table copied, its indexes next
                raise KeyboardInterrupt

        def end(self, *args: object) -> None:
            pass

    with pytest.raises(KeyboardInterrupt):
        publish(con, pg_db, cfg=cfg, reporter=CtrlC())  # type: ignore[arg-type]
    assert pg_rows(pg_db, "SELECT count(*) FROM crmpipe.contacts")[0][0] == len(CONTACTS)
    assert {v.version: v.status for v in published_versions(pg_db)} == {1: "serving", 2: "failed"}
    assert pg_rows(pg_db, "SELECT 1 FROM pg_namespace WHERE nspname = 'crmpipe_v2'") == []
    assert publish(con, pg_db, cfg=cfg).tables["contacts"] == len(CONTACTS) + 1


KILLER = """
import os, signal, sys
from crmpipe.config.load import parse_config
from crmpipe.publish import publish
from crmpipe.warehouse.connection import connect

class Killer:
    def start(self, step, target):
        if step == "index":
            os.kill(os.getpid(), signal.SIGKILL)
    def end(self, *args, **kwargs):
        pass

cfg = parse_config(open(sys.argv[3]).read())
publish(connect(sys.argv[1], read_only=True), sys.argv[2], cfg=cfg, reporter=Killer(), full=True)
"""


def test_killed_publish_is_cleaned_up_by_the_next(pg_db: str, tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    con, cfg = make_warehouse(wh)
    publish(con, pg_db, cfg=cfg)
    con.close()
    (tmp_path / "crmpipe.yml").write_text(CONFIG)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(KILLER),
            str(wh),
            pg_db,
            str(tmp_path / "crmpipe.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert pg_rows(pg_db, "SELECT count(*) FROM crmpipe.contacts")[0][0] == len(CONTACTS)
    assert {v.version: v.status for v in published_versions(pg_db)} == {1: "serving", 2: "building"}
    # The killed client's server sessions end once they notice it is gone.
    deadline = time.monotonic() + 20
    while (
        pg_rows(
            pg_db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crmpipe publish'",
        )[0][0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)

    con = connect(wh, read_only=True)
    result = publish(con, pg_db, cfg=cfg, full=True)
    assert result.version == 3
    assert {v.version: v.status for v in published_versions(pg_db)} == {
        3: "serving",
        2: "failed",
        1: "previous",
    }
    assert pg_rows(pg_db, "SELECT 1 FROM pg_namespace WHERE nspname = 'crmpipe_v2'") == []


def test_schema_doc_lists_every_published_column() -> None:
    from crmpipe.model import TABLES
    from crmpipe.publish.ddl import PUBLISHED_TABLES

    doc = (Path(__file__).parent.parent / "docs" / "schema.md").read_text(encoding="utf-8")
    for name in PUBLISHED_TABLES:
        assert f"### {name}" in doc
        for column, _ in physical_columns(TABLES[name]):
            assert f"`{column}`" in doc, (name, column)


def test_one_publish_at_a_time(pg_db: str) -> None:
    con, cfg = make_warehouse()
    publish(con, pg_db, cfg=cfg)
    with psycopg.connect(pg_db, autocommit=True) as other:  # stands in for a running publish
        other.execute("SELECT pg_advisory_lock(%s)", [versions.LOCK_KEY])
        pid = other.info.backend_pid
        with pytest.raises(PublishError, match=f"another crmpipe publish.*pid {pid}"):
            publish(con, pg_db, cfg=cfg)
        with pytest.raises(PublishError, match="another crmpipe publish"):
            rollback(pg_db)
    assert [v.version for v in published_versions(pg_db)] == [1]
