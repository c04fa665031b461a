"""The mover-CRM case's jobs, made in DuckDB from the customer records (crmpipe.demo.datasets.
movers_sql): moves from the customer's address to a new one, a few booked twice, a few naming a
customer the branch does not have.

A job booked twice is the same move (origin and destination, the addresses written another
way) within 0–3 days, at the same customer record or, for a person entered at two branches,
at their record at the other branch.
"""

from __future__ import annotations

import duckdb

from crmpipe.demo.datasets.mess import sql_timestamp_text
from crmpipe.demo.datasets.movers_sql import (
    DUPLICATE_JOB_RATE,
    UNKNOWN_CUSTOMER_RATE,
    _case,
    _h,
    _null,
    address_sql,
)


def make_jobs(con: duckdb.DuckDBPyConnection, jobs: int, customers: int, branches: int,
              seed: int) -> None:  # fmt: skip
    """Table `_mv_jobs`: every job row to write (with `dup_of`, the job it repeats, and
    `unknown`), its branch, local id and exported values."""
    h = lambda key, label: _h(key, label, seed)  # noqa: E731
    n_dup = int(jobs * DUPLICATE_JOB_RATE)
    n_unknown = max(1, int(jobs * UNKNOWN_CUSTOMER_RATE))
    # the moves: customer record, date, the new address
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mv_moves AS
        SELECT j, {h("j", "c")} % {customers} AS r,
          current_date - 420 + CAST({h("j", "d")} % 480 AS INTEGER) AS move_date,
          CAST(1 + {h("j", "num")} % 9899 AS VARCHAR) AS dnum,
          v.streets[1 + {h("j", "st")} % len(v.streets)] AS dstreet,
          CAST(1 + {h("j", "suf")} % len(v.suf_short) AS INTEGER) AS dsuf,
          CAST(CASE WHEN {h("j", "far")} % 5 = 0 THEN {h("j", "db")} % {branches}
               ELSE -1 END AS INTEGER) AS dbranch,
          lpad(CAST({h("j", "zip")} % 100 AS VARCHAR), 2, '0') AS dzip2,
          150 + CAST({h("j", "vol")} % 1850 AS INTEGER) AS volume,
          v.statuses[1 + {h("j", "stt")} % len(v.statuses)] AS status,
          NULL::BIGINT AS dup_of, false AS unknown
        FROM range({int(jobs)}) t(j), _mv_vocab v
        """
    )
    # booked twice: a copy of a move, days later, maybe at the person's other record
    con.execute(
        f"""
        INSERT INTO _mv_moves
        SELECT {int(jobs)} + d, CASE WHEN c.reentry AND {h("d", "o")} % 2 = 0 THEN c.pid
          ELSE m.r END, m.move_date + CAST({h("d", "dd")} % 4 AS INTEGER), m.dnum, m.dstreet,
          m.dsuf, m.dbranch, m.dzip2, m.volume, 'booked', m.j, false
        FROM range({n_dup}) t(d)
        JOIN _mv_moves m ON m.j = {h("d", "j")} % {int(jobs)}
        JOIN _mv_customers c ON c.r = m.r
        """
    )
    con.execute(
        f"""
        INSERT INTO _mv_moves
        SELECT {int(jobs) + n_dup} + u, {h("u", "c")} % {customers}, current_date - 30,
          '12', 'Oak', 1, -1, '00', 500, 'booked', NULL, true
        FROM range({n_unknown}) t(u)
        """
    )
    origin = address_sql("c.num", "c.street", "c.suf", "v.city[c.home + 1]", "v.st[c.home + 1]",
                         "v.st_name[c.home + 1]", "v.zip3[c.home + 1] || c.zip2",
                         h("m.j", "oa"))  # fmt: skip
    db = "(CASE WHEN m.dbranch < 0 THEN c.home ELSE m.dbranch END + 1)"
    dest = address_sql("m.dnum", "m.dstreet", "m.dsuf", f"v.city[{db}]", f"v.st[{db}]",
                       f"v.st_name[{db}]", f"v.zip3[{db}] || m.dzip2", h("m.j", "da"))  # fmt: skip
    price = f"round(250 + m.volume * 1.6 + {h('m.j', 'pr')} % 200, 2)"
    created = (
        f"epoch(m.move_date::TIMESTAMP) - 86400 * (3 + {h('m.j', 'cr')} % 60) "
        f"- {h('m.j', 'cs')} % 86400"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _mv_jobs AS
        SELECT m.j, m.dup_of, m.unknown, c.branch, c.pid,
          CASE WHEN m.unknown THEN CAST(1 + {h("m.j", "uk")} % 900 AS VARCHAR)
               ELSE c.local_id END AS customer_local,
          'J' || CAST(100000 + row_number() OVER (PARTITION BY c.branch ORDER BY
            {h("m.j", "o")}) AS VARCHAR) AS local_id,
          m.move_date,
          CASE WHEN {h("m.j", "mf")} % 3 = 0 THEN strftime(m.move_date, '%m/%d/%Y')
               ELSE strftime(m.move_date, '%Y-%m-%d') END AS move_date_text,
          {origin} AS origin, {dest} AS destination,
          concat(m.dnum, '|', m.dstreet, '|', m.dsuf, '|', m.dzip2) AS dest_key,
          {_null("CAST(m.volume AS VARCHAR)", h("m.j", "vn"), 100)} AS volume,
          {_null("CAST(m.volume * 7 AS VARCHAR)", h("m.j", "wn"), 100)} AS weight,
          CASE WHEN {h("m.j", "pf")} % 4 = 0 THEN '$' || format('{{:,.2f}}', {price})
               ELSE CAST({price} AS VARCHAR) END AS price,
          {_case("m.status", h("m.j", "sc"))} AS status,
          {sql_timestamp_text(created, f"{h('m.j', 'cf')} % 3")} AS created
        FROM _mv_moves m JOIN _mv_customers c ON c.r = m.r, _mv_vocab v
        """
    )
    con.execute("DROP TABLE _mv_moves")
