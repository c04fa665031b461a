"""The mover-CRM case's rows, made in DuckDB: people, their customer records per branch, jobs.

Every random choice is a hash of the row number, the seed and a label (`_h`), so the queries
run on all cores and give the same files for the same seed. A person has one record at their
home branch; some are entered again at other branches (re-entries: typos in the name or email,
another phone layout, the address written differently). Jobs belong to a customer record; a
few are booked twice (the same move within days, at the same or another of the person's
records), a few name a customer that does not exist.
"""

from __future__ import annotations

import duckdb
import numpy as np

from crmpipe.demo.datasets import movers_vocab as mv
from crmpipe.demo.datasets.mess import NULL_TOKENS, sql_phone, sql_timestamp_text
from crmpipe.demo.datasets.vocab import first_names, last_names
from crmpipe.sqltext import sql_str

#: Share of customer records that re-enter a person already recorded at another branch.
REENTRY_RATE = 0.12
#: Jobs per customer record, jobs booked twice, jobs naming an unknown customer.
JOBS_PER_CUSTOMER = 3
DUPLICATE_JOB_RATE = 0.02
UNKNOWN_CUSTOMER_RATE = 0.0005
#: Sizes of the weighted vocabulary lists (indexing a list by a hash draws from it).
_POOL = 4096


def _h(key: str, label: str, seed: int) -> str:
    """SQL: a pseudo-random UBIGINT from the row's `key`, the seed and a label."""
    return f"CAST(hash({key}, {int(seed)}, {sql_str(label)}) >> 2 AS BIGINT)"


def _pick(list_sql: str, key: str, label: str, seed: int) -> str:
    return f"{list_sql}[1 + {_h(key, label, seed)} % len({list_sql})]"


def _weighted(values: list[str], probs: np.ndarray, rng: np.random.Generator) -> list[str]:
    return list(rng.choice(np.array(values, dtype=object), size=_POOL, p=probs / probs.sum()))


def install_vocab(con: duckdb.DuckDBPyConnection, seed: int, branches: int) -> None:
    """One-row table `_mv_vocab` of lists the generating queries draw from."""
    rng = np.random.default_rng(seed)
    fm, ff, ln = first_names("m"), first_names("f"), last_names()
    dom = [d for d, _ in mv.DOMAINS]
    dom_p = np.array([p for _, p in mv.DOMAINS])
    st = [s for s, _ in mv.STATUSES]
    st_p = np.array([p for _, p in mv.STATUSES])
    chosen = mv.BRANCHES[:branches]
    lists = {
        "fm": _weighted(list(fm.names), fm.probs, rng),
        "ff": _weighted(list(ff.names), ff.probs, rng),
        "ln": _weighted(list(ln.names), ln.probs, rng),
        "streets": list(mv.STREETS),
        "suf_short": [s for s, _ in mv.SUFFIXES],
        "suf_long": [s for _, s in mv.SUFFIXES],
        "domains": _weighted(dom, dom_p, rng),
        "statuses": _weighted(st, st_p, rng),
        "city": [b[0] for b in chosen],
        "st": [b[1] for b in chosen],
        "st_name": [b[2] for b in chosen],
        "zip3": [b[3] for b in chosen],
        "area": [b[4] for b in chosen],
        "nulls": [t for t in NULL_TOKENS],
    }
    cols = ", ".join(f"?::VARCHAR[] AS {k}" for k in lists)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mv_vocab AS SELECT {cols}", list(lists.values()))


