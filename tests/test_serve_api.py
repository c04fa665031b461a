"""The HTTP API (`crmpipe serve`): a real uvicorn server on a free loopback port over a built
project (DuckDB) and its published PostgreSQL version, queried with urllib: search as JSON and
CSV with paging, a bad query's 400, fields, runs, a run's report, unknown paths, the OpenAPI
description, and the CLI command itself. Real DuckDB, real PostgreSQL, real HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.demo.datasets import pipedrive, pursuit
from crmpipe.funnel.query import funnel_json
from crmpipe.funnel.run import funnel as run_funnel
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.publish.pgserver import free_port
from crmpipe.render import console as show
from crmpipe.search import search
from crmpipe.serve import open_store
from support.server import Server

QUERY = "title: finance"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A generated case, built once."""
    case = pursuit.generate(tmp_path_factory.mktemp("serve"), contacts=800, seed=5)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg


@pytest.fixture(scope="module")
def api(project: Config) -> Iterator[Server]:
    with Server(project) as server:
        yield server


def _expected(cfg: Config, query: str, limit: int, dsn: str | None = None) -> Any:
    with open_store(cfg, dsn) as con:
        return search(
            con,
            query,
            aliases=cfg.search.aliases,
            shorthands=cfg.search.shorthands,
            limit=limit,
            count_cap=cfg.search.count_cap,
        )


def test_search_json_is_what_the_cli_prints(api: Server, project: Config) -> None:
    status, body = api.json("/api/search", q=QUERY, limit=5)
    assert status == 200
    assert body == json.loads(show.result_json(_expected(project, QUERY, 5)))
    assert body["total"] > 5 and len(body["rows"]) == 5
    assert all("finance" in row["title"].lower() for row in body["rows"])


def test_search_csv_is_what_the_cli_prints(api: Server, project: Config) -> None:
    status, headers, text = api.get("/api/search", q=QUERY, limit=5, format="csv")
    ctype = headers["content-type"]
    assert status == 200 and ctype.startswith("text/csv")
    assert text == show.result_csv(_expected(project, QUERY, 5))
    assert len(list(csv.reader(io.StringIO(text)))) == 6


def test_pages_follow_each_other(api: Server) -> None:
    _, whole = api.json("/api/search", q=QUERY, limit=6)
    _, first = api.json("/api/search", q=QUERY, limit=3)
    _, second = api.json("/api/search", q=QUERY, limit=3, offset=3)
    assert first["rows"] + second["rows"] == whole["rows"]
    assert second["total"] == whole["total"]


def test_a_bad_query_is_a_400_with_the_parsers_message(api: Server) -> None:
    status, body = api.json("/api/search", q="title: (finance")
    assert status == 400
    assert body == {"error": "unbalanced parentheses: '(' at column 8 is never closed"}
    status, body = api.json("/api/search", q="titel: finance")
    assert status == 400 and "did you mean: title" in body["error"]


def test_bad_parameters_are_one_line_400s(api: Server) -> None:
    status, body = api.json("/api/search", q=QUERY, limit=0)
    assert status == 400 and "limit" in body["error"] and "\n" not in body["error"]
    status, body = api.json("/api/search")
    assert status == 400 and "q" in body["error"]
    status, body = api.json("/api/search", q=QUERY, limit=5000, offset=6000)
    assert status == 400 and "at most 10,000" in body["error"]


def test_a_parameter_given_twice_is_a_400_not_the_last_value(api: Server) -> None:
    # Answering with the last `table=` would answer another question than the one asked.
    for path, query in (
        ("/api/fields", "table=contact_search&table=nope"),
        ("/api/search", "q=title%3A+finance&limit=5&limit=50"),
    ):
        status, _, body = api.get(f"{path}?{query}")
        assert status == 400, body
        assert json.loads(body) == {
            "error": f"query parameter {query.split('&')[-1].split('=')[0]!r} is given more "
            "than once: send it once"
        }
    status, _, _ = api.get("/api/search?q=title%3A+finance&limit=5&offset=5")
    assert status == 200


def test_fields(api: Server) -> None:
    status, body = api.json("/api/fields")
    assert status == 200
    names = {f["name"]: f for f in body}
    assert {"title", "state", "full_name"} <= names.keys()
    assert all(set(f) == {"name", "kind", "aliases"} for f in body)


def test_runs_and_a_runs_report(api: Server) -> None:
    status, runs = api.json("/api/runs")
    assert status == 200 and runs
    newest = runs[0]
    assert newest["status"] == "success" and newest["rows_loaded"] > 0
    status, report = api.json(f"/api/runs/{newest['run_id']}/report")
    assert status == 200
    assert report["run"]["run_id"] == newest["run_id"]
    status, body = api.json("/api/runs/999/report")
    assert status == 404 and body["error"].startswith("no run 999")


