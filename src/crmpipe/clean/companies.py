"""Company names from CRM contact exports: a key within one source, and the name compared
across sources (docs/crm-merge.md).

A CRM's contact export names the person's company inline (`Company Name`, `Account.Name`).
Where the export has no account id, the company's key within that source is made from its
name: lower case, accents, punctuation and legal forms (`Inc.`, `L.L.C.`, `Corporation`)
removed, prefixed with the source (`hubspot_contacts:acmelogistics4`), so one HubSpot company
typed two ways is one record. The `company_keys` processor adds that key as a column.

Across sources the names are compared after `cleanco` (a maintained list of legal forms of
many countries, docs/decisions.md) removed the legal form; it runs on the distinct names only
(`name_keys`), never per row.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from functools import lru_cache

import duckdb
from cleanco.clean import normalized, prepare_default_terms, strip_punct, strip_tail

#: Headers that name a contact's company in CRM exports (HubSpot, Salesforce API and report
#: names, Pipedrive), in order of preference.
COMPANY_HEADERS = (
    "Account.Name", "Account Name", "Company Name", "Company", "Associated Company",
    "Organization", "Organisation", "Organization - Name", "Person - Organization",
    "Organization name", "Company name",
)  # fmt: skip
#: The column the `company_keys` processor adds.
KEY_COLUMN = "Company Key"
#: Legal forms and fillers dropped from a name for the within-source key (cleanco does more
#: across sources).
LEGAL_WORDS = (
    "inc", "incorporated", "llc", "pllc", "llp", "lp", "ltd", "limited", "corp", "corporation",
    "co", "company", "plc", "gmbh", "ag", "sa", "the", "and",
)  # fmt: skip


def name_key_sql(expr: str) -> str:
    """SQL: the within-source key words of a company name `expr` joined without spaces (NULL
    when nothing is left)."""
    words = ", ".join(f"'{w}'" for w in LEGAL_WORDS)
    # dots go first, so `L.L.C.` is one word
    low = f"replace(lower(strip_accents(CAST({expr} AS VARCHAR))), '.', '')"
    split = rf"string_split(trim(regexp_replace({low}, '[^a-z0-9]+', ' ', 'g')), ' ')"
    kept = f"list_filter({split}, lambda w: w <> '' AND NOT list_contains([{words}], w))"
    return f"nullif(array_to_string({kept}, ''), '')"


def company_header(columns: list[str]) -> str | None:
    """The column of `columns` that names the company (case and spacing ignored)."""
    norm = {c.strip().lower(): c for c in columns}
    for h in COMPANY_HEADERS:
        if h.lower() in norm:
            return norm[h.lower()]
    return None


def company_keys(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Processor (`processor: crmpipe.clean.companies:company_keys`): the rows plus
    `Company Key`, the company's key within the source (`<source>:<normalised name>`)."""
    header = company_header(list(rel.columns))
    if header is None:
        return rel.project(f'*, NULL::VARCHAR AS "{KEY_COLUMN}"')
    col = '"' + header.replace('"', '""') + '"'
    key = name_key_sql(col)
    return rel.project(f"*, CASE WHEN {key} IS NOT NULL THEN _source || ':' || {key} END "
                       f'AS "{KEY_COLUMN}"')  # fmt: skip


#: Every ASCII character that is not a letter or digit, to a space.
_NOT_ALNUM = {c: " " for c in range(128) if not chr(c).isalnum()}


@lru_cache(maxsize=1)
def _suffix_terms() -> tuple[list[int], dict[tuple[str, ...], list[int]], list[int]]:
    """cleanco's legal-form terms in its own order: each term's size, where each term sits in
    that order (a term may be listed twice), and the term sizes there are."""
    terms = prepare_default_terms()
    where: dict[tuple[str, ...], list[int]] = {}
    for i, (_, parts) in enumerate(terms):
        where.setdefault(tuple(parts), []).append(i)
    return [size for size, _ in terms], where, sorted({size for size, _ in terms})


def basename(name: str) -> str:
    """`cleanco.basename(name)` (its default: legal forms removed from the end), the same
    answer found by looking the name's last words up instead of trying each of cleanco's ~320
    terms in turn (about 20 times faster; `tests/test_crm_merge_init.py` checks they agree).

    cleanco walks its term list once, in order, deleting each term that matches the current
    end of the name; so the next deletion is the earliest term, after the last one deleted,
    that matches the end as it now is.
    """
    sizes, where, lengths = _suffix_terms()
    name = strip_tail(name)
    nparts = name.split()
    # cleanco's `normalized` (casefold, accents off) is lower() for ASCII, and much slower
    norm = name.lower() if name.isascii() else normalized(name)
    nnparts = [strip_punct(p) for p in norm.split()]
    start = 0
    while True:
        best = None
        for size in lengths:
            if size > len(nnparts):
                break
            at = where.get(tuple(nnparts[-size:]))
            if at:
                j = bisect_left(at, start)
                if j < len(at) and (best is None or at[j] < best):
                    best = at[j]
        if best is None:
            return strip_tail(" ".join(nparts))
        del nnparts[-sizes[best] :]
        del nparts[-sizes[best] :]
        start = best + 1


def clean_name(name: str) -> str:
    """A company name without its legal form, case, punctuation or spacing: the name compared
    across sources (`ACME LOGISTICS 4 INCORPORATED` → `acme logistics 4`)."""
    text = " ".join(name.replace("&", " and ").split())
    # cleanco strips one legal form per call: `Foo Co., Ltd.` needs two
    for _ in range(3):
        shorter = basename(text)
        if shorter == text or not shorter.strip():
            break
        text = shorter
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    plain = plain.replace(".", "").replace("'", "")
    low = plain.translate(_NOT_ALNUM)  # ASCII by now
    words = [w for w in low.split() if w not in ("the", "and")]
    return " ".join(words)


def name_keys(con: duckdb.DuckDBPyConnection, names_sql: str, out: str) -> int:
    """Create temp table `out` (name, clean): `clean_name` of each distinct name `names_sql`
    yields (one Python call per distinct name)."""
    names = [r[0] for r in con.execute(f"SELECT DISTINCT name FROM ({names_sql}) "
                                       "WHERE name IS NOT NULL").fetchall()]  # fmt: skip
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} (name VARCHAR, clean VARCHAR)")
    if names:
        import pyarrow as pa

        table = pa.table({"name": names, "clean": [clean_name(n) or None for n in names]})
        con.register("_company_names", table)
        con.execute(f"INSERT INTO {out} SELECT * FROM _company_names")
        con.unregister("_company_names")
    return len(names)
