"""Publishing through the CLI: `run --pg` (and publish.postgres, CRMPIPE_PG_DSN), `publish`,
`rollback`, `search --pg`; and the sales-funnel case, whose core tables and marts are published
(issue 6: "the marts appear in PostgreSQL when publishing is configured"). Real DuckDB, real
PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import load_config
from crmpipe.demo.datasets import pipedrive, pursuit
from crmpipe.pipeline import run
from crmpipe.publish import publish_build, published_versions
from crmpipe.warehouse.connection import connect

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env={"CRMPIPE_PG_DSN": "", **(env or {})})


def pg_rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return pursuit.generate(tmp_path / "case", contacts=300, seed=5).config_path


def test_run_publish_rollback_and_search_through_the_cli(
    project: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = invoke("run", "-c", str(project), "--pg", pg_db)
    assert first.exit_code == 0, first.output
    # The version's dated label: the newest date of the files its rows came from (none is in
    # these file names, so their modification day).
    assert re.search(r"published: version 1 \(build_\d{8}\) serves as schema crmpipe", first.stdout)
    contacts = pg_rows(pg_db, "SELECT count(*) FROM crmpipe.contact_search")[0][0]
    assert contacts > 250

    # Nothing changed: the serving version is this build, so nothing is published again.
    again = invoke("run", "-c", str(project), "--pg", pg_db)
    assert again.exit_code == 0, again.output
    assert "PostgreSQL up to date" in again.stdout
    assert [v.version for v in published_versions(pg_db)] == [1]

    # `publish` always publishes (here through CRMPIPE_PG_DSN); --full builds a new version
    # even though nothing changed (else the serving version is changed in place).
    second = invoke("publish", "-c", str(project), "--full", env={"CRMPIPE_PG_DSN": pg_db})
    assert second.exit_code == 0, second.output
    assert "published: version 2" in second.stdout

    back = invoke("rollback", "-c", str(project), "--pg", pg_db)
    assert back.exit_code == 0, back.output
    assert "crmpipe_v1 serves again" in back.stdout
    assert {v.version: v.status for v in published_versions(pg_db)} == {
        1: "serving",
        2: "rolled_back",
    }

    # After a rollback the serving build is still this one: `run` doesn't republish.
    assert "PostgreSQL up to date" in invoke("run", "-c", str(project), "--pg", pg_db).stdout

    duck = invoke("search", "-c", str(project), "-f", "json", "filter: bob Accela >10000")
    pg = invoke(
        "search", "-c", str(project), "-f", "json", "--pg", pg_db, "filter: bob Accela >10000"
    )
    assert pg.exit_code == 0, pg.output
    assert json.loads(pg.stdout) == json.loads(duck.stdout)
    # A published database is searched without the project that built it (and without its
    # shorthands, such as `filter:`).
    crm = invoke("search", "-c", str(project), "-f", "json", "crm: a")
    monkeypatch.chdir(project.parent.parent)
    bare = invoke("search", "-f", "json", "--pg", pg_db, "crm: a")
    assert bare.exit_code == 0, bare.output
    assert json.loads(bare.stdout) == json.loads(crm.stdout)
    assert json.loads(crm.stdout)["rows"]

    # The version serving (v1, rolled back to) is not the one this warehouse published last
    # (v2): a full publish, which says why; then nothing changed, so the next goes in place.
    third = invoke("publish", "-c", str(project), "--pg", pg_db)
    assert third.exit_code == 0, third.output
    assert "published: version 3" in third.stdout
    assert "published in full: the version serving (v1) is not the one" in third.stdout
    fourth = invoke("publish", "-c", str(project), "--pg", pg_db)
    assert fourth.exit_code == 0, fourth.output
    assert "version 4" in fourth.stdout and "changed in place" in fourth.stdout
    assert "in place: no row changed" in fourth.stdout
    assert published_versions(pg_db)[1].status == "merged"


def test_publish_postgres_in_the_project_file_publishes_every_run(
    project: Path, pg_db: str
) -> None:
    with project.open("a", encoding="utf-8") as f:
        f.write("publish:\n  postgres: ${TEST_PUBLISH_DSN}\n")
    result = invoke("run", "-c", str(project), env={"TEST_PUBLISH_DSN": pg_db})
    assert result.exit_code == 0, result.output
    assert "published: version 1" in result.stdout
    # Unset, publishing is off: the run just runs.
    quiet = invoke("run", "-c", str(project), env={"TEST_PUBLISH_DSN": ""})
    assert quiet.exit_code == 0 and "published" not in quiet.stdout


def test_cli_publish_errors_are_one_line(project: Path) -> None:
    from crmpipe.publish.pgserver import free_port

    run(load_config(project))
    port = free_port()
    down = invoke("publish", "-c", str(project), "--pg", f"host=127.0.0.1 port={port} user=x")
    assert down.exit_code == 1
    assert down.output.strip().startswith("error: cannot connect to PostgreSQL at 127.0.0.1:")
    assert len(down.output.strip().splitlines()) == 1
    none = invoke("rollback", "-c", str(project))
    assert none.exit_code == 1 and "no PostgreSQL DSN" in none.output
    search = invoke("search", "-c", str(project), "--pg", f"host=127.0.0.1 port={port}", "crm:a")
    assert search.exit_code == 1 and "cannot connect" in search.output


def test_search_on_an_empty_database_says_to_publish(project: Path, pg_db: str) -> None:
    result = invoke("search", "-c", str(project), "--pg", pg_db, "crm:a")
    assert result.exit_code == 1
    assert "nothing is published in database" in result.output
    assert "crmpipe publish" in result.output


def test_the_funnel_marts_are_published(tmp_path: Path, pg_db: str) -> None:
    generated = pipedrive.generate(tmp_path / "funnel", seed=7, deals=200, users=30, shared=False)
    cfg = load_config(generated.config_path)
    run(cfg)
    result = publish_build(cfg, pg_db)
    assert result is not None

    con = connect(cfg.warehouse_path, read_only=True)
    marts = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()
    ]
    assert "rep_sales_funnel_monthly" in marts
    published = {
        r[0]
        for r in pg_rows(
            pg_db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crmpipe'"
        )
    }
    # Every mart, and the core tables that have rows; no contact search without contacts.
    assert set(marts) <= published
    assert {"users", "stages", "deals", "deal_changes", "activities"} <= published
    assert "contact_search" not in published and "contacts" not in published
    for name in ("rep_sales_funnel_monthly", "deals", "users"):
        schema = "marts" if name in marts else "core"
        want = con.execute(f"SELECT * FROM {schema}.{name}").fetchall()
        cols = [d[0] for d in con.execute(f"SELECT * FROM {schema}.{name} LIMIT 0").description]
        got = pg_rows(pg_db, f"SELECT {', '.join(cols)} FROM crmpipe.{name}")
        assert sorted(map(repr, got)) == sorted(map(repr, want)), name
        assert result.tables[name] == len(want)
    # Keys of the funnel's core tables are published too.
    keys = {
        r[0]
        for r in pg_rows(
            pg_db,
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE connamespace = 'crmpipe'::regnamespace AND contype = 'p'",
        )
    }
    assert {"crmpipe.users", "crmpipe.deals", "crmpipe.deal_changes"} <= keys


def test_runuser_found_outside_a_short_path(monkeypatch) -> None:
    """As root, the throwaway cluster runs as `postgres` through runuser, which util-linux puts
    in /usr/sbin: a shell whose PATH is only /usr/bin:/bin (CI's) must still find it."""
    import os
    import shutil

    from crmpipe.publish import pgserver

    if os.geteuid() != 0 or not shutil.which("runuser", path="/usr/sbin:/sbin"):
        pytest.skip("needs root and util-linux's runuser in /usr/sbin or /sbin")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    found = pgserver._runuser()
    assert found is not None and found.endswith("/runuser")
