"""The exact pre-pass: pairs so obvious that SQL links them before Splink scores the rest.

Two records of the same entity (the compared reference columns) are linked when they share
their first own email address (`<emails>_key`: role inboxes such as `info@` or `office@` are
left out of it, resolution/emails.py, so two people behind one shared inbox are never linked
by it), or their phone with extension and last name while carrying no two different emails (a
father and son at one address share a phone, not a mailbox). Links are
stars to the group's smallest `_rid`, so a big group costs rows, not pairs.
"""

from __future__ import annotations

import duckdb

from crmpipe.resolution.features import Feature, email_columns
from crmpipe.sqltext import quote_ident


def prepass_edges(
    con: duckdb.DuckDBPyConnection,
    features: list[Feature],
    scope: list[str],
    names: list[str],
    source: str,
    out: str,
) -> int:
    """Create `out` (_rid_l, _rid_r, rule) from the matching input `source`; return its size."""
    parts: list[str] = []
    keys = [f'"{c}"' for c in scope]
    emails = email_columns(features)
    phones = [f.column for f in features if f.kind == "phone"]
    for e in emails[:1]:
        group = ", ".join([*keys, f'"{e}_key"'])
        parts.append(
            f"SELECT min(_rid) OVER w AS _rid_l, _rid AS _rid_r, 'same email' AS rule "
            f'FROM {source} WHERE "{e}_key" IS NOT NULL '
            + "".join(f"AND {k} IS NOT NULL " for k in keys)
            + f"WINDOW w AS (PARTITION BY {group})"
        )
    for p in phones[:1]:
        extra = [f'"{names[-1]}"'] if names else []
        group = ", ".join([*keys, f'"{p}_key"', *extra])
        email_key = f'"{emails[0]}_key"' if emails else "NULL"
        parts.append(
            "SELECT _rid_l, _rid_r, 'same phone and name' AS rule FROM ("
            f"SELECT min(_rid) OVER w AS _rid_l, _rid AS _rid_r, "
            f"count(DISTINCT {email_key}) OVER w AS n_emails FROM {source} "
            f'WHERE "{p}_key" IS NOT NULL '
            + "".join(f"AND {k} IS NOT NULL " for k in [*keys, *extra])
            + f"WINDOW w AS (PARTITION BY {group})) WHERE n_emails <= 1"
        )
    if not parts:
        con.execute(f"CREATE OR REPLACE TABLE {out} (_rid_l BIGINT, _rid_r BIGINT, rule VARCHAR)")
        return 0
    union = " UNION ALL ".join(f"({p})" for p in parts)
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT _rid_l, _rid_r, min(rule) AS rule "
        f"FROM ({union}) WHERE _rid_l <> _rid_r GROUP BY ALL"
    )
    return con.execute(f"SELECT count(*) FROM {out}").fetchone()[0]


def email_pairs(con: duckdb.DuckDBPyConnection, features: list) -> int | None:
    """Pairs of records in `_rin2` sharing an email key (None: no email feature)."""
    emails = email_columns(features)
    if not emails:
        return None
    k = quote_ident(f"{emails[0]}_key")
    ((pairs,),) = con.execute(
        f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM _rin2 "
        f"WHERE {k} IS NOT NULL GROUP BY {k})"
    ).fetchall()
    return int(pairs)
