"""A small hand-made search table for the query-language tests (real DuckDB, in memory).

It has every field kind, NULLs and empty lists, and rows chosen so each construct has a telling
answer (`fin` vs `refinance`, `%` in a title, a contact's second email or tech name, a population
of exactly 10,000, timestamps at the edges of a day). The search, shell and docs tests build it
with `make_search_db` (DuckDB) or `make_search_pg` (PostgreSQL, laid out as a publish would);
tests/test_search_fixtures.py checks that the table is what they assume.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from crmpipe.search import fields_from_list

#: Config the tests use (as in crmpipe.yml, plus `created` for dates).
ALIASES = {
    "pop": "pop_estimate_2022",
    "tech": "tech_names",
    "email": "emails",
    "created": "created_at",
}
SHORTHANDS = {"filter": "email:{1} tech:{2} pop{3}"}

#: (column, kind) in meta.search_fields order; `phone` is a display column, not a field.
FIELD_SPEC = [
    ("contact_id", "code"),
    ("full_name", "text"),
    ("title", "text"),
    ("emails", "text_list"),
    ("display_name", "text"),
    ("state", "code"),
    ("category", "code"),
    ("pop_estimate_2022", "number"),
    ("lat", "number"),
    ("long", "number"),
    ("created_at", "timestamp"),
    ("updated_on", "date"),
    ("tech_names", "text_list"),
    ("crm", "code_list"),
    ("salesforce_ids", "code_list"),
    ("is_active", "boolean"),
    ("document", "document"),
]

COLUMNS = """
    contact_id VARCHAR, full_name VARCHAR, title VARCHAR, emails VARCHAR[], phone VARCHAR,
    display_name VARCHAR, state VARCHAR, category VARCHAR, pop_estimate_2022 BIGINT,
    lat DOUBLE, long DOUBLE, created_at TIMESTAMP, updated_on DATE, tech_names VARCHAR[],
    crm VARCHAR[], salesforce_ids VARCHAR[], is_active BOOLEAN
