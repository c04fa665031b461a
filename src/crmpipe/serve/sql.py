"""Read-only SQL on a store, as `crmpipe shell` and the API's /api/sql run it: telling SQL
from a query, cutting statements at their semicolons, refusing anything but one SELECT/WITH with
a message saying why, and running it with a row cap and a timeout (`run_read_only`).

The text checks give the clear message; what guarantees nothing is written is the connection
(the warehouse opened read-only, PostgreSQL sessions in read-only transactions).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from crmpipe.errors import CrmpipeError, first_line
from crmpipe.search import Backend, SearchResult

#: Statements a line may start with to be run as SQL: only these read without writing.
READ_ONLY_SQL = frozenset({"SELECT", "WITH"})
#: First words of SQL statements that are refused (anything that writes, or changes the
#: session); a line starting with one of these and more words is SQL, not a search.
_REFUSED = """ALTER ANALYZE ATTACH BEGIN CALL CHECKPOINT CLUSTER COMMENT COMMIT COPY CREATE
    DEALLOCATE DECLARE DELETE DESCRIBE DETACH DISCARD DO DROP EXECUTE EXPLAIN EXPORT FORCE GRANT
    IMPORT INSERT INSTALL LOAD LOCK MERGE NOTIFY PRAGMA PREPARE REFRESH REINDEX RELEASE RESET
    REVOKE ROLLBACK SAVEPOINT SECURITY SET SHOW START SUMMARIZE TRUNCATE UPDATE UPSERT USE VACUUM"""
REFUSED_SQL = frozenset(_REFUSED.split())
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


class SqlError(CrmpipeError):
    """SQL that won't be run, or was stopped, as one line saying why (and what to do)."""


def _skip_space_and_comments(sql: str, i: int) -> int:
    """The offset of the first character at or after `i` that isn't whitespace or a comment."""
    n = len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    return i


def split_statements(sql: str) -> list[str]:
    """`sql` cut at the semicolons that end statements (not those inside quotes, dollar quotes
    or comments); empty statements are dropped."""
    out: list[str] = []
    start, i, n = 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # '' or "" inside: an escaped quote
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif ch == "$":
            m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if m:
                end = sql.find(m.group(0), i + len(m.group(0)))
                i = n if end < 0 else end + len(m.group(0))
            else:
                i += 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            i = _skip_space_and_comments(sql, i)
        elif ch == ";":
            out.append(sql[start:i])
            i += 1
            start = i
        else:
            i += 1
    out.append(sql[start:])
    return [s.strip() for s in out if s.strip() and _skip_space_and_comments(s, 0) < len(s)]


def first_keyword(sql: str) -> str:
    """The statement's first word, upper-case, after comments and opening parentheses."""
    i = _skip_space_and_comments(sql, 0)
    while i < len(sql) and sql[i] == "(":
        i = _skip_space_and_comments(sql, i + 1)
    m = _FIRST_WORD.match(sql, i)
    return m.group(1).upper() if m else ""


def is_sql(line: str) -> bool:
    """Whether a line is SQL rather than a query: it starts with a statement keyword (SELECT,
    WITH, or one that is refused: INSERT, DROP, SET, ...) followed by more words. A word alone
    is a search; to search for such a word followed by others, quote it: `"select" committee`."""
    word = first_keyword(line)
    return (word in READ_ONLY_SQL or word in REFUSED_SQL) and len(line.split()) > 1


def read_only_statement(sql: str) -> str:
    """The one SELECT/WITH statement in `sql` (without its `;`), or a SqlError saying why not.

    This check gives the clear message; what guarantees nothing is written is the connection:
    the warehouse is opened read-only and PostgreSQL sessions are read-only transactions.
    """
    statements = split_statements(sql)
    if not statements:
        raise SqlError("no SQL statement to run")
    if len(statements) > 1:
        raise SqlError("one SQL statement at a time, please (this line holds several)")
    word = first_keyword(statements[0])
    if word not in READ_ONLY_SQL:
        raise SqlError(
            f"only read-only SQL is run (SELECT or WITH ... SELECT); {word or 'this'} "
            "statements are refused — change data with crmpipe run / crmpipe publish"
        )
    return statements[0]


def psycopg_safe(sql: str, backend: Backend) -> str:
    """psycopg reads `%` as a placeholder whenever parameters are passed: double them."""
    return sql.replace("%", "%%") if backend.name == "postgres" else sql


def run_read_only(
    backend: Backend, text: str, *, limit: int, timeout_s: float | None = None
) -> SearchResult:
    """Run one SELECT/WITH statement: its first `limit` rows (`more` says whether there were
    others). DuckDB is interrupted after `timeout_s`; PostgreSQL sessions have their own
    statement_timeout. Raises SqlError for refused SQL, QueryError for SQL the store refused."""
    statement = read_only_statement(text)
    if backend.name == "duckdb":
        check_duckdb_statement(backend, statement)
    started = time.perf_counter()

    def run() -> tuple[list[str], list[tuple]]:
        import duckdb

        try:
            cursor = backend.execute(psycopg_safe(statement, backend), [])
            if cursor.description is None:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchmany(limit + 1)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:  # PostgreSQL's errors are the backend's QueryErrors
            raise SqlError(first_line(exc)) from None

    columns, rows = timed(backend, run, timeout_s)
    more = len(rows) > limit
    rows = rows[:limit]
    elapsed = (time.perf_counter() - started) * 1000
    return SearchResult(columns, rows, len(rows), more, statement, [], elapsed)


def check_duckdb_statement(backend: Backend, statement: str) -> None:
    """DuckDB's own parser agrees it is one SELECT (the text check can't see everything)."""
    import duckdb

    statements = backend.con.extract_statements(statement)
    if len(statements) != 1:
        raise SqlError("one SQL statement at a time, please (this line holds several)")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = str(statements[0].type).rsplit(".", 1)[-1]
        raise SqlError(
            f"only read-only SQL is run (SELECT or WITH ... SELECT); this is {kind}, refused "
            "— change data with crmpipe run / crmpipe publish"
        )


def timed(backend: Backend, fn: Callable[[], Any], timeout_s: float | None) -> Any:
    """Run `fn`, stopping DuckDB after `timeout_s` (PostgreSQL has its statement_timeout)."""
    if backend.name != "duckdb" or not timeout_s:
        return fn()
    import duckdb

    timer = threading.Timer(timeout_s, backend.con.interrupt)
    timer.start()
    try:
        return fn()
    except duckdb.InterruptException:
        raise SqlError(
            f"stopped after {timeout_s:g} s (the statement timeout); narrow the query or add a "
            "LIMIT"
        ) from None
    finally:
        timer.cancel()
