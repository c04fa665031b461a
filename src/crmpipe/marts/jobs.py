"""The mover case's job marts (docs/movers.md), built when `core.jobs` has rows:

- `marts.job_addresses`: each distinct origin or destination, parsed once (the SQL fast path of
  crmpipe.clean.addresses, the library for the rest) into a comparable key: number, street and
  unit in USPS abbreviations and the ZIP code (`1859 WAKEFIELD BLVD 78748`);
- `marts.jobs_duplicates`: one move booked more than once — jobs of one golden customer with
  the same origin and destination keys whose move dates follow each other by at most
  `marts.jobs.duplicate_days`; every job of a group, the one kept and why (completed first,
  else booked first, else the smaller id);
- `marts.jobs_rolling`: daily job counts over 30, 60 and 90 days, per branch (every day from
  the first move to the last) and per customer (the days they have a move); a duplicate that
  is not kept is not counted;
- `marts.customer_lifetime`: per golden customer, jobs, completed jobs, revenue (completed
  jobs' prices), first and last move, branches.
"""

from __future__ import annotations

import duckdb

from crmpipe.clean.addresses import address_lookup
from crmpipe.config.schema import Config
from crmpipe.warehouse.connection import table_exists

ADDRESSES = "marts.job_addresses"
DUPLICATES = "marts.jobs_duplicates"
ROLLING = "marts.jobs_rolling"
LIFETIME = "marts.customer_lifetime"
TABLES = (ADDRESSES, DUPLICATES, ROLLING, LIFETIME)
#: The windows of `jobs_rolling`, in days.
WINDOWS = (30, 60, 90)

#: SQL: a job address's comparable key from its parsed parts, else its letters and digits.
_KEY = (
    "CASE WHEN parsed AND number IS NOT NULL THEN upper(concat_ws(' ', number, street, unit, "
    "postal_code)) ELSE upper(trim(regexp_replace(raw, '[^A-Za-z0-9]+', ' ', 'g'))) END"
)