"""


def _ts(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s) if s else None


def _d(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


# fmt: off
#: id, name, title, emails, phone, display_name, state, category, pop, lat, long,
#: created_at, updated_on, tech_names, crm, salesforce_ids, is_active
ROWS: list[tuple] = [
    ("c01", "Bob Smith", "Finance Director", ["bob.smith@springfield.gov"], "+15550000001",
     "City of Springfield", "CA", "city", 50000, 34.05, -118.25,
     _ts("2024-03-01 10:00"), _d("2024-03-02"), ["accela", "civicplus"], ["a"], ["sf-001"], True),
    ("c02", "Alice Jones", "Refinance Officer", ["alice.jones@shelbyville.gov"], "+15550000002",
     "City of Shelbyville", "TX", "city", 8000, 30.1, -97.7,
     _ts("2023-06-15 09:30"), _d("2023-06-15"), ["granicus"], ["b"], [], True),
    ("c03", "Carol White", "City Clerk", ["carol@bobsonville.org"], "+15550000003",
     "Town of Bobsonville", "TX", "town", 25000, 31.0, -98.0,
     _ts("2024-01-01 00:00"), _d("2024-01-01"), ["accela"], ["a"], ["sf-003"], False),
    ("c04", "Dan Null", None, [], None,
     None, None, None, None, None, None,
     None, None, None, None, None, None),
    ("c05", "Dave Brown", "Treasurer", ["dave@example.com", "dave.brown@capitol.gov"],
     "+15550000005", "City of Capitol", "NY", "city", 120000, 42.6, -73.7,
     _ts("2024-12-31 23:59:59"), _d("2024-12-31"), ["accela", "tyler technologies"], ["a", "b"],
     ["sf-005"], True),
    ("c06", "Eve Adams", "Finance Intern", ["eve.adams@springfield.gov"], "+15550000006",
     "City of Springfield", "CA", "city", 50000, 34.05, -118.25,
     _ts("2024-01-01 08:00"), None, ["accela", "civicplus"], ["a"], ["sf-001"], True),
    ("c07", "Frank Miller", "Director of Finance", ["frank.miller@ogden.gov"], "+15550000007",
     "City of Ogden", "UT", "city", 87000, 41.2, -111.97,
     _ts("2022-05-05 12:00"), None, ["laserfiche"], [], [], True),
    ("c08", "Grace Lee", "Intern", ["grace.lee@ogden.gov"], "+15550000008",
     "City of Ogden", "UT", "city", 87000, 41.2, -111.97,
     _ts("2024-02-29 12:00"), None, ["laserfiche"], [], [], None),
    ("c09", "Heidi Park", "Deputy City Clerk", ["heidi@townofpark.us"], "+15550000009",
     "Town of Park", "ca", "town", 3000, 38.5, -121.5,
     _ts("2023-12-31 23:00"), None, [], ["b"], [], True),
    ("c10", "Ivan Petrov", "100% Remote_Admin", ["ivan@remote.io", "ivanbob@remote.io"],
     "+15550000010", "Remote County", "WA", "county", 10000, 47.0, -120.5,
     _ts("2024-06-01 00:00"), None, ["revize"], [], [], True),
    ("c11", "Judy Bobbins", "Finance/Budget Manager", ["judy.bobbins@metro.gov"], "+15550000011",
     "Metro City", "WA", "city", 600000, 47.6, -122.3,
     _ts("2025-01-15 10:00"), None, ["granicus", "accela"], ["a"], ["sf-011"], True),
    ("c12", "Bob Junior", "Mayor", ["bob@gmail.com"], "+15550000012",
     "Village of Tiny", "OR", "village", 10000, 44.0, -123.0,
     _ts("2024-01-02 00:00"), None, ["accela"], ["a"], ["sf-012"], True),
    ("c13", "Bobby Tables", "IT Manager", ["bobby.t@metro.gov"], "+15550000013",
     "Metro City", "WA", "city", 600000, 47.6, -122.3,
     _ts("2021-07-04 00:00"), None, ["granicus"], ["a"], ["sf-011"], True),
    ("c14", "Robert King", "Police Chief", ["robert.king@acme.com"], "+15550000014",
     "Acme Town", "NV", "town", 30000, 39.5, -119.8,
     _ts("2020-02-02 02:02"), None, ["accela permits"], [], [], True),
    ("c15", "Kate Moss", "Fire Chief", ["kate.moss@xtown.gov", "bob.k@xtown.gov"], "+15550000015",
     "Xtown", "AZ", "town", 20000, 33.4, -112.0,
     _ts("2024-05-05 05:05"), None, ["tyler", "accela"], ["b"], [], True),
    ("c16", "Laura Finn", "Chief Financial Officer", ["laura.finn@refinery.com"], "+15550000016",
     "Refinery Town", "CO", "town", 15000, 39.7, -105.0,
     _ts("2019-01-01 00:00"), None, [], [], [], True),
    ("c17", "Mike Ross", "Planning Director", ["mike.ross@denver.gov"], "+15550000017",
     "City of Denver", "CO", "city", 700000, 39.74, -104.99,
     _ts("2023-03-03 03:03"), None, ["accela"], ["b"], [], True),
    ("c18", "Nina Simone", "City Manager", ["nina@townofcary.org"], "+15550000018",
     "Town of Cary", "NC", "town", 180000, 35.8, -78.8,
     _ts("2022-02-02 02:02"), None, ["civicplus", "granicus"], [], [], True),
    ("c19", "Oscar Wilde", "Public Works Director", [], "+15550000019",
     "Village of Oak", "IL", "village", 5000, 41.9, -87.6,
     _ts("2021-01-01 00:00"), None, [], None, None, True),
    ("c20", "Peggy Sue", "Parks and Recreation Director", ["peggy.sue@parks.gov"], "+15550000020",
     "City of Parks", "FL", "city", 90000, 27.9, -82.5,
     _ts("2024-07-04 00:00"), None, ["recdesk"], ["a"], ["sf-020"], True),
    ("c21", "Quinn Doe", "Director, Finance & Budget", ["quinn@budget.gov"], "+15550000021",
     "City of Budget", "NY", "city", 45000, 42.0, -75.0,
     _ts("2024-08-08 08:08"), None, ["invoicecloud"], [], [], True),
    ("c22", "Ray Chen", "Assistant Finance Director", ["ray.chen@eastvale.gov"], "+15550000022",
     "City of Eastvale", "CA", "city", 65000, 34.0, -117.5,
     _ts("2024-09-09 09:09"), None, ["tyler technologies"], ["a"], ["sf-022"], True),
]
# fmt: on

ALL_IDS = frozenset(r[0] for r in ROWS)


def make_search_db(con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """`search.contact_search` and `meta.search_fields` with ROWS, as the build would make them.

    The document holds the lower-cased emails, each email's parts, the title and tech names.
    """
    con = con or duckdb.connect()
    con.execute("CREATE SCHEMA IF NOT EXISTS search; CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(f"CREATE OR REPLACE TEMP TABLE contact_rows ({COLUMNS})")
    con.executemany(f"INSERT INTO contact_rows VALUES ({', '.join('?' * 17)})", ROWS)
    con.execute(
        """
        CREATE OR REPLACE TABLE search.contact_search AS
        SELECT *, lower(concat_ws(' ',
            array_to_string(emails, ' '),
            array_to_string(list_transform(emails, lambda m: array_to_string(
                regexp_split_to_array(m, '[^a-z0-9]+'), ' ')), ' '),
            title,
            array_to_string(tech_names, ' '))) AS document
        FROM contact_rows ORDER BY contact_id
        """
    )
    con.execute("DROP TABLE contact_rows")
    con.execute(
        "CREATE OR REPLACE TABLE meta.search_fields (name VARCHAR, kind VARCHAR, position INTEGER)"
    )
    con.executemany(
        "INSERT INTO meta.search_fields VALUES (?, ?, ?)",
        [(name, kind, i + 1) for i, (name, kind) in enumerate(FIELD_SPEC)],
    )
    return con


def fixture_fields(aliases: dict[str, str] | None = None):
    """The fixture's field registry without a database (with ALIASES unless told otherwise)."""
    return fields_from_list(FIELD_SPEC, ALIASES if aliases is None else aliases)


