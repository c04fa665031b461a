"""The HTTP API against its own OpenAPI description (schemathesis): requests generated from
`/openapi.json` of a real uvicorn server, valid and invalid ones, each sent with a full key and
with a masked key, on the DuckDB warehouse and on the PostgreSQL publication. Every answer must
be one the schema declares (status code, content type, body model), no answer is a 500, and
every error is JSON with a one-line message.

The number of examples per operation is bounded (`EXAMPLES`), and CI derandomizes them (the
hypothesis profile in conftest.py), so each store takes seconds, not minutes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.core.failures import FailureGroup

from crmpipe.api.access import hash_key
from crmpipe.config.load import load_config
from crmpipe.config.schema import ApiKeySpec, Config, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from support.server import Server

FULL, MASKED = "full-key-0123456789abcdef", "masked-key-0123456789abcdef"
KEYS = [
    ApiKeySpec(name="analyst", hash=hash_key(FULL), role="full"),
    ApiKeySpec(name="partner", hash=hash_key(MASKED), role="masked"),
]

#: Generated requests per operation, store and mode (each sent with both keys).
EXAMPLES = 10

#: Parameters fixed to values the store has, per operation, the others generated: random ids
#: and queries alone would only ever reach the 404s and 400s.
KNOWN: dict[str, list[dict[str, Any]]] = {
    "GET /api/search": [{"query": {"q": "title: finance"}}, {"query": {"q": "state: CA,TX"}}],
    "GET /api/facets": [{"query": {"fields": "state,crm,tech_names"}}],
    "GET /api/sql": [{"query": {"q": "select * from contact_search"}}],
    "GET /api/runs/{run_id}/report": [{"path_parameters": {"run_id": 1}}],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A small generated case with both keys configured, built once."""
    case = pursuit.generate(tmp_path_factory.mktemp("schema"), contacts=200, seed=11)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg.model_copy(update={"serve": ServeSpec(keys=KEYS)})


@pytest.fixture(scope="module")
def duckdb_server(project: Config) -> Iterator[Server]:
    with Server(project) as server:
        yield server


def _answers(case: Any, base_url: str) -> None:
    """The case with each key: a declared, well-formed answer; an error is a one-line JSON."""
    for key in (FULL, MASKED):
        response = case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            # A well-formed request may still be refused: a query that doesn't parse (400), a
            # record that doesn't exist (404), a masked key's PII query (403). And a request
            # schemathesis made invalid may reach the server valid: the key header set here
            # replaces its malformed Authorization, and an invalid `limit` it generates can
            # serialize to no parameter at all (seen: a 200 for `?q=...` flagged as invalid).
            # Invalid values that do arrive are refused: tests/test_serve_api.py.
            excluded_checks=[positive_data_acceptance, negative_data_rejection],
        )
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = json.loads(response.text)
            assert set(body) == {"error"} and "\n" not in body["error"], body


def _records(server: Server) -> dict[str, list[dict[str, Any]]]:
    """KNOWN, with a contact and its entity of the served store."""
    status, _, body = server.get("/api/search", {"X-API-Key": FULL}, q="title: finance")
    assert status == 200, body
    contact_id = json.loads(body)["rows"][0]["contact_id"]
    _, _, body = server.get(f"/api/contacts/{contact_id}", {"X-API-Key": FULL})
    entity_id = json.loads(body)["entity"]["entity_id"]
    return {
        **KNOWN,
        "GET /api/contacts/{contact_id}": [{"path_parameters": {"contact_id": contact_id}}],
        "GET /api/entities/{entity_id}": [{"path_parameters": {"entity_id": entity_id}}],
    }


def _failures(server: Server) -> list[str]:
    """Each operation of the server's schema fed EXAMPLES valid and EXAMPLES invalid requests,
    and valid ones around the store's own values: the first failure of each, shrunk."""
    base_url = f"http://127.0.0.1:{server.port}"
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    known = _records(server)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        runs = [
            (mode.value, operation.as_strategy(generation_mode=mode)) for mode in GenerationMode
        ]
        runs += [
            ("known", operation.as_strategy(**fixed)) for fixed in known.get(operation.label, [])
        ]
        for name, strategy in runs:

            @given(case=strategy)
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def answers(case: Any) -> None:
                _answers(case, base_url)

            try:
                answers()
            except (Exception, FailureGroup) as exc:  # one report per operation and run
                failures.append(f"{operation.label} ({name}): {exc}")
    return failures


def test_duckdb_answers_what_the_schema_declares(duckdb_server: Server) -> None:
    failures = _failures(duckdb_server)
    assert not failures, "\n\n".join(failures)


def test_postgresql_answers_what_the_schema_declares(project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    with Server(project, pg_db) as server:
        failures = _failures(server)
    assert not failures, "\n\n".join(failures)