def wanted(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the project has jobs to analyse."""
    return table_exists(con, "core", "jobs")


def build_job_marts(con: duckdb.DuckDBPyConnection, cfg: Config) -> list[tuple[str, int]]:
    """Build the four tables; (table, rows) of each."""
    address_lookup(
        con,
        "SELECT origin_address FROM core.jobs UNION SELECT destination_address FROM core.jobs",
        "_crm_job_addresses",
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {ADDRESSES} AS SELECT raw, {_KEY} AS address_key, parsed "
        "FROM _crm_job_addresses"
    )
    con.execute("DROP TABLE _crm_job_addresses")
    _duplicates(con, cfg.marts.jobs.duplicate_days)
    _rolling(con)
    _lifetime(con)
    return [(t, int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])) for t in TABLES]


def _duplicates(con: duckdb.DuckDBPyConnection, days: int) -> None:
    """Group the jobs booked twice. Only jobs sharing their customer, origin and destination
    with another job can be in a group (a few percent of them): those are found by one hash
    aggregate over all jobs, and the window functions sort only them."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _crm_job_keys AS
        SELECT j.job_id, j.customer_id, j.branch_id, j.move_date, j.status, j.created_at,
          o.address_key AS origin_key, d.address_key AS destination_key
        FROM core.jobs j
        JOIN {ADDRESSES} o ON o.raw = j.origin_address
        JOIN {ADDRESSES} d ON d.raw = j.destination_address
        WHERE j.customer_id IS NOT NULL AND j.move_date IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {DUPLICATES} AS
        WITH j AS (
          SELECT * FROM _crm_job_keys SEMI JOIN (
            SELECT customer_id, origin_key, destination_key FROM _crm_job_keys
            GROUP BY ALL HAVING count(*) > 1) USING (customer_id, origin_key, destination_key)
        ), gaps AS (
          SELECT *, CASE WHEN move_date - lag(move_date) OVER w <= ? THEN 0 ELSE 1 END AS new
          FROM j WINDOW w AS (PARTITION BY customer_id, origin_key, destination_key
                              ORDER BY move_date, job_id)
        ), runs AS (
          SELECT *, sum(new) OVER (PARTITION BY customer_id, origin_key, destination_key
                                   ORDER BY move_date, job_id ROWS UNBOUNDED PRECEDING) AS run
          FROM gaps
        ), groups AS (
          SELECT *, count(*) OVER g AS jobs_in_group,
            min(job_id) OVER g AS group_id,
            row_number() OVER (PARTITION BY customer_id, origin_key, destination_key, run
              ORDER BY lower(status) = 'completed' DESC, created_at NULLS LAST, job_id) AS rank
          FROM runs WINDOW g AS (PARTITION BY customer_id, origin_key, destination_key, run)
        )
        SELECT group_id, job_id, customer_id, branch_id, move_date, status, created_at,
          origin_key, destination_key, jobs_in_group, rank = 1 AS kept,
          CASE WHEN rank > 1 THEN 'duplicate of the kept job'
               WHEN lower(status) = 'completed' THEN 'kept: completed'
               WHEN created_at IS NOT NULL THEN 'kept: booked first'
               ELSE 'kept: smallest job id' END AS reason
        FROM groups WHERE jobs_in_group > 1
        ORDER BY group_id, rank
        """,
        [days],
    )
    con.execute("DROP TABLE _crm_job_keys")


def _counted_jobs() -> str:
    return (
        "SELECT j.* FROM core.jobs j WHERE j.move_date IS NOT NULL AND j.job_id NOT IN "
        f"(SELECT job_id FROM {DUPLICATES} WHERE NOT kept)"
    )


def _rolling(con: duckdb.DuckDBPyConnection) -> None:
    wins = ", ".join(
        f"sum(n) OVER (PARTITION BY level, id ORDER BY day RANGE BETWEEN {w - 1} PRECEDING "
        f"AND CURRENT ROW) AS jobs_{w}d"
        for w in WINDOWS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {ROLLING} AS
        WITH jobs AS ({_counted_jobs()}),
        span AS (SELECT min(move_date) AS lo, max(move_date) AS hi FROM jobs),
        branch_days AS (
          SELECT b.branch_id AS id, CAST(d.day AS DATE) AS day
          FROM (SELECT DISTINCT branch_id FROM jobs WHERE branch_id IS NOT NULL) b,
            span, LATERAL (SELECT unnest(generate_series(span.lo, span.hi, INTERVAL 1 DAY))
                           AS day) d
        ), daily AS (
          SELECT 'branch' AS level, bd.id, bd.day, count(j.job_id) AS n
          FROM branch_days bd LEFT JOIN jobs j ON j.branch_id = bd.id AND j.move_date = bd.day
          GROUP BY ALL
          UNION ALL
          SELECT 'customer', customer_id, move_date, count(*) FROM jobs
          WHERE customer_id IS NOT NULL GROUP BY ALL
        )
        SELECT level, id, day, n AS jobs_on_day, {wins}
        FROM (SELECT level, id, day, n, CAST(day - DATE '2000-01-01' AS INTEGER) AS d
              FROM daily) x
        ORDER BY level, id, day
        """.replace("ORDER BY day RANGE", "ORDER BY d RANGE")
    )


def _lifetime(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {LIFETIME} AS
        SELECT customer_id, count(*) AS jobs,
          count(*) FILTER (WHERE lower(status) = 'completed') AS completed_jobs,
          coalesce(sum(price) FILTER (WHERE lower(status) = 'completed'), 0) AS revenue,
          min(move_date) AS first_move, max(move_date) AS last_move,
          count(DISTINCT branch_id) AS branches
        FROM ({_counted_jobs()}) WHERE customer_id IS NOT NULL
        GROUP BY customer_id ORDER BY customer_id
        """
    )
