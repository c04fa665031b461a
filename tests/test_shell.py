"""`crmpipe shell`: lines (queries, read-only SQL, backslash commands) on the DuckDB warehouse and
on PostgreSQL, piped input (the scripted path, through the real CLI too), the real prompt driven
through prompt_toolkit's pipe input, completion and paging. Real DuckDB, real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from rich.console import Console
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.serve.sql import (
    SqlError,
    first_keyword,
    is_sql,
    read_only_statement,
    split_statements,
)
from crmpipe.shell.prompt import completer, completions, run_prompt
from crmpipe.shell.session import Shell, run_script
from support.search import ALIASES, SHORTHANDS, make_search_db, make_search_pg

FINANCE = ["c01", "c02", "c06", "c07", "c11", "c21", "c22"]  # title contains "finance"


def _shell(con: object, **kwargs: object) -> tuple[Shell, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    session = Shell(
        con,
        aliases=ALIASES,
        shorthands=SHORTHANDS,
        console=Console(file=out, width=200, force_terminal=False),
        err_console=Console(file=err, width=1000, force_terminal=False),
        **kwargs,  # type: ignore[arg-type]
    )
    return session, out, err


@pytest.fixture(scope="module")
def duck():
    return make_search_db()


@pytest.fixture(scope="module")
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """The search fixture in PostgreSQL, through a read-only search session (as the shell's)."""
    from psycopg.conninfo import make_conninfo

    from crmpipe.serve import connect_pg

    name = f"test_shell_{os.getpid()}"  # unique on a shared CRMPIPE_TEST_PG_DSN
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    dsn = make_conninfo(pg_dsn, dbname=name)
    make_search_pg(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE crmpipe.scratch (x int)")
    conn = connect_pg(dsn, statement_timeout="2s")
    yield conn
    conn.close()
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest) -> object:
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")


# -- telling SQL from queries ---------------------------------------------------------------


def test_sql_is_told_from_queries() -> None:
    assert is_sql("SELECT 1") and is_sql("  with x as (select 1) select * from x")
    assert is_sql("select count(*) from t") and is_sql("DROP TABLE x")
    assert not is_sql("select")  # a word alone is a search
    assert not is_sql("title: finance") and not is_sql("fin OR accela")
    assert not is_sql('"select" committee')
    assert first_keyword("/* hi */ -- there\n (SELECT 1)") == "SELECT"


def test_statements_split_outside_quotes_and_comments() -> None:
    assert split_statements("select 1;") == ["select 1"]
    assert split_statements("select ';' as a; -- x;\n") == ["select ';' as a"]
    assert split_statements("select $$a;b$$; select 2") == ["select $$a;b$$", "select 2"]
    assert split_statements('select "a;b" from t /* ; */') == ['select "a;b" from t /* ; */']
    assert read_only_statement("  select 1 ; ") == "select 1"
    with pytest.raises(SqlError, match="one SQL statement at a time"):
        read_only_statement("select 1; drop table x")
    with pytest.raises(SqlError, match="DELETE statements are refused"):
        read_only_statement("delete from t")


# -- lines on both stores -------------------------------------------------------------------


def test_queries_print_tables_csv_and_json(store: object) -> None:
    session, out, err = _shell(store)
    assert run_script(session, ["title: finance", "\\format csv", "title: finance"]) == 0
    text = out.getvalue()
    assert "7 matching" in text and "Finance Director" in text
    rows = list(csv.DictReader(io.StringIO(text.split("format: csv\n", 1)[1])))
    assert [r["contact_id"] for r in rows] == FINANCE
    session.run_line("\\format json")
    out.truncate(0)
    out.seek(0)
    session.run_line("filter: bob Accela >10000")
    answer = json.loads(out.getvalue())
    assert answer["total"] == len(answer["rows"]) > 0
    assert err.getvalue() == ""


def test_limit_and_fields(store: object) -> None:
    session, out, _ = _shell(store, fmt="csv")
    session.run_line("\\limit 2")
    session.run_line("title: finance")
    assert out.getvalue().splitlines()[1:] == [
        "contact_id,full_name,title,emails,phone,display_name,state",
        "c01,Bob Smith,Finance Director,bob.smith@springfield.gov,+15550000001,City of "
        "Springfield,CA",
        "c02,Alice Jones,Refinance Officer,alice.jones@shelbyville.gov,+15550000002,City of "
        "Shelbyville,TX",
    ]
    session.run_line("\\fields")
    fields = out.getvalue()
    assert "pop_estimate_2022" in fields and "pop" in fields and "number" in fields
    assert "free text" in fields  # the document, explained


def test_read_only_sql_runs_and_writes_are_refused(store: object) -> None:
    session, out, err = _shell(store, fmt="csv")
    pg = session.backend.name == "postgres"
    table = "crmpipe.contact_search" if pg else "search.contact_search"
    session.run_line(
        f"SELECT state, count(*) AS n FROM {table} GROUP BY state ORDER BY n DESC, state LIMIT 2;"
    )
    assert out.getvalue().splitlines() == ["state,n", "CA,3", "WA,3"]
    session.run_line(f"select title from {table} where title like '%\\%%' escape '\\'")
    assert "100% Remote_Admin" in out.getvalue()
    for line in (
        f"DELETE FROM {table}",
        f"drop table {table}",
        "select 1; select 2",
        "insert into t values (1)",
    ):
        assert session.run_line(line)
    errors = err.getvalue().splitlines()
    assert len(errors) == 4 and all(e.startswith("error: ") for e in errors)
    assert "DELETE statements are refused" in errors[0]
    assert "one SQL statement at a time" in errors[2]
    assert session.errors == 4


def test_published_tables_answer_to_their_bare_names(pg: psycopg.Connection) -> None:
    session, out, err = _shell(pg, fmt="csv")
    session.run_line("select count(*) AS n from contact_search")
    assert err.getvalue() == ""
    assert out.getvalue().splitlines()[0] == "n" and int(out.getvalue().splitlines()[1]) > 0


def test_a_write_hidden_in_a_select_is_refused_by_the_store(store: object) -> None:
    session, _, err = _shell(store)
    if session.backend.name == "postgres":
        line = "WITH d AS (DELETE FROM crmpipe.scratch RETURNING x) SELECT * FROM d"
    else:
        line = "WITH d AS (SELECT 1) INSERT INTO search.contact_search SELECT * FROM d"
    session.run_line(line)
    assert session.errors == 1
    assert "read-only" in err.getvalue() or "refused" in err.getvalue()


def test_explain_export_and_errors(store: object, tmp_path: Path) -> None:
    session, out, err = _shell(store)
    session.run_line("\\explain title: finance")
    text = out.getvalue()
    assert "rows:" in text and "plan:" in text and "finance" in text
    session.run_line("\\explain select 1")
    assert "sql:\nselect 1" in out.getvalue()
    target = tmp_path / "finance.csv"
    session.run_line(f"\\export {target} title: finance")
    assert f"wrote 7 rows to {target} as csv" in out.getvalue()
    assert [r["contact_id"] for r in csv.DictReader(target.open())] == FINANCE
    spaced = tmp_path / "with space.json"
    session.run_line(f'\\export "{spaced}" crm:a')
    assert len(json.loads(spaced.read_text())["rows"]) == 9
    for line in ("titel:finance", "\\limit x", "\\format xml", "\\explian crm:a", "\\export x"):
        session.run_line(line)
    errors = err.getvalue().splitlines()
    assert errors[0] == "error: unknown field 'titel' — did you mean: title?"
    assert "did you mean \\explain?" in errors[3]
    assert len(errors) == 5
    assert not session.run_line("\\q")


def test_postgres_statement_timeout_is_one_line(pg: psycopg.Connection) -> None:
    session, _, err = _shell(pg)
    session.run_line("select pg_sleep(5)")
    assert "PostgreSQL cancelled the query" in err.getvalue()
    assert session.run_line("title: finance")  # the session still works
    assert session.errors == 1


def test_duckdb_statement_timeout_stops_the_query(duck) -> None:
    session, _, err = _shell(duck, timeout_s=0.2)
    session.run_line("select count(*) from range(10000000000) a")
    assert "stopped after 0.2 s" in err.getvalue()


# -- completion, paging, the real prompt --------------------------------------------------


def test_completion_of_fields_commands_and_formats() -> None:
    fields = ["title", "tech_names", "tech", "state"]
    assert completions("tit", fields) == [("title:", -3)]
    assert completions("state:CA -te", fields) == [("tech:", -2), ("tech_names:", -2)]
    assert completions("(tit", fields) == [("title:", -3)]
    assert completions("title:fin", fields) == []
    assert completions("\\ex", fields) == [("\\explain", -3), ("\\export", -3)]
    assert completions("\\format j", fields) == [("json", -1)]
    assert completions("select ti", fields) == [("title", -2)]  # SQL: no colon
    assert completions("fil", fields, ["filter"]) == [("filter:", -3)]


def test_long_output_goes_to_the_pager(duck) -> None:
    session, out, _ = _shell(duck)
    paged: list[str] = []
    session.pager = paged.append
    session.console.height = 10
    session.run_line("crm:a")
    assert len(paged) == 1 and "c01" in paged[0] and out.getvalue() == ""
    session.run_line("\\limit 1")
    session.run_line("contact_id:c01")
    assert len(paged) == 1 and "c01" in out.getvalue()  # short: printed


def test_the_interactive_prompt(duck, tmp_path: Path) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    session, out, _ = _shell(duck, fmt="csv")
    history = tmp_path / "history"
    with create_pipe_input() as inp:
        inp.send_text("title: finance\r\\limit 1\rcrm: a\r\\q\r")
        status = run_prompt(session, history=history, input=inp, output=DummyOutput(), pager=False)
    assert status == 0
    text = out.getvalue()
    assert "crmpipe shell on duckdb" in text
    assert "c22,Ray Chen" in text and "limit: 1 rows" in text
    assert text.rstrip().endswith(
        "c01,Bob Smith,Finance Director,bob.smith@springfield.gov,"
        "+15550000001,City of Springfield,CA"
    )
    assert "title: finance" in history.read_text() and "crm: a" in history.read_text()


def test_the_prompt_completes_field_names(duck) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    session, _, _ = _shell(duck)
    got = [
        c.text
        for c in completer(session).get_completions(Document("email:bob te"), CompleteEvent())
    ]
    assert got == ["tech:", "tech_names:"]


# -- through the CLI ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crmpipe.demo.datasets import pursuit
    from crmpipe.pipeline import run_path

    case = pursuit.generate(tmp_path_factory.mktemp("shell_cli"), contacts=500, seed=3)
    run_path(case.config_path)
    return case.config_path


def test_cli_shell_reads_piped_lines(project: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["shell", "-c", str(project)],
        input="\\format csv\n\\limit 3\ncrm: a\nselect count(*) from contact_search\n",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0:2] == ["format: csv", "limit: 3 rows"]
    assert lines[2].startswith("contact_id,full_name,title")
    assert lines[-2] == "count_star()" and 400 < int(lines[-1]) <= 500


def test_cli_shell_exit_status_says_a_line_failed(project: Path) -> None:
    result = CliRunner().invoke(app, ["shell", "-c", str(project)], input="titel:x\ncrm:a\n")
    assert result.exit_code == 1
    assert "error: unknown field 'titel'" in result.output
