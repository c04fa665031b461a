"""Compiling: the SQL and parameters for each kind, and the errors a query's meaning can raise."""

from __future__ import annotations

import datetime as dt

import pytest

from crmpipe.search import (
    Dialect,
    DuckDBDialect,
    Field,
    Kind,
    QueryError,
    compile_query,
    compile_search,
    fields_from_list,
    get_dialect,
    load_fields,
)
from support.search import FIELD_SPEC, SHORTHANDS, fixture_fields, make_search_db

FIELDS = fixture_fields()

#: A word character and a separator in the DuckDB word patterns.
W, S = r"[\pL\p{Nd}\p{Nl}]", r"[^\pL\p{Nd}\p{Nl}]"


def sql(query: str) -> tuple[str, list]:
    return compile_query(query, FIELDS, shorthands=SHORTHANDS)


def test_reference_queries_compile_to_simple_parameterized_predicates():
    assert sql("title: finance") == ('contains(lower("title"), ?)', ["finance"])
    assert sql("crm: a") == ('list_contains("crm", ?)', ["a"])
    where, params = sql("filter: bob Accela >10000")
    # Cheap kinds are written first (numbers, then codes, text, lists, the document); the order
    # within a kind is the query's.
    assert where == (
        '("pop_estimate_2022" > ?'
        ' AND len(list_filter("emails", lambda v_: contains(v_, ?))) > 0'
        ' AND len(list_filter("tech_names", lambda v_: contains(v_, ?))) > 0)'
    )
    assert params == [10000, "bob", "accela"]


def test_conditions_are_ordered_by_cost_but_errors_follow_the_query():
    where, params = sql("fin email:x title:y crm:a state:CA pop>1")
    assert params[:5] == [1, "ca", "a", "y", "x"]
    with pytest.raises(QueryError, match="'title' is a text field"):
        sql("title>5 pop:abc")


@pytest.mark.parametrize(
    ("query", "where", "params"),
    [
        ("state:CA,TX", 'lower(CAST("state" AS VARCHAR)) IN (?, ?)', ["ca", "tx"]),
        ("crm:a,b", '(list_contains("crm", ?) OR list_contains("crm", ?))', ["a", "b"]),
        ("-title:intern", 'NOT coalesce(contains(lower("title"), ?), false)', ["intern"]),
        ("pop:1..2", '("pop_estimate_2022" >= ? AND "pop_estimate_2022" <= ?)', [1, 2]),
        ("pop:..2.5", '"pop_estimate_2022" <= ?', [2.5]),
        ("lat>-1e2", '"lat" > ?', [-100.0]),
        ("is_active:no", '"is_active" = ?', [False]),
        ("updated_on>2024-01-01", '"updated_on" > ?', [dt.date(2024, 1, 1)]),
        (
            "created:2024-01-01",
            '("created_at" >= ? AND "created_at" <= ?)',
            [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 23, 59, 59, 999999)],
        ),
        ("created>2024-01-01", '"created_at" > ?', [dt.datetime(2024, 1, 1, 23, 59, 59, 999999)]),
        ("created<2024-01-01", '"created_at" < ?', [dt.datetime(2024, 1, 1)]),
        ("created>2024-01-01T10:30", '"created_at" > ?', [dt.datetime(2024, 1, 1, 10, 30)]),
        # integers beyond BIGINT are compared as doubles rather than failing to bind
        ("pop>99999999999999999999", '"pop_estimate_2022" > ?', [1e20]),
    ],
)
def test_kinds_compile_to_their_predicates(query, where, params):
    assert sql(query) == (where, params)


def test_free_terms_become_substring_prefilters_and_a_word_prefix_pattern():
    where, params = sql('"Finance Dir"')
    assert where == (
        '(contains("document", ?) AND contains("document", ?) AND regexp_matches("document", ?))'
    )
    assert params == ["finance", "dir", f"(?:^|{S})finance{W}*{S}+dir"]


def test_other_numerals_separate_words_as_in_postgres():
    # PostgreSQL's parser splits `9²` into `9`; a superscript is no part of a word here either.
    _, params = sql("9²")
    assert params == ["9", f"(?:^|{S})9"]


def test_all_prefilters_of_a_conjunction_come_before_any_regular_expression():
    where, params = sql('accela "finance director" fin')
    assert where.count("contains") == 4
    assert params[:4] == ["accela", "director", "finance", "fin"]
    assert all(p.startswith("(?:^") for p in params[-3:])


def test_free_terms_under_or_and_not_keep_their_prefilters_inside():
    where, _ = sql("-fin OR bob")
    assert where == (
        '(NOT coalesce((contains("document", ?) AND regexp_matches("document", ?)), false)'
        ' OR (contains("document", ?) AND regexp_matches("document", ?)))'
    )