def test_unknown_paths_are_404_json(api: Server) -> None:
    status, body = api.json("/api/nothing")
    assert status == 404 and body == {"error": "no such path: /api/nothing (the API is under /api)"}


def test_openapi_describes_the_endpoints(api: Server) -> None:
    status, schema = api.json("/openapi.json")
    assert status == 200
    assert {
        "/api/search",
        "/api/facets",
        "/api/fields",
        "/api/contacts/{contact_id}",
        "/api/entities/{entity_id}",
        "/api/funnel",
        "/api/runs",
        "/api/runs/{run_id}/report",
    } <= set(schema["paths"])
    status, headers, page = api.get("/docs")
    ctype = headers["content-type"]
    assert status == 200 and ctype.startswith("text/html") and "openapi.json" in page


def test_a_missing_warehouse_is_a_one_line_error(tmp_path: Path, project: Config) -> None:
    cfg = project.model_copy(update={"warehouse": str(tmp_path / "none.duckdb")})
    with Server(cfg) as server:
        status, body = server.json("/api/fields")
    assert status == 503 and "no warehouse yet" in body["error"]


def test_the_cli_serves(project: Config) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from crmpipe.cli import app; app()"]
    args = ["serve", "-c", str(project.path), "--port", str(port)]
    proc = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving on http://127.0.0.1:{port}/"), line
        deadline = time.monotonic() + 20
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/search?q=state%3ACA&limit=1"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert json.loads(resp.read())["rows"]
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_postgresql(project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    with Server(project, pg_db) as server:
        status, body = server.json("/api/search", q=QUERY, limit=5)
        assert status == 200
        assert body == json.loads(show.result_json(_expected(project, QUERY, 5, pg_db)))
        assert body["rows"] and body["total"] > 0
        status, fields = server.json("/api/fields")
        assert status == 200 and "title" in {f["name"] for f in fields}
        status, body = server.json("/api/search", q="title: (finance")
        assert status == 400 and "column 8" in body["error"]
        status, body = server.json("/api/runs")
        assert status == 404 and "DuckDB warehouse" in body["error"]
        status, body = server.json("/api/runs/1/report")
        assert status == 404
        status, body = server.json("/api/funnel")
        assert status == 404 and "DuckDB warehouse" in body["error"]


def _facet_counts(cfg: Config, query: str, field: str, top: int, dsn: str | None = None) -> list:
    """The facet a field should have, counted in Python from every matching row."""
    with open_store(cfg, dsn) as con:
        result = search(con, query, columns=[field], limit=100_000, count_cap=None)
    counts: Counter[Any] = Counter()
    for (value,) in result.rows:
        if isinstance(value, list | tuple):
            counts.update(set(value))
        elif value is not None:
            counts[value] += 1
    ranked = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:top]
    return [{"value": v, "count": n} for v, n in ranked]


def test_facets_count_values_under_the_query(api: Server, project: Config) -> None:
    status, body = api.json("/api/facets", q=QUERY, fields="state,crm,tech_names", top=5)
    assert status == 200 and body["q"] == QUERY
    assert list(body["fields"]) == ["state", "crm", "tech_names"]
    for field in ("state", "crm", "tech_names"):
        assert body["fields"][field] == _facet_counts(project, QUERY, field, 5), field
    assert len(body["fields"]["state"]) == 5
    status, everything = api.json("/api/facets", fields="state")
    assert status == 200
    with open_store(project, None) as con:
        expected = con.execute(
            "SELECT state, count(*) AS n FROM search.contact_search WHERE state IS NOT NULL "
            "GROUP BY state ORDER BY n DESC, state LIMIT 20"
        ).fetchall()
    assert [(f["value"], f["count"]) for f in everything["fields"]["state"]] == expected


def test_facets_refuse_unknown_fields_and_bad_queries(api: Server) -> None:
    status, body = api.json("/api/facets", fields="state,stat")
    assert status == 400 and body == {"error": "unknown facet field 'stat' — did you mean 'state'?"}
    status, body = api.json("/api/facets", fields="document")
    assert status == 400 and body["error"].startswith("unknown facet field 'document'")
    status, body = api.json("/api/facets", fields="state", q="title: (finance")
    assert status == 400 and "column 8" in body["error"]
    status, body = api.json("/api/facets", fields="state", top=0)
    assert status == 400 and "top" in body["error"]
    status, body = api.json("/api/facets", q=QUERY)
    assert status == 400 and "fields" in body["error"]


