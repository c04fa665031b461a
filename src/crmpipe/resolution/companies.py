"""Company resolution for contact exports of several CRMs (docs/crm-merge.md).

The entities of a CRM merge are the companies the contact rows name inline: one record per
Salesforce account and per company name within a HubSpot export. Each record gets, in SQL:
its name without legal form, case and punctuation (`cleanco` on the distinct names,
crmpipe.clean.companies), that name without spaces as the key, its state, and the work
e-mail domains of the contacts pointing at it (personal mailboxes such as gmail.com left
out). Two records are one company when

- their cleaned names are equal and nothing conflicts: their work domains, when both have
  some, share one, and their states, when both have one and no domain is shared, are equal;
- or they share a work domain and their cleaned names are similar (Jaro-Winkler >= 0.9, or
  one contained in the other): a typo or an abbreviation of one company.

No Splink model is trained for them: these rules are the whole of the decision and each link
says which one made it (`core.entity_sources.matched_by`).

Contacts are then resolved within the golden companies, and across companies when an exact
e-mail (not a role inbox), or a phone of either set (desk, mobile) plus the last name, links
them (`across_edges`): people change jobs, and a job changer keeps the mobile and the personal
address.
"""

from __future__ import annotations

import duckdb

from crmpipe.clean.companies import name_keys
from crmpipe.config.schema import ResolveSpec
from crmpipe.model import Table
from crmpipe.resolution.emails import is_personal_sql, is_role_sql
from crmpipe.resolution.features import Feature, email_columns
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

#: Pre-pass rule names (core.entity_sources.matched_by / contact_sources.matched_by).
RULE_NAME, RULE_DOMAIN = "same company name", "same domain, similar name"
RULE_EMAIL, RULE_PHONE = "same email (across companies)", "same phone and last name (across)"
#: Cleaned names at least this similar (Jaro-Winkler) agree when a domain is shared.
NAME_SIMILAR = 0.9
#: A cleaned name contained in the other agrees when the shorter has this many characters.
MIN_CONTAINED = 5


def is_company_table(tbl: Table, spec: ResolveSpec) -> bool:
    """Entities of a CRM merge are companies, unless `comparisons:` asks for Splink's."""
    return spec.resolves_companies(tbl.name)


def resolution_reads(tbl: Table, spec: ResolveSpec) -> tuple[str, ...]:
    """The other core tables `tbl`'s resolution reads before it writes core: a company's
    features take its contacts' e-mail domains (`company_features`), so those must be built
    (this run's rows, keyed by entity record) before the companies are resolved."""
    return ("contacts",) if is_company_table(tbl, spec) else ()


def company_features(con: duckdb.DuckDBPyConnection, records: str, key: str, out: str) -> int:
    """Create temp table `out` (_rid, key, company_name, name_key, state, domains) from the
    entity records `records`; return the distinct names cleaned."""
    k = quote_ident(key)
    cleaned = name_keys(con, f"SELECT CAST(display_name AS VARCHAR) AS name FROM {records}", "_cn")
    domains = "SELECT NULL::VARCHAR AS entity_id, NULL::VARCHAR AS domain WHERE false"
    if table_exists(con, "core", "contacts"):
        domains = f"""
          SELECT DISTINCT entity_id, split_part(e, '@', 2) AS domain
          FROM (SELECT CAST(entity_id AS VARCHAR) AS entity_id,
                  unnest(list_transform(emails, lambda x: lower(trim(x)))) AS e
                FROM core.contacts WHERE entity_id IS NOT NULL AND emails IS NOT NULL)
          WHERE e LIKE '%_@_%' AND NOT {is_personal_sql("e")} AND NOT {is_role_sql("e")}"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH d AS (SELECT entity_id, list_sort(list(domain)) AS domains FROM ({domains})
                   GROUP BY entity_id)
        SELECT r._rid, r.{k}, c.clean AS company_name,
          nullif(replace(c.clean, ' ', ''), '') AS name_key,
          nullif(lower(trim(CAST(r.state AS VARCHAR))), '') AS state, d.domains
        FROM {records} r
        LEFT JOIN _cn c ON c.name = CAST(r.display_name AS VARCHAR)
        LEFT JOIN d ON d.entity_id = CAST(r.{k} AS VARCHAR)
        """
    )
    con.execute("DROP TABLE _cn")
    return cleaned