def test_rank_only_when_free_terms_are_alternatives():
    assert compile_search("fin dir", FIELDS).rank is None
    assert compile_search("fin -dir", FIELDS).rank is None
    ranked = compile_search("accela OR granicus", FIELDS)
    assert ranked.rank == (
        '(CAST(regexp_matches("document", ?) AS INTEGER)'
        ' + CAST(regexp_matches("document", ?) AS INTEGER))'
    )
    assert ranked.rank_params == [f"(?:^|{S})accela", f"(?:^|{S})granicus"]


def test_word_pattern_escapes_everything_but_letters_and_digits():
    # Words only ever hold letters and digits, but the pattern builder is safe regardless.
    assert DuckDBDialect.word_pattern(["a.b", "é"]) == f"(?:^|{S})a\\x{{2e}}b{W}*{S}+é"


def test_values_never_become_sql_text():
    nasty = "x'); DROP TABLE t; --"
    where, params = sql(f'title:"{nasty}" "{nasty}" email:"{nasty}" state:"{nasty}"')
    assert "DROP" not in where and "'" not in where
    assert nasty.lower() in params


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("titel:finance", "unknown field 'titel' — did you mean: title?"),
        ("sate:CA", "unknown field 'sate' — did you mean: state?"),
        ("tech_name:x", "unknown field 'tech_name' — did you mean: tech_names?"),
        ("xyzzy:1", "unknown field 'xyzzy' — known fields: category, contact_id, created, "),
        ("document:foo", "'document' is the free-text document"),
        ("title>5", "'title' is a text field: comparisons (>) apply to number and date fields"),
        ("title=5", "'title' is a text field: comparisons (=) apply"),
        ("email<=x", "'email' is a text list field"),
        ("state:1..2", "ranges (a..b) apply to number and date fields; 'state' is a code field"),
        ("pop:..", "a range needs at least one bound"),
        ("pop:abc", "'pop' is a number field: 'abc' is not a number"),
        ("pop>10,000", "unexpected ','"),
        (
            "pop:10,000",
            "'pop:10,000' looks like a number with thousands separators — write pop:10000",
        ),
        ("pop>1e999", "the number '1e999' is too large"),
        ("pop>nan", "'nan' is not a number"),
        ("created>2024-13-01", "'created' is a date field: '2024-13-01' is not a valid date"),
        ("created>yesterday", "(write YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])"),
        ("updated_on:2024-01-01T10:00", "(write YYYY-MM-DD)"),
        ("is_active:maybe", "use is_active:true or is_active:false"),
        ('title:""', "empty value for 'title'"),
        ("@@@", "nothing to search for in @@@"),
        ('"..."', 'nothing to search for in "..."'),
    ],
)
def test_meaning_errors(query, message):
    with pytest.raises(QueryError) as e:
        sql(query)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_field_error_carries_suggestions_and_position():
    with pytest.raises(QueryError) as e:
        sql("state:CA titel:finance")
    assert e.value.suggestions == ("title",)
    assert e.value.position == 9
    assert e.value.query == "state:CA titel:finance"


def test_unknown_field_without_close_match_lists_the_fields_not_the_document():
    with pytest.raises(QueryError) as e:
        sql("zzz:1")
    assert e.value.suggestions == ()
    assert "pop_estimate_2022" in str(e.value) and "document" not in str(e.value)


def test_error_in_expanded_shorthand_names_it():
    with pytest.raises(QueryError) as e:
        sql("filter: bob accela >lots")
    assert "'pop' is a number field: 'lots' is not a number" in str(e.value)
    assert "expanded from shorthand 'filter'" in str(e.value)


def test_free_terms_need_a_document_field():
    no_doc = fields_from_list([("title", "text")])
    with pytest.raises(QueryError, match="no free-text document"):
        compile_query("finance", no_doc)
    assert compile_query("title:finance", no_doc)[1] == ["finance"]


# -- fields and dialects ------------------------------------------------------------------


def test_load_fields_reads_meta_table_and_applies_aliases():
    con = make_search_db()
    fields = load_fields(con, {"pop": "pop_estimate_2022", "ghost": "not_a_column"})
    assert fields["pop"] == Field("pop", "pop_estimate_2022", Kind.NUMBER, 8)
    assert "ghost" not in fields  # an alias for a column this build lacks is skipped
    assert {f.column for f in fields.values()} == {c for c, _ in FIELD_SPEC}


def test_load_fields_without_meta_table_is_a_query_error():
    import duckdb

    with pytest.raises(QueryError, match="meta.search_fields does not exist"):
        load_fields(duckdb.connect(), {})


def test_unknown_kind_is_reported():
    with pytest.raises(ValueError, match="unknown kind 'blob'"):
        fields_from_list([("x", "blob")])


def test_alias_wins_over_a_column_of_the_same_name():
    fields = fields_from_list([("email", "text"), ("emails", "text_list")], {"email": "emails"})
    assert fields["email"].column == "emails"