#: PostgreSQL types of COLUMNS (the published view's types for each DuckDB type).
_PG_TYPES = {
    "VARCHAR": "text",
    "VARCHAR[]": "text[]",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "BOOLEAN": "boolean",
}


def make_search_pg(dsn: str, schema: str = "crmpipe") -> None:
    """The same table in PostgreSQL, as a publish lays it out: `<schema>.contact_search` with a
    `tsvector` document holding the DuckDB document's words (docs/postgres.md), and
    `<schema>.search_fields` in its first form (no match or lookup columns: the search layer
    must cope with a schema published before they existed)."""
    import psycopg

    duck = make_search_db()
    docs = dict(duck.execute("SELECT contact_id, document FROM search.contact_search").fetchall())
    columns = [c.strip().split(" ", 1) for c in COLUMNS.strip().split(",")]
    ddl = ", ".join(f'"{name}" {_PG_TYPES[typ.strip()]}' for name, typ in columns)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.contact_rows ({ddl}, document_text text)")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {schema}.contact_rows VALUES ({', '.join(['%s'] * 18)})",
                [(*row, docs[row[0]]) for row in ROWS],
            )
        conn.execute(
            f"CREATE TABLE {schema}.contact_search AS SELECT "
            + ", ".join(f'"{name}"' for name, _ in columns)
            + ", to_tsvector('simple', regexp_replace(document_text, '[^[:alnum:]]+', ' ', "
            f"'g')) AS document FROM {schema}.contact_rows"
        )
        conn.execute(f"DROP TABLE {schema}.contact_rows")
        conn.execute(
            f"CREATE TABLE {schema}.search_fields (name text, kind text, position integer)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {schema}.search_fields VALUES (%s, %s, %s)",
                [(name, kind, i + 1) for i, (name, kind) in enumerate(FIELD_SPEC)],
            )