def _conflict(a: str, b: str) -> str:
    shared = f"len(list_intersect({a}.domains, {b}.domains)) > 0"
    return (
        f"(({a}.domains IS NOT NULL AND {b}.domains IS NOT NULL AND NOT {shared}) OR "
        f"(NOT coalesce({shared}, false) AND {a}.state <> {b}.state))"
    )


def company_prepass(con: duckdb.DuckDBPyConnection, source: str, out: str) -> int:
    """Create `out` (_rid_l, _rid_r, rule) from the company features in `source`."""
    similar = (
        f"(jaro_winkler_similarity(a.company_name, b.company_name) >= {NAME_SIMILAR} OR "
        f"(least(length(a.name_key), length(b.name_key)) >= {MIN_CONTAINED} AND "
        "(contains(a.name_key, b.name_key) OR contains(b.name_key, a.name_key))))"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH n AS (SELECT * FROM {source} WHERE name_key IS NOT NULL),
        same AS (
          SELECT a._rid AS _rid_l, b._rid AS _rid_r, '{RULE_NAME}' AS rule
          FROM n a JOIN n b ON a.name_key = b.name_key AND a._rid < b._rid
          WHERE NOT coalesce({_conflict("a", "b")}, false)),
        dom AS (SELECT _rid, unnest(domains) AS domain FROM n WHERE domains IS NOT NULL),
        pairs AS (
          SELECT DISTINCT x._rid AS l, y._rid AS r FROM dom x JOIN dom y
            ON x.domain = y.domain AND x._rid < y._rid),
        by_domain AS (
          SELECT a._rid AS _rid_l, b._rid AS _rid_r, '{RULE_DOMAIN}' AS rule
          FROM pairs p JOIN n a ON a._rid = p.l JOIN n b ON b._rid = p.r
          WHERE a.name_key <> b.name_key AND {similar})
        SELECT _rid_l, _rid_r, min(rule) AS rule
        FROM (SELECT * FROM same UNION ALL SELECT * FROM by_domain) GROUP BY ALL
        """
    )
    return con.execute(f"SELECT count(*) FROM {out}").fetchone()[0]


def empty_predictions(con: duckdb.DuckDBPyConnection, key: str, target: str) -> None:
    """The predictions table of a resolution without Splink (companies): no rows."""
    kl, kr = quote_ident(key + "_l"), quote_ident(key + "_r")
    con.execute(
        f"CREATE OR REPLACE TABLE {target} (_rid_l BIGINT, _rid_r BIGINT, {kl} VARCHAR, "
        f"{kr} VARCHAR, match_probability DOUBLE, match_weight DOUBLE)"
    )


def across_edges(
    con: duckdb.DuckDBPyConnection,
    features: list[Feature],
    names: list[str],
    source: str,
    out: str,
) -> int:
    """Add to `out` the contacts linked across companies: the same first own e-mail, or a
    phone of either set with the same last name; return the edges added."""
    parts: list[str] = []
    emails = email_columns(features)
    if emails:
        e = quote_ident(f"{emails[0]}_key")
        parts.append(
            f"SELECT min(_rid) OVER (PARTITION BY {e}) AS _rid_l, _rid AS _rid_r, "
            f"'{RULE_EMAIL}' AS rule FROM {source} WHERE {e} IS NOT NULL"
        )
    phones = [quote_ident(f"{f.column}_key") for f in features if f.kind == "phone"]
    if phones and names:
        last = quote_ident(names[-1])
        each = " UNION ALL ".join(
            f"SELECT _rid, {p} AS ph, {last} AS ln FROM {source} WHERE {p} IS NOT NULL "
            f"AND {last} IS NOT NULL"
            for p in phones
        )
        parts.append(
            "SELECT DISTINCT min(_rid) OVER (PARTITION BY ph, ln) AS _rid_l, _rid AS _rid_r, "
            f"'{RULE_PHONE}' AS rule FROM ({each})"
        )
    if not parts:
        return 0
    before = con.execute(f"SELECT count(*) FROM {out}").fetchone()[0]
    union = " UNION ALL ".join(f"({p})" for p in parts)
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT _rid_l, _rid_r, min(rule) AS rule FROM ("
        f"SELECT * FROM {out} UNION ALL SELECT * FROM ({union}) WHERE _rid_l <> _rid_r) "
        "GROUP BY ALL"
    )
    return con.execute(f"SELECT count(*) FROM {out}").fetchone()[0] - before