def test_dialects_are_pluggable():
    assert isinstance(get_dialect("duckdb"), DuckDBDialect)
    with pytest.raises(ValueError, match="unknown SQL dialect 'oracle'; known: duckdb"):
        get_dialect("oracle")

    class Shouty(DuckDBDialect):
        name = "shouty"

        def text_contains(self, column, needle):
            return super().text_contains(column, needle.upper())

    assert compile_query("title:x", FIELDS, dialect=Shouty())[1] == ["X"]
    assert issubclass(DuckDBDialect, Dialect)


def test_list_fields_use_their_joined_text_column_when_the_build_made_one():
    from crmpipe.search import compile_query, fields_from_list

    fields = fields_from_list([("emails", "text_list", 1, "_emails_joined")])
    where, params = compile_query("emails:bob", fields)
    assert where == 'contains("_emails_joined", ?)' and params == ["bob"]
    # a needle holding the separator can't use the joined text (it could span two elements)
    where, _ = compile_query('emails:"a\x1fb"', fields)
    assert "list_filter" in where


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("bob", ('"_emails_joined" LIKE %s', ["%bob%"])),
        ("bob.smith", ('"_emails_joined" LIKE %s', ["%bob.smith%"])),
        ("a_1x9", ('"_emails_joined" LIKE %s', ["%a\\_1x9%"])),
        # no run of three letters or digits: no trigram for the index to look up
        ("jo", ('strpos("_emails_joined", %s) > 0', ["jo"])),
        (".g", ('strpos("_emails_joined", %s) > 0', [".g"])),
        ("a_b", ('strpos("_emails_joined", %s) > 0', ["a_b"])),
        ("@", ('strpos("_emails_joined", %s) > 0', ["@"])),
    ],
)
def test_postgres_reads_the_trigram_index_only_for_needles_it_can_find(needle, expected):
    """A needle without a trigram of its own would have PostgreSQL read the whole trigram index
    (seconds at 4.5M contacts): it is tested row by row instead, with the same answer."""
    from crmpipe.search import compile_query, fields_from_list

    fields = fields_from_list([("emails", "text_list", 1, "_emails_joined")])
    where, params = compile_query(f'emails:"{needle}"', fields, dialect="postgres")
    assert (where, params) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("created>2024-01-01", ("created_at", dt.datetime(2024, 1, 1, 23, 59, 59, 999999), None)),
        (
            "created:2023-01-01..2023-06-30",
            ("created_at", dt.datetime(2023, 1, 1), dt.datetime(2023, 6, 30, 23, 59, 59, 999999)),
        ),
        (
            "created>=2023-01-01 created<2023-03-02T10:00 created<2023-05-01",
            ("created_at", dt.datetime(2023, 1, 1), dt.datetime(2023, 3, 2, 10, 0)),
        ),
        ("updated_on=2024-02-03", ("updated_on", dt.date(2024, 2, 3), dt.date(2024, 2, 3))),
        ("updated_on<=2024-02-03", ("updated_on", None, dt.date(2024, 2, 3))),
        ("created:2024-01-01,2024-03-01", None),  # either day: an OR
        ("created>2024-01-01 OR created<2015-01-01", None),
        ("-created>2024-01-01", None),
        ("created>2024-01-01 updated_on>2024-01-01", None),  # two fields
        ("pop>10", None),  # a number
        ("title:finance OR created>2024-01-01", None),  # not required
    ],
)
def test_date_range_is_set_only_for_a_range_on_one_date_field(query, expected):
    """CompiledQuery.date_range: the bounds of a query that is nothing but a range on one date
    or timestamp field (PostgreSQL pages it month by month), None for anything else."""
    got = compile_search(query, FIELDS, shorthands=SHORTHANDS).date_range
    assert (got and (got.column, got.low, got.high)) == expected
    assert got is None or got.alone


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("created>2024-01-01 title:finance", (dt.datetime(2024, 1, 1, 23, 59, 59, 999999), None)),
        (
            "state:CA created:2023-01-01..2023-06-30 -title:x",
            (dt.datetime(2023, 1, 1), dt.datetime(2023, 6, 30, 23, 59, 59, 999999)),
        ),
        ("created:2024-01-01,2024-03-01 created<2025-01-01", (None, dt.datetime(2025, 1, 1))),
        ("(title:a OR title:b) created>=2023-01-01", (dt.datetime(2023, 1, 1), None)),
    ],
)
def test_a_date_range_beside_other_terms_is_a_range_not_alone(query, expected):
    """A range the query requires beside other conditions bounds its matches' months too
    (PostgreSQL walks them month by month with the other conditions tested on the way);
    `alone` says the range is not the whole query. Only required comparisons bound it."""
    got = compile_search(query, FIELDS, shorthands=SHORTHANDS).date_range
    assert got is not None and not got.alone and got.column == "created_at"
    assert (got.low, got.high) == expected
