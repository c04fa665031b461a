"""Every construct of the query language, run on the hand-made table: exact contact ids.

The expected sets were worked out by hand from `ROWS` (tests/support/search.py); each case
says in its id what it demonstrates.
"""

from __future__ import annotations

import pytest

from crmpipe.search import search
from support.search import ALIASES, ALL_IDS, SHORTHANDS, make_search_db


@pytest.fixture(scope="module")
def con():
    return make_search_db()


def ids(con, query: str, **kw) -> set[str]:
    kw.setdefault("aliases", ALIASES)
    kw.setdefault("shorthands", SHORTHANDS)
    result = search(con, query, limit=100, columns=["contact_id"], **kw)
    return {row[0] for row in result.rows}


def every_but(*excluded: str) -> set[str]:
    return set(ALL_IDS - set(excluded))


CRM_A = {"c01", "c03", "c05", "c06", "c11", "c12", "c13", "c20", "c22"}

CASES = [
    # -- the three reference queries -------------------------------------------------------
    ("title: finance", {"c01", "c02", "c06", "c07", "c11", "c21", "c22"}),
    ("filter: bob Accela >10000", {"c01", "c03", "c11", "c15"}),
    ("crm: a", CRM_A),
    # -- text fields: case-insensitive substring; % and _ are literal -------------------------
    ("title:FINANCE", {"c01", "c02", "c06", "c07", "c11", "c21", "c22"}),
    ('title:"city clerk"', {"c03", "c09"}),
    ('title:"Finance & Budget"', {"c21"}),
    ("title:%", {"c10"}),
    ("title:_", {"c10"}),
    ('title:"100% remote_"', {"c10"}),
    ("display_name:springfield", {"c01", "c06"}),
    ("full_name:BOB", {"c01", "c11", "c12", "c13"}),
    # -- text lists: any element contains the value ------------------------------------------
    ("email:bob", {"c01", "c03", "c10", "c11", "c12", "c13", "c15"}),
    ('email:"bob.k@xtown.gov"', {"c15"}),
    ("tech:tyler", {"c05", "c15", "c22"}),
    ("tech:accela", {"c01", "c03", "c05", "c06", "c11", "c12", "c14", "c15", "c17"}),
    # -- code fields and lists: whole value, any case ------------------------------------------
    ("state:ca", {"c01", "c06", "c09", "c22"}),
    ("state=CA", {"c01", "c06", "c09", "c22"}),
    ("state:C", set()),
    ("contact_id:C01", {"c01"}),
    ("category:Town", {"c03", "c09", "c14", "c15", "c16", "c18"}),
    ("crm:A", CRM_A),
    ("salesforce_ids:SF-001", {"c01", "c06"}),
    # -- value lists (OR within the field) ----------------------------------------------------
    ("state:CA,TX", {"c01", "c02", "c03", "c06", "c09", "c22"}),
    ("title:clerk,treasurer", {"c03", "c05", "c09"}),
    ("crm:a,b", CRM_A | {"c02", "c09", "c15", "c17"}),
    ("pop:10000,50000", {"c01", "c06", "c10", "c12"}),
    # -- numbers: comparisons, equality, ranges open on either side ----------------------------
    ("pop>100000", {"c05", "c11", "c13", "c17", "c18"}),
    ("pop_estimate_2022>100000", {"c05", "c11", "c13", "c17", "c18"}),
    ("pop>=600000", {"c11", "c13", "c17"}),
    ("pop<5000", {"c09"}),
    ("pop<=5000", {"c09", "c19"}),
    ("pop:10000", {"c10", "c12"}),
    ("pop=10000", {"c10", "c12"}),
    ("pop:10000..50000", {"c01", "c03", "c06", "c10", "c12", "c14", "c15", "c16", "c21"}),
    ("pop:..10000", {"c02", "c09", "c10", "c12", "c19"}),
    ("pop:600000..", {"c11", "c13", "c17"}),
    ("lat:40..42", {"c07", "c08", "c19", "c21"}),
    ("long<-120", {"c09", "c10", "c11", "c12", "c13"}),
    ("lat:41.2", {"c07", "c08"}),
    # -- timestamps: a bare date is that whole day ---------------------------------------------
    ("created>2024-01-01", {"c01", "c05", "c08", "c10", "c11", "c12", "c15", "c20", "c21", "c22"}),
    (
        "created>=2024-01-01",
        {"c01", "c03", "c05", "c06", "c08", "c10", "c11", "c12", "c15", "c20", "c21", "c22"},
    ),
    ("created:2024-01-01", {"c03", "c06"}),
    ("created<2024-01-01", {"c02", "c07", "c09", "c13", "c14", "c16", "c17", "c18", "c19"}),
    ("created<=2023-12-31", {"c02", "c07", "c09", "c13", "c14", "c16", "c17", "c18", "c19"}),
    ("created:2024-01-01..2024-02-29", {"c03", "c06", "c08", "c12"}),
    ("created:..2020-12-31", {"c14", "c16"}),
    ("created:2024-12-31", {"c05"}),
    ("created>2024-12-31", {"c11"}),
    ("created>2024-03-01T09:00", {"c01", "c05", "c10", "c11", "c15", "c20", "c21", "c22"}),
    # -- dates ---------------------------------------------------------------------------------
    ("updated_on:2024-01-01", {"c03"}),
    ("updated_on>=2024-01-01", {"c01", "c03", "c05"}),
    ("updated_on<2024-01-01", {"c02"}),
    # -- booleans ------------------------------------------------------------------------------
    ("is_active:false", {"c03"}),
    ("is_active:yes", every_but("c03", "c04", "c08")),
    # -- negation keeps rows whose field is empty ----------------------------------------------
    ("-title:intern", every_but("c06", "c08")),
    ("NOT title:intern", every_but("c06", "c08")),
    ("-crm:a", ALL_IDS - CRM_A),
    ("-pop>10000", {"c02", "c04", "c09", "c10", "c12", "c19"}),
    ("-is_active:true", {"c03", "c04", "c08"}),
    (
        "-tech:accela",
        {"c02", "c04", "c07", "c08", "c09", "c10", "c13", "c16", "c18", "c19", "c20", "c21", "c22"},
    ),
    ("-updated_on:2024-01-01", every_but("c03")),
    ("-(title:clerk OR title:intern)", every_but("c03", "c09", "c06", "c08")),
    ("--title:intern", {"c06", "c08"}),
    # -- free terms: word prefixes in the document -----------------------------------------------
    ("fin", {"c01", "c06", "c07", "c11", "c16", "c21", "c22"}),
    ("finance", {"c01", "c06", "c07", "c11", "c21", "c22"}),
    ("refinance", {"c02"}),
    ("FINANCE", {"c01", "c06", "c07", "c11", "c21", "c22"}),
    ("bob", {"c01", "c03", "c11", "c12", "c13", "c15"}),
    ("bob.smith@springfield.gov", {"c01"}),
    ("springfield", {"c01", "c06"}),
    ("fin -finance", {"c16"}),
    ("fin state:CA", {"c01", "c06", "c22"}),
    # -- phrases: words in that order, consecutive, each a word prefix --------------------------
    ('"finance director"', {"c01", "c22"}),
    ('"fin dir"', {"c01", "c22"}),
    ('"director finance"', {"c21"}),
    ('"of fin"', {"c07"}),
    ('"finance director" accela', {"c01"}),
    ("finance/budget", {"c11", "c21"}),
    # -- OR, AND, groups; AND binds tighter than OR -----------------------------------------------
    ("(title:clerk OR title:treasurer) crm:a", {"c03", "c05"}),
    ("title:clerk OR title:intern state:UT", {"c03", "c08", "c09"}),
    ("title:clerk OR title:intern AND state:UT", {"c03", "c08", "c09"}),
    ("(title:clerk OR title:intern) state:UT", {"c08"}),
    ("title:clerk OR (title:intern state:UT)", {"c03", "c08", "c09"}),
    ("state:UT AND title:intern", {"c08"}),
    (
        "accela OR granicus",
        {"c01", "c02", "c03", "c05", "c06", "c11", "c12", "c13", "c14", "c15", "c17", "c18"},
    ),
    # -- shorthands -------------------------------------------------------------------------------
    ("FILTER: bob accela >=10000", {"c01", "c03", "c11", "c12", "c15"}),
    ('filter: "bob.k" accela >0', {"c15"}),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _ in CASES])
def test_query_returns_exact_ids(con, query, expected):
    assert ids(con, query) == expected


def test_alternative_free_terms_rank_rows_holding_more_of_them_first(con):
    result = search(con, "accela OR granicus", columns=["contact_id"], limit=100)
    order = [r[0] for r in result.rows]
    # c11 holds both; the rest follow in contact_id order.
    assert order[0] == "c11"
    assert order[1:] == sorted(order[1:])


def test_alternatives_matching_more_than_the_cap_come_in_contact_id_order(con):
    result = search(con, "accela OR granicus", columns=["contact_id"], limit=100, count_cap=5)
    order = [r[0] for r in result.rows]
    assert result.capped and order == sorted(order) and order[0] == "c01"
    assert "DESC" not in result.sql


def test_other_queries_are_ordered_by_contact_id(con):
    result = search(con, "fin", columns=["contact_id"], limit=100)
    order = [r[0] for r in result.rows]
    assert order == sorted(order)


def test_aliases_are_optional_config(con):
    assert ids(con, "pop_estimate_2022:..5000", aliases={}) == {"c09", "c19"}
