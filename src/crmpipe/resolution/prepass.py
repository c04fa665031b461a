"""The exact pre-pass: pairs so obvious that SQL links them before Splink scores the rest.

Two records of the same entity (the compared reference columns) are linked when they share
their first own email address (`<emails>_key`: role inboxes such as `info@` or `office@` are
left out of it, resolution/emails.py, so two people behind one shared inbox are never linked
by it), or their phone with extension and last name while carrying no two different emails (a
father and son at one address share a phone, not a mailbox), or their first and last names
when at most one of the group's records carries an email or a phone (a facility's named people
rarely have either: without this rule they were never linked, and the prior the pre-pass gives
Splink stayed at its floor; two namesakes each with their own email or phone are left to the
other rules and Splink). Links are stars to the group's smallest `_rid`, so a big group costs
rows, not pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.resolution.features import Feature, email_columns
from crmpipe.sqltext import quote_ident


@dataclass(frozen=True)
class PrepassRule:
    """One exact rule: records with the same non-null `group` columns are linked, as a star to
    the group's smallest `_rid`; `having` (over the window `w`) must hold for the group."""

    name: str
    group: list[str]  # quoted columns
    having: tuple[str, str] | None = None  # (window expression AS alias, condition on alias)
    reads: tuple[str, ...] = ()  # quoted columns `having` reads besides the group's

    def edges(self, source: str) -> str:
        """SELECT _rid_l, _rid_r, rule of this rule's links among `source`'s records."""
        alias = f", {self.having[0]}" if self.having else ""
        where = " AND ".join(f"{c} IS NOT NULL" for c in self.group)
        inner = (
            f"SELECT min(_rid) OVER w AS _rid_l, _rid AS _rid_r{alias} FROM {source} "
            f"WHERE {where} WINDOW w AS (PARTITION BY {', '.join(self.group)})"
        )
        cond = f" AND {self.having[1]}" if self.having else ""
        return (
            f"SELECT _rid_l, _rid_r, '{self.name}' AS rule FROM ({inner}) "
            f"WHERE _rid_l <> _rid_r{cond}"
        )

    @property
    def read(self) -> list[str]:
        """The quoted columns its links are made from: the group's and those `having` reads."""
        return list(dict.fromkeys([*self.group, *self.reads]))

    @property
    def columns(self) -> list[str]:
        """The group's column names, unquoted."""
        return [c.strip('"').replace('""', '"') for c in self.group]

    def groups(self, source: str) -> str:
        """The distinct groups `source`'s records fall in."""
        where = " AND ".join(f"{c} IS NOT NULL" for c in self.group)
        return f"(SELECT DISTINCT {', '.join(self.group)} FROM {source} WHERE {where})"


def prepass_rules(features: list[Feature], scope: list[str], names: list[str]) -> list[PrepassRule]:
    """The pre-pass rules for these features (module docstring)."""
    rules: list[PrepassRule] = []
    keys = [quote_ident(c) for c in scope]
    emails = email_columns(features)
    phones = [f.column for f in features if f.kind == "phone"]
    for e in emails[:1]:
        rules.append(PrepassRule("same email", [*keys, quote_ident(f"{e}_key")]))
    for p in phones[:1]:
        extra = [quote_ident(names[-1])] if names else []
        email_key = quote_ident(f"{emails[0]}_key") if emails else "NULL"
        rules.append(
            PrepassRule(
                "same phone and name",
                [*keys, quote_ident(f"{p}_key"), *extra],
                (f"count(DISTINCT {email_key}) OVER w AS n_emails", "n_emails <= 1"),
                (email_key,) if emails else (),
            )
        )
    if keys and len(names) >= 2:
        # a facility's named people (childcare lists, CRM leads) carry neither e-mail nor phone:
        # the same first and last name at one entity is the same person, unless two of the
        # group's records carry an e-mail or a phone (two namesakes, each with their own: the
        # e-mail and phone rules decide those)
        ids = [quote_ident(f"{c}_key") for c in [*emails[:1], *phones[:1]]]
        having = None
        if ids:
            carried = " OR ".join(f"{i} IS NOT NULL" for i in ids)
            having = (f"count(*) FILTER (WHERE {carried}) OVER w AS n_ided", "n_ided <= 1")
        rules.append(
            PrepassRule(
                "same name", [*keys, *(quote_ident(n) for n in names[:2])], having, tuple(ids)
            )
        )
    return rules


def prepass_edges(
    con: duckdb.DuckDBPyConnection,
    rules: list[PrepassRule],
    source: str,
    out: str,
    *,
    stored: str | None = None,
    delta: str | None = None,
) -> int:
    """Create `out` (_rid_l, _rid_r, rule) from the matching input `source`; return its size.

    `stored` (table) keeps each rule's links for the next resolution. With `delta` (the
    features of the records new and gone since `stored` was made, numbered as `source`), only
    the groups those records fall in are linked again; the other groups' stored links hold
    (a group without a new or gone record has the same members and smallest record)."""
    if not rules:
        con.execute(f"CREATE OR REPLACE TABLE {out} (_rid_l BIGINT, _rid_r BIGINT, rule VARCHAR)")
        if stored:
            con.execute(f"DROP TABLE IF EXISTS {stored}")
        return 0
    work: list[str] = []
    if delta is None or stored is None:
        parts = [r.edges(source) for r in rules]
    else:
        # the delta once (a view over every record's features), then per rule the records of
        # the groups it touches; a stored link holds unless its record is one of those or gone
        # (an anti-join of every record with the groups read them all again: 2 rules × 0.2 s
        # at 4.5M)
        read = dict.fromkeys(["_rid", *(c for r in rules for c in r.read)])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _pp_delta AS SELECT {', '.join(read)} FROM {delta}"
        )
        work.append("_pp_delta")
        # the records of every rule's touched groups in one scan of `source`, each flagged with
        # the rules whose groups it falls in (a scan per rule: 1.03 against 0.76 s at 4.5M)
        flags = [
            f"EXISTS (SELECT 1 FROM {r.groups('_pp_delta')} g WHERE "
            + " AND ".join(f"g.{c} = s.{c}" for c in r.group)
            + f") AS _pp_{i}"
            for i, r in enumerate(rules)
        ]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _pp_in AS SELECT * FROM (SELECT "
            f"{', '.join(f's.{c}' for c in read)}, {', '.join(flags)} FROM {source} s) "
            f"WHERE {' OR '.join(f'_pp_{i}' for i in range(len(rules)))}"
        )
        work.append("_pp_in")
        parts = []
        for i, r in enumerate(rules):
            inside = f"(SELECT {', '.join(['_rid', *r.read])} FROM _pp_in WHERE _pp_{i})"
            parts.append(r.edges(inside))
            parts.append(
                f"SELECT e._rid_l, e._rid_r, e.rule FROM {stored} e "
                f"WHERE e.rule = '{r.name}' AND e._rid_r NOT IN (SELECT _rid FROM {inside}) "
                "AND e._rid_r NOT IN (SELECT _rid FROM _pp_delta)"
            )
    union = " UNION ALL ".join(f"({p})" for p in parts)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _prepass_rules AS {union}")
    if stored:
        con.execute(f"CREATE OR REPLACE TABLE {stored} AS SELECT * FROM _prepass_rules")
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT _rid_l, _rid_r, min(rule) AS rule "
        "FROM _prepass_rules GROUP BY ALL"
    )
    con.execute("DROP TABLE _prepass_rules")
    for name in work:
        con.execute(f"DROP TABLE {name}")
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
