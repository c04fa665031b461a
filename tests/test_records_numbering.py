"""The records snapshot's numbers (`_rid`): each record's place in (recency, key) order, set
after a write on every thread (warehouse.connection.number_by_rowid), in a transaction or not."""

from __future__ import annotations

import pytest

from crmpipe.model import CONTACTS, physical_columns
from crmpipe.resolution.records import snapshot_records
from crmpipe.warehouse.connection import connect

#: more rows than a row group (122,880): written by several threads, in several row groups
ROWS = 300_000


@pytest.mark.parametrize("in_transaction", [False, True])
def test_records_are_numbered_in_recency_then_key_order(tmp_path, in_transaction) -> None:
    con = connect(tmp_path / "w.duckdb")
    try:
        cols = ", ".join(
            f"CAST(NULL AS {t}) AS {n}"
            for n, t in physical_columns(CONTACTS)
            if n not in ("contact_id", "_file", "_row")
        )
        con.execute("INSERT INTO meta.manifest (file, file_mtime) VALUES ('b.csv', now()), "
                    "('a.csv', now() - INTERVAL 1 DAY)")  # fmt: skip
        if in_transaction:
            con.execute("BEGIN")
        # rows stored out of order; `_row` repeats across files and keys (several records of
        # one source row), so the key breaks ties in its text order (k10 before k9)
        con.execute(
            f"CREATE TABLE core.contacts AS SELECT 'k' || (i * 7919 % {ROWS}) AS contact_id, "
            "CASE WHEN i % 3 = 0 THEN 'b.csv' ELSE 'a.csv' END AS _file, "
            f"CAST(i % 1000 AS BIGINT) AS _row, {cols} FROM range({ROWS}) t(i) "
            "ORDER BY md5(CAST(i AS VARCHAR))"
        )
        assert snapshot_records(con, CONTACTS, full=True) == ROWS
        wrong = con.execute(
            "SELECT count(*) FROM (SELECT _rid, row_number() OVER (ORDER BY _rec, "
            "CAST(contact_id AS VARCHAR)) AS n FROM resolved.contact_records) WHERE _rid <> n"
        ).fetchone()[0]
        assert wrong == 0
        # stored in that order too (Splink and the lookups read them by `_rid`)
        out_of_order = con.execute(
            "SELECT count(*) FROM (SELECT _rid, lag(_rid) OVER (ORDER BY rowid) AS p "
            "FROM resolved.contact_records) WHERE _rid <> p + 1"
        ).fetchone()[0]
        assert out_of_order == 0
        if in_transaction:
            con.execute("COMMIT")
    finally:
        con.close()
