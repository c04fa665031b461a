"""`GET /api/sql`: read-only SQL for full keys, with the shell's rules (one SELECT, a row cap,
the statement timeout), never for masked keys; on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from crmpipe.api.access import hash_key
from crmpipe.config.load import load_config
from crmpipe.config.schema import ApiKeySpec, Config, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.serve import open_store
from support.server import Server

FULL, MASKED = "full-key-0123456789abcdef", "masked-key-0123456789abcdef"
KEYS = [
    ApiKeySpec(name="analyst", hash=hash_key(FULL), role="full"),
    ApiKeySpec(name="partner", hash=hash_key(MASKED), role="masked"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    case = pursuit.generate(tmp_path_factory.mktemp("sql"), contacts=300, seed=3)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg.model_copy(update={"serve": ServeSpec(keys=KEYS)})


@pytest.fixture(scope="module")
def api(project: Config) -> Iterator[Server]:
    with Server(project) as server:
        yield server


def _sql(server: Server, q: str, key: str = FULL, **params: object) -> tuple[int, dict]:
    status, _, body = server.get("/api/sql", {"X-API-Key": key}, q=q, **params)
    return status, json.loads(body)


def test_a_full_key_runs_a_select_on_bare_table_names(api: Server, project: Config) -> None:
    status, body = _sql(api, "select count(*) as n from contact_search")
    with open_store(project, None) as con:
        (expected,) = con.execute("SELECT count(*) FROM search.contact_search").fetchone()
    assert status == 200
    assert body["rows"] == [{"n": expected}] and body["capped"] is False


def test_rows_are_capped_and_csv_is_offered(api: Server) -> None:
    status, body = _sql(api, "select contact_id from contacts order by 1", limit=5)
    assert status == 200 and len(body["rows"]) == 5 and body["capped"] is True
    status, headers, text = api.get(
        "/api/sql", {"X-API-Key": FULL}, q="select 1 as one", format="csv"
    )
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert text.splitlines() == ["one", "1"]


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("delete from contacts", "DELETE statements are refused"),
        ("select 1; select 2", "one SQL statement at a time"),
        ("select * from no_such_table", "no_such_table"),
    ],
)
def test_anything_but_one_select_is_a_400_with_the_reason(
    api: Server, q: str, message: str
) -> None:
    status, body = _sql(api, q)
    assert status == 400 and message in body["error"]
    assert "\n" not in body["error"]


def test_a_masked_key_never_runs_sql(api: Server) -> None:
    status, body = _sql(api, "select emails from contacts", key=MASKED)
    assert status == 403 and "masked keys can't run SQL" in body["error"]
    status, _ = _sql(api, "select 1", key="not-a-key")
    assert status == 401


def test_on_postgresql(project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    with Server(project, pg_db) as server:
        status, body = _sql(server, "select count(*) as n from contact_search")
        assert status == 200 and body["rows"][0]["n"] > 250
        # The session is read-only whatever the text says.
        status, body = _sql(server, "with x as (delete from contacts returning 1) select 1")
        assert status == 400
        status, body = _sql(server, "select count(*) as n from contacts")
        assert status == 200 and body["rows"][0]["n"] > 250