def test_postgresql_facets(api: Server, project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    with Server(project, pg_db) as server:
        status, body = server.json("/api/facets", q=QUERY, fields="state,crm", top=5)
        assert status == 200
        for field in ("state", "crm"):
            assert body["fields"][field] == _facet_counts(project, QUERY, field, 5, pg_db)
    assert api.json("/api/facets", q=QUERY, fields="state,crm", top=5) == (200, body)


def _merged_contact(cfg: Config) -> tuple[str, int]:
    """A golden contact merged from more than one source row, and how many."""
    with open_store(cfg, None) as con:
        golden, n = con.execute(
            "SELECT golden_id, count(*) AS n FROM core.contact_sources GROUP BY golden_id "
            "HAVING count(*) > 1 ORDER BY n DESC, golden_id LIMIT 1"
        ).fetchone()
    return golden, n


def test_a_contact_with_its_entity_and_lineage(api: Server, project: Config) -> None:
    golden, n = _merged_contact(project)
    status, body = api.json(f"/api/contacts/{golden}")
    assert status == 200
    contact, entity = body["contact"], body["entity"]
    assert contact["contact_id"] == golden and "_source" not in contact
    assert entity["entity_id"] == contact["entity_id"]
    assert all(set(t) == {"name", "type"} for t in body["techstack"])
    assert all({"customer", "system", "external_id"} <= set(c) for c in body["crm_ids"])
    with open_store(project, None) as con:
        (crm_ids,) = con.execute(
            "SELECT count(*) FROM core.external_ids WHERE entity_id = ?", [entity["entity_id"]]
        ).fetchone()
    assert len(body["crm_ids"]) == crm_ids
    sources = body["sources"]
    assert len(sources) == n
    assert all(0 <= s["match_probability"] <= 1 and s["matched_by"] for s in sources)
    assert all(s["values"] and s["values"]["contact_id"] == s["record_id"] for s in sources)
    assert body["links"] and all(
        {link["left_id"], link["right_id"]} <= {s["record_id"] for s in sources}
        for link in body["links"]
    )


def test_an_entity_with_its_contacts(api: Server, project: Config) -> None:
    golden, _ = _merged_contact(project)
    _, contact = api.json(f"/api/contacts/{golden}")
    entity_id = contact["entity"]["entity_id"]
    status, body = api.json(f"/api/entities/{entity_id}")
    assert status == 200 and body["entity"] == contact["entity"]
    assert golden in {c["contact_id"] for c in body["contacts"]}
    assert body["techstack"] == contact["techstack"] and body["crm_ids"] == contact["crm_ids"]


def test_unknown_records_are_404_json(api: Server) -> None:
    assert api.json("/api/contacts/nobody") == (404, {"error": "no contact with id 'nobody'"})
    assert api.json("/api/entities/nothing") == (404, {"error": "no entity with id 'nothing'"})


def test_postgresql_records(api: Server, project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    golden, _ = _merged_contact(project)
    _, duck = api.json(f"/api/contacts/{golden}")
    with Server(project, pg_db) as server:
        status, body = server.json(f"/api/contacts/{golden}")
        assert status == 200
        assert body["contact"]["contact_id"] == golden
        assert body["entity"]["entity_id"] == duck["entity"]["entity_id"]
        assert sorted(map(str, body["techstack"])) == sorted(map(str, duck["techstack"]))
        assert len(body["crm_ids"]) == len(duck["crm_ids"])
        assert body["sources"] is None and "DuckDB warehouse" in body["lineage"]
        status, entity = server.json(f"/api/entities/{duck['entity']['entity_id']}")
        assert status == 200 and golden in {c["contact_id"] for c in entity["contacts"]}
        assert server.json("/api/contacts/nobody")[0] == 404


@pytest.fixture(scope="module")
def sales(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The synthetic Pipedrive case (the funnel marts), built once."""
    case = pipedrive.generate(
        tmp_path_factory.mktemp("serve_funnel"), seed=7, deals=200, users=30, shared=False
    )
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg


def test_the_funnel_is_what_the_cli_prints(sales: Config) -> None:
    assert sales.path is not None
    with Server(sales) as server:
        status, body = server.json("/api/funnel")
        assert status == 200
        assert body == json.loads(funnel_json(run_funnel(sales.path).result))
        assert body["rows"] and body["steps"]
        first, last = body["months"][1], body["months"][2]
        status, some = server.json("/api/funnel", **{"from": first, "to": last})
        expected = run_funnel(sales.path, month_from=first, month_to=last).result
        assert status == 200 and some == json.loads(funnel_json(expected))
        assert some["months"] == [first, last]
        status, bad = server.json("/api/funnel", **{"from": "2024-13"})
        assert status == 400 and bad["error"].startswith("from: expected a month as YYYY-MM")
        status, bad = server.json("/api/funnel", **{"from": last, "to": first})
        assert status == 400 and "is after to" in bad["error"]


def test_no_funnel_marts_is_a_404(api: Server) -> None:
    status, body = api.json("/api/funnel")
    assert status == 404 and body["error"].startswith("no sales funnel in this project")
