"""The mover case in PostgreSQL (issue 12 item 5): `crmpipe publish` carries branches,
customers, jobs and the job marts; golden customers' changes are kept in
audit.customer_changes across two publishes; `crmpipe audit customer ID` lists them; and
`GET /api/customers/{id}` answers a customer with its jobs and lineage over real HTTP, from the
warehouse and from PostgreSQL. Real DuckDB, real PostgreSQL, a small generated mover case."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets.movers import generate
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from support.server import Server

runner = CliRunner()
PUBLISHED = ("branches", "customers", "jobs", "jobs_duplicates", "jobs_rolling",
             "customer_lifetime", "job_addresses")  # fmt: skip


def _pg(dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _duck(cfg, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _change_phone(path: Path, local_id: str, phone: str) -> None:
    """Give one branch record a new phone, in place (the file becomes a new version)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{local_id},"):
            cells = next(csv.reader([line]))
            cells[4] = phone
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(cells)
            lines[i] = buf.getvalue()
            break
    else:
        raise AssertionError(f"no record {local_id} in {path}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def case(tmp_path: Path):
    case = generate(tmp_path / "movers", customers=400, branches=2, seed=7)
    doc = yaml.safe_load(case.config_path.read_text())
    doc["enrich"] = {"gender": {"tables": ["customers"]}}
    case.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return case


def _singleton(cfg) -> tuple[str, str]:
    """A golden customer of b01 with one branch record: (golden id, local id)."""
    golden, record = _duck(
        cfg,
        "SELECT golden_id, any_value(record_id) FROM core.customer_sources GROUP BY golden_id "
        "HAVING count(*) = 1 AND bool_and(record_id LIKE 'b01:%') ORDER BY golden_id LIMIT 1",
    )[0]
    return golden, record.split(":", 1)[1]


def test_movers_publish_audit_and_api(case, pg_db: str) -> None:
    cfg = load_config(case.config_path)
    assert run(cfg).exit_code == 0
    first = publish_build(cfg, pg_db, keep_versions=1)
    assert first is not None
    # every mover table and job mart is published, with the warehouse's row counts
    for name in PUBLISHED:
        schema = "marts" if name not in ("branches", "customers", "jobs") else "core"
        (duck_rows,) = _duck(cfg, f"SELECT count(*) FROM {schema}.{name}")[0]
        assert first.tables[name] == duck_rows > 0, name
        assert _pg(pg_db, f"SELECT count(*) FROM crmpipe.{name}")[0][0] == duck_rows
    # the golden customers keep their keys and inferred columns in PostgreSQL
    (orphans,) = _pg(pg_db, "SELECT count(*) FROM crmpipe.jobs j LEFT JOIN crmpipe.customers c "
                            "USING (customer_id) WHERE c.customer_id IS NULL")[0]  # fmt: skip
    assert orphans == 0
    assert _pg(pg_db, "SELECT count(*) FROM crmpipe.customers WHERE gender_inferred IS NULL "
                      "AND first_name IS NOT NULL")[0][0] == 0  # fmt: skip
    # the per-customer and per-job marts get their keys and foreign keys
    constraints = set(_pg(pg_db, "SELECT conrelid::regclass::text, contype::text, "
                                 "pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                                 "connamespace = 'crmpipe'::regnamespace"))  # fmt: skip
    for table, kind, definition in [
        ("crmpipe.customer_lifetime", "p", "PRIMARY KEY (customer_id)"),
        ("crmpipe.jobs_duplicates", "p", "PRIMARY KEY (job_id)"),
        (
            "crmpipe.jobs",
            "f",
            "FOREIGN KEY (customer_id) REFERENCES crmpipe.customers(customer_id)",
        ),
    ]:
        assert any(c[0] == table and c[1] == kind and c[2].startswith(definition)
                   for c in constraints), (table, definition, constraints)  # fmt: skip
    assert first.audited["customers"] == {
        "inserted": first.tables["customers"], "updated": 0, "deleted": 0
    }  # fmt: skip

    # a second export: one customer's phone changed at its branch
    golden, local = _singleton(cfg)
    _change_phone(case.folder / "data" / "customers_b01.csv", local, "(737) 555-0199")
    assert run(cfg).exit_code == 0
    second = publish_build(cfg, pg_db, keep_versions=1)
    assert second is not None and second.version == 2
    assert second.audited["customers"]["updated"] >= 1
    history = _pg(pg_db, "SELECT operation, version, run_id, old_row->>'phone', "
                         "new_row->>'phone' FROM audit.customer_changes WHERE golden_id = %s "
                         "ORDER BY change_id", [golden])  # fmt: skip
    assert [h[:3] for h in history] == [("INSERT", 1, 1), ("UPDATE", 2, 2)]
    assert history[1][4] == "+17375550199" and history[1][3] != history[1][4]

    # crmpipe audit customer ID lists the history
    result = runner.invoke(app, ["audit", "customer", golden, "--pg", pg_db, "--format", "json",
                                 "-c", str(case.config_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [c["operation"] for c in listed] == ["INSERT", "UPDATE"]
    (phone,) = [c for c in listed[1]["changes"] if c["column"] == "phone"]
    assert phone["new"] == "+17375550199"
    result = runner.invoke(app, ["audit", "customer", "nobody", "--pg", pg_db])
    assert result.exit_code == 1 and "no customer 'nobody'" in result.output

    # GET /api/customers/{id} over real HTTP: from the warehouse (with lineage) and PostgreSQL
    jobs = {r[0] for r in _duck(cfg, "SELECT job_id FROM core.jobs WHERE customer_id = ?",
                                [golden])}  # fmt: skip
    with Server(cfg) as server:
        status, _, body = server.get(f"/api/customers/{golden}")
        assert status == 200, body
        detail = json.loads(body)
        assert detail["customer"]["customer_id"] == golden
        assert detail["customer"]["phone"] == "+17375550199"
        assert {j["job_id"] for j in detail["jobs"]} == jobs
        assert detail["branch"]["branch_id"] == "b01"
        assert detail["lifetime"] is None or detail["lifetime"]["customer_id"] == golden
        # both versions of the branch's file hold the record: each is a source row
        assert {s["record_id"] for s in detail["sources"]} == {f"b01:{local}"}
        assert detail["sources"][-1]["values"]["Phone"] == "(737) 555-0199"
        status, _, body = server.get("/api/customers/nobody")
        assert status == 404 and "no customer with id 'nobody'" in body
    with Server(cfg, pg_db) as server:
        status, _, body = server.get(f"/api/customers/{golden}")
        assert status == 200, body
        detail = json.loads(body)
        assert {j["job_id"] for j in detail["jobs"]} == jobs
        assert detail["sources"] is None and "DuckDB warehouse" in detail["lineage"]


def test_a_merged_customer_lists_every_branch_record(case) -> None:
    cfg = load_config(case.config_path)
    run(cfg)
    golden, members = _duck(
        cfg,
        "SELECT golden_id, list(record_id ORDER BY record_id) FROM core.customer_sources "
        "GROUP BY golden_id HAVING count(*) > 1 ORDER BY golden_id LIMIT 1",
    )[0]
    with Server(cfg) as server:
        status, _, body = server.get(f"/api/customers/{golden}")
    assert status == 200, body
    detail = json.loads(body)
    assert sorted(s["record_id"] for s in detail["sources"]) == members
    assert all(0 <= (s["match_probability"] or 1) <= 1 for s in detail["sources"])
    assert detail["links"], "a merged customer has the pairs that linked it"


def test_a_masked_key_sees_a_customer_without_pii(case) -> None:
    from crmpipe.api.access import hash_key
    from crmpipe.config.schema import ApiKeySpec, ServeSpec

    cfg = load_config(case.config_path)
    run(cfg)
    keys = [ApiKeySpec(name="partner", hash=hash_key("masked-key-0123456789abcdef"),
                       role="masked")]  # fmt: skip
    served = cfg.model_copy(update={"serve": ServeSpec(keys=keys)})
    golden, email, phone, first = _duck(
        cfg, "SELECT customer_id, email[1], phone, first_name FROM core.customers "
             "WHERE email IS NOT NULL AND phone IS NOT NULL ORDER BY customer_id LIMIT 1",
    )[0]  # fmt: skip
    with Server(served) as server:
        status, _, body = server.get(
            f"/api/customers/{golden}", {"X-API-Key": "masked-key-0123456789abcdef"}
        )
    assert status == 200, body
    for value in (email, phone, first):
        assert value not in body
    detail = json.loads(body)
    assert detail["customer"]["customer_id"] == golden and detail["jobs"]
