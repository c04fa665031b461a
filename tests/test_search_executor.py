"""The executor API: SearchResult, capped counts, columns, ordering and `explain`."""

from __future__ import annotations

import pytest

from crmpipe.search import (
    DEFAULT_COLUMNS,
    DuckDBBackend,
    QueryError,
    SearchResult,
    explain,
    load_fields,
    search,
)
from support.search import ALIASES, SHORTHANDS, make_search_db

CRM_A = ["c01", "c03", "c05", "c06", "c11", "c12", "c13", "c20", "c22"]


@pytest.fixture(scope="module")
def con():
    return make_search_db()


def test_result_has_default_columns_rows_total_and_the_sql(con):
    r = search(con, "title: finance", aliases=ALIASES)
    assert isinstance(r, SearchResult)
    assert r.columns == list(DEFAULT_COLUMNS)
    assert r.rows[0] == (
        "c01",
        "Bob Smith",
        "Finance Director",
        ["bob.smith@springfield.gov"],
        "+15550000001",
        "City of Springfield",
        "CA",
    )
    assert (r.total, r.capped, r.total_label) == (7, False, "7")
    assert r.sql.startswith('SELECT "contact_id", "full_name", "title"')
    # every match was collected by the one-scan key query, so the page is read back by rowid
    # (checked against the keys)
    assert 'list_contains(?::VARCHAR[], "contact_id") AND rowid IN (SELECT unnest(' in r.sql
    assert r.params[0] == [row[0] for row in r.rows]
    assert len(r.params[1]) == len(r.rows)
    assert r.elapsed_ms > 0


def test_many_matches_page_with_the_top_n_query(con):
    r = search(con, "crm: a", limit=2, count_cap=3)
    # DuckDB's limits are written in: a `LIMIT ?` slows its scans
    assert r.capped and 'ORDER BY "contact_id" LIMIT 2' in r.sql


def test_count_is_capped(con):
    r = search(con, "crm: a", limit=2, count_cap=5)
    assert [row[0] for row in r.rows] == CRM_A[:2]
    assert (r.total, r.capped, r.total_label) == (5, True, "5+")


def test_a_capped_page_is_bounded_by_the_last_key_found(con):
    r = search(con, "crm: a", limit=2, count_cap=5)
    assert '"contact_id" <= ?' in r.sql and r.params[-1] == CRM_A[1]


@pytest.mark.parametrize("cap", [3, 5, None])
def test_pages_are_right_whatever_order_the_table_is_stored_in(con, cap):
    # Stored in reverse key order, the first matches a scan finds are the largest keys: the
    # page must still be the smallest ones, and the count the same.
    con.execute(
        "CREATE OR REPLACE TABLE search.reversed AS "
        "SELECT * FROM search.contact_search ORDER BY contact_id DESC"
    )
    r = search(con, "crm: a", table="search.reversed", limit=2, count_cap=cap)
    assert [row[0] for row in r.rows] == CRM_A[:2]
    assert r.total == (cap if cap is not None else len(CRM_A))


def test_count_cap_default_label_reads_like_the_design():
    r = SearchResult(["contact_id"], [], 10_000, True, "", [], 1.0)
    assert r.total_label == "10,000+"


def test_count_exactly_at_the_cap_is_not_capped(con):
    r = search(con, "crm: a", limit=1, count_cap=len(CRM_A))
    assert (r.total, r.capped) == (len(CRM_A), False)


def test_count_cap_none_counts_everything(con):
    r = search(con, "crm: a", limit=1, count_cap=None)
    assert (r.total, r.capped) == (len(CRM_A), False)


def test_limit_zero_still_counts(con):
    r = search(con, "crm: a", limit=0)
    assert r.rows == [] and r.total == len(CRM_A)


def test_no_match_is_an_empty_result(con):
    r = search(con, "title:zzzz")
    assert (r.rows, r.total, r.capped) == ([], 0, False)


def test_columns_can_be_chosen_and_unknown_ones_are_errors(con):
    r = search(con, "crm:a", columns=["contact_id", "POP_ESTIMATE_2022"], limit=1)
    assert r.columns == ["contact_id", "pop_estimate_2022"]
    assert r.rows == [("c01", 50000)]
    with pytest.raises(QueryError, match="unknown column 'titel' — did you mean: title?"):
        search(con, "crm:a", columns=["titel"])


def test_bad_limit_or_cap_is_refused(con):
    with pytest.raises(QueryError, match="limit"):
        search(con, "crm:a", limit=-1)
    with pytest.raises(QueryError, match="count_cap"):
        search(con, "crm:a", count_cap=-5)


def test_fields_can_be_loaded_once_and_reused(con):
    fields = load_fields(con, ALIASES)
    r = search(con, "filter: bob Accela >10000", fields=fields, shorthands=SHORTHANDS)
    assert [row[0] for row in r.rows] == ["c01", "c03", "c11", "c15"]


class _Counting:
    """The DuckDB connection, counting the statements run through it."""

    def __init__(self, con) -> None:
        self.con, self.statements = con, []

    def execute(self, sql, params=None):
        self.statements.append(sql)
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)


def test_a_search_asks_the_catalog_and_registry_once_each(con):
    # the default table's kind (table or view: read back by rowid or not), the registry, the
    # table's columns, then the search's two statements: planning cost ~4 ms of every search
    # when each was asked apart
    counting = _Counting(con)
    r = search(DuckDBBackend(counting), "crm:a", limit=100)
    assert [row[0] for row in r.rows] == CRM_A and "rowid IN" in r.sql
    assert len(counting.statements) == 5, counting.statements
    assert sum("duckdb_tables()" in sql for sql in counting.statements) == 1
    assert sum("search_fields" in sql for sql in counting.statements) == 1


def test_missing_search_table_is_a_query_error():
    import duckdb

    with pytest.raises(QueryError, match="meta.search_fields does not exist"):
        search(duckdb.connect(), "title:x")


def test_other_table_names_work(con):
    con.execute("CREATE OR REPLACE TABLE search.other AS SELECT * FROM search.contact_search")
    r = search(con, "crm:a", table="search.other", limit=100)
    assert [row[0] for row in r.rows] == CRM_A


def test_a_view_is_paged_by_key_without_rowids(con):
    con.execute("CREATE OR REPLACE VIEW search.other_view AS SELECT * FROM search.contact_search")
    r = search(con, "crm:a", table="search.other_view", limit=100)
    assert [row[0] for row in r.rows] == CRM_A
    assert "rowid" not in r.sql


def test_explain_shows_sql_params_and_plan(con):
    text = explain(con, "filter: bob Accela >10000", aliases=ALIASES, shorthands=SHORTHANDS)
    assert "expanded: email:bob tech:Accela pop>10000" in text
    assert 'len(list_filter("emails"' in text
    assert "params: [10000, 'bob', 'accela', 50]" in text
    assert "count:" in text and "params: [50, 10000, 'bob', 'accela']" in text
    assert "LIMIT 10001) s" in text  # the cap + 1, written in
    plan = text.split("plan:", 1)[1]
    assert "contact_search" in plan


def test_explain_analyze_runs_the_query(con):
    text = explain(con, "crm:a", analyze=True)
    assert "Total Time" in text or "Query Profiling" in text or "rows" in text.lower()


def test_user_errors_come_out_as_query_errors(con):
    with pytest.raises(QueryError, match="did you mean: title"):
        search(con, "titel:finance")
