"""Which queries PostgreSQL reads through one term's candidates first (search.candidates).

The answers are compared with DuckDB's in tests/test_search_differential.py; here, without a
database, which term leads and what the other terms become.
"""

from __future__ import annotations

import pytest

from crmpipe.search import Lookup, PostgresDialect, compile_search, fields_from_list

FIELDS = fields_from_list(
    [
        ("contact_id", "text"),
        ("full_name", "text"),
        ("title", "text"),
        ("emails", "text_list", 3, "_emails_joined"),
        ("state", "code"),
        ("pop_estimate_2022", "number"),
        ("tech_names", "text_list", 7, "_tech_names_joined"),
        ("created_at", "timestamp"),
        ("document", "document"),
    ],
    aliases={"email": "emails", "pop": "pop_estimate_2022", "tech": "tech_names"},
)
LOOKUPS = {
    "state": Lookup('"crmpipe"."entities"', '"state"', '"entity_id"'),
    "pop_estimate_2022": Lookup('"crmpipe"."entities"', '"pop_estimate_2022"', '"entity_id"'),
    "tech_names": Lookup('"crmpipe"."search_values"', '"value"', '"entity_id"', "tech_names"),
    # a vocabulary field: searched by value, not through an entity's key
    "title": Lookup('"crmpipe"."search_values"', '"value"', None, "title"),
}
DIALECT = PostgresDialect(LOOKUPS, trigram=frozenset({"_emails_joined", "full_name"}))


def _lead(query: str):
    return compile_search(query, FIELDS, dialect=DIALECT).lead


@pytest.mark.parametrize(
    ("query", "leads"),
    [
        ("email:bob tech:accela pop>10000", '"_emails_joined" LIKE %s'),
        ("pop>10000 email:bob", '"_emails_joined" LIKE %s'),
        ("email:bob state:CA", '"_emails_joined" LIKE %s'),
        ("email:bob -state:CA", '"_emails_joined" LIKE %s'),
        ("email:bob (state:CA OR pop>5)", '"_emails_joined" LIKE %s'),
        ("full_name:smith state:CA", '"full_name" ILIKE %s'),
        # the longer needle leads: as a rule it has fewer candidates
        ("email:bob full_name:smithson state:CA", '"full_name" ILIKE %s'),
    ],
)
def test_a_substring_term_beside_an_entity_lookup_leads(query: str, leads: str) -> None:
    lead = _lead(query)
    assert lead is not None and lead.where == leads
    assert lead.params[0].strip("%") in query.lower()
    assert lead.where not in lead.rest and "entity_id" in lead.rest


@pytest.mark.parametrize(
    "query",
    [
        "email:bob",  # nothing else to test
        "email:bob title:finance",  # a vocabulary lookup, by value: one statement plans it
        "email:bob created_at>2024-01-01",  # the contact's own column
        "email:ab tech:accela",  # shorter than a trigram: the index can't find it
        "email:.g state:CA",
        "email:bob,alice state:CA",  # two needles
        "email:bob OR state:CA",  # not required
        "-email:bob state:CA",
        "title:finance state:CA",  # no trigram index on title here
        "tech:accela pop>10000",  # the list is looked up, not indexed in the view
        "email:bob state:CA (accela OR granicus)",  # ranked: the page needs every match
    ],
)
def test_other_queries_run_as_one_statement(query: str) -> None:
    assert _lead(query) is None


def test_the_lead_keeps_the_other_terms_parameters_in_order() -> None:
    lead = _lead("tech:accela email:bob pop>10000 state:CA")
    assert lead is not None
    assert lead.params == ["%bob%"]
    # the other terms cheapest first, as the whole query's condition writes them
    assert lead.rest_params == [10000, "ca", "tech_names", "%accela%"]
    assert lead.rest.count("%s") == len(lead.rest_params)


def test_duckdb_has_no_lead() -> None:
    assert compile_search("email:bob state:CA", FIELDS, dialect="duckdb").lead is None