def make_people(con: duckdb.DuckDBPyConnection, people: int, branches: int, seed: int) -> None:
    """Table `_mv_people`: one row per real person, with a unique email."""
    h = lambda label: _h("i", label, seed)  # noqa: E731
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mv_p0 AS
        SELECT i AS pid, CAST({h("home")} % {branches} AS INTEGER) AS home,
          CASE WHEN {h("g")} % 2 = 0 THEN {_pick("v.fm", "i", "f", seed)}
               ELSE {_pick("v.ff", "i", "f", seed)} END AS first,
          {_pick("v.ln", "i", "l", seed)} AS last,
          CAST(1 + {h("num")} % 9899 AS VARCHAR) AS num,
          {_pick("v.streets", "i", "street", seed)} AS street,
          CAST(1 + {h("suf")} % len(v.suf_short) AS INTEGER) AS suf,
          lpad(CAST({h("zip")} % 100 AS VARCHAR), 2, '0') AS zip2,
          CAST(200 + {h("ex")} % 800 AS VARCHAR) AS exch,
          CAST({h("line")} % 10000 AS INTEGER) AS line,
          {_pick("v.domains", "i", "dom", seed)} AS domain,
          CAST({h("style")} % 5 AS INTEGER) AS style,
          CAST(10 + {h("d2")} % 90 AS VARCHAR) AS d2
        FROM range({int(people)}) t(i), _mv_vocab v
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _mv_people AS
        WITH b AS (
          SELECT *, CASE style
            WHEN 0 THEN f || '.' || l WHEN 1 THEN left(f, 1) || l WHEN 2 THEN f || l
            WHEN 3 THEN f || '_' || l ELSE f || left(l, 1) || d2 END || '@' || domain AS base
          FROM (SELECT *, regexp_replace(lower(first), '[^a-z]', '', 'g') AS f,
                  regexp_replace(lower(last), '[^a-z]', '', 'g') AS l FROM _mv_p0)
        )
        SELECT * EXCLUDE (f, l, base, d2, style),
          CASE WHEN rn = 1 THEN base
               ELSE replace(base, '@', CAST(rn + 100 AS VARCHAR) || '@') END AS email
        FROM (SELECT *, row_number() OVER (PARTITION BY base ORDER BY pid) AS rn FROM b)
        """
    )
    con.execute("DROP TABLE _mv_p0")


def _typo(expr: str, code: str) -> str:
    """`expr` with one letter dropped (at a position from `code`) when it has 5 or more."""
    k = f"(1 + {code} % greatest(length({expr}) - 2, 1))"
    return (
        f"CASE WHEN length({expr}) >= 5 THEN concat(left({expr}, {k}), "
        f"substr({expr}, {k} + 2)) ELSE {expr} END"
    )


def _case(expr: str, code: str) -> str:
    """Case noise: code % 20 = 0 UPPER, = 1 lower."""
    return f"CASE {code} % 20 WHEN 0 THEN upper({expr}) WHEN 1 THEN lower({expr}) ELSE {expr} END"


def _null(expr: str, code: str, per_mille: int) -> str:
    """`expr`, or a null token for `per_mille`/1000 of the rows."""
    return (
        f"CASE WHEN {code} % 1000 < {per_mille} THEN "
        f"v.nulls[1 + ({code} // 1000) % len(v.nulls)] ELSE {expr} END"
    )


def address_sql(num: str, street: str, suf: str, city: str, st: str, st_name: str, zip_: str,
                code: str) -> str:  # fmt: skip
    """One address as an export writes it: `123 Oak St Austin, TX 78701`, the street type
    short, long or with a period, 1 in 5 in capitals, 1 in 50 with the state's name."""
    suffix = (
        f"CASE {code} % 20 WHEN 0 THEN v.suf_long[{suf}] WHEN 1 THEN v.suf_long[{suf}] "
        f"WHEN 2 THEN v.suf_long[{suf}] WHEN 3 THEN v.suf_long[{suf}] "
        f"WHEN 4 THEN v.suf_short[{suf}] || '.' ELSE v.suf_short[{suf}] END"
    )
    state = f"CASE WHEN ({code} // 20) % 50 = 0 THEN {st_name} ELSE {st} END"
    text = f"concat({num}, ' ', {street}, ' ', {suffix}, ' ', {city}, ', ', {state}, ' ', {zip_})"
    return f"CASE WHEN ({code} // 1000) % 5 = 0 THEN upper({text}) ELSE {text} END"


def make_customers(
    con: duckdb.DuckDBPyConnection, rows: int, people: int, branches: int, seed: int
) -> None:
    """Table `_mv_customers`: one row per customer record (its branch, local id, person and
    the exported values)."""
    h = lambda label: _h("r", label, seed)  # noqa: E731
    other = f"(p.home + 1 + {h('b')} % greatest({branches} - 1, 1)) % {branches}"
    branch = f"CASE WHEN r < {people} OR {branches} = 1 THEN p.home ELSE {other} END"
    last = (
        f"CASE WHEN r >= {people} AND {h('lt')} % 12 = 0 THEN {_typo('p.last', h('lk'))} "
        "ELSE p.last END"
    )
    local = "split_part(p.email, '@', 1)"
    email = (
        f"CASE WHEN r >= {people} AND {h('et')} % 10 = 0 "
        f"THEN concat({_typo(local, h('ek'))}, '@', split_part(p.email, '@', 2)) "
        "ELSE p.email END"
    )
    email = (
        f"CASE {h('ec')} % 12 WHEN 0 THEN upper({email}) WHEN 1 THEN "
        f"concat(upper(left({email}, 1)), substr({email}, 2)) WHEN 2 THEN concat(' ', {email}) "
        f"ELSE {email} END"
    )
    gone = f"CASE WHEN r >= {people} AND {h('eg')} % 20 = 0 THEN '' ELSE {email} END"
    area = "v.area[p.home + 1]"
    layout = f"CASE {h('pf')} % 3 WHEN 0 THEN 0 WHEN 1 THEN 1 ELSE {h('pf2')} % 14 END"
    phone = sql_phone(area, "p.exch", "p.line", layout)
    home = "[p.home + 1]"
    addr = address_sql("p.num", "p.street", "p.suf", f"v.city{home}", f"v.st{home}",
                       f"v.st_name{home}", f"v.zip3{home} || p.zip2", h("ad"))  # fmt: skip
    now = "epoch(current_date::TIMESTAMP)"
    created = f"{now} - 86400 * (30 + {h('cr')} % 1500) - {h('cs')} % 86400"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mv_c0 AS
        SELECT r, p.pid, CAST({branch} AS INTEGER) AS branch, r >= {people} AS reentry,
          p.home, p.num, p.street, p.suf, p.zip2,
          {_case("p.first", h("fc"))} AS first_name,
          {_case(last, h("lc"))} AS last_name,
          {_null(gone, h("en"), 15)} AS email,
          {_null(phone, h("pn"), 15)} AS phone,
          {_null(addr, h("an"), 15)} AS address,
          {created} AS created_epoch,
          least({now} - {h("up")} % 86400, {created} + 86400 * ({h("ud")} % 900)) AS updated_epoch
        FROM range({int(rows)}) t(r)
        JOIN _mv_people p ON p.pid = CASE WHEN r < {people} THEN r ELSE {h("p")} % {people} END,
          _mv_vocab v
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mv_customers AS
        SELECT c.*, CAST(1000 + row_number() OVER (PARTITION BY branch ORDER BY {h("o")})
          AS VARCHAR) AS local_id,
          {sql_timestamp_text("created_epoch", f"{h('cf')} % 4")} AS created,
          {sql_timestamp_text("updated_epoch", f"{h('uf')} % 3")} AS updated
        FROM _mv_c0 c
        """
    )
    con.execute("DROP TABLE _mv_c0")
