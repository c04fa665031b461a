"""Planted duplicate people for the pursuit case, and the resolution ground truth.

A share of the contacts (default 5%) appears again in `contacts_3.csv`, an older export from
another CRM, the way a person really re-appears: under a nickname, with a typo, first and last
name swapped, without an email, with the phone in another layout, the title worded differently.
`resolve_truth.csv` maps every data row of every contact file (source, file, row as crmpipe's
ingest numbers them: the data row's number in its file, malformed records counted) to the true
person, so
`crmpipe resolve --evaluate` and `benchmarks/resolve.py` can score resolution.

Everything is drawn with numpy from the case's seed and rendered in DuckDB (no per-row Python).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import vocab as v

DUPLICATES_FILE = "contacts_3.csv"
TRUTH_FILE = "resolve_truth.csv"

#: Chance of each variation on a planted duplicate row (independent draws).
VARIATION_RATES: dict[str, float] = {
    "nickname": 0.5,  # of those whose given name has a usual nickname
    "typo_first": 0.08,
    "typo_last": 0.12,
    "swap_names": 0.04,
    "no_email": 0.3,
    "email_upper": 0.1,
    "no_phone": 0.15,
    "title_wording": 0.5,
    "no_title": 0.08,
    "no_department": 0.2,
}

#: Title words a second CRM abbreviates.
TITLE_WORDING: tuple[tuple[str, str], ...] = (
    ("Director", "Dir."),
    ("Assistant", "Asst."),
    ("Manager", "Mgr"),
    ("Senior", "Sr."),
    ("Department", "Dept."),
    (" and ", " & "),
    ("Coordinator", "Coord."),
)


def _nickname_table() -> pa.Table:
    given, nick = [], []
    for name, (_, nicks) in v.NICKNAMES.items():
        given.append(name)
        nick.append(max(nicks, key=nicks.get))  # the usual one
    return pa.table({"given": given, "nick": nick})


def _typo_sql(col: str, code: str, pos: str) -> str:
    """`col` with one typo of kind `code` (1 drop, 2 swap, 3 double, else none) at a position
    from the uniform draw `pos`; the first letter is kept (people rarely mistype it)."""
    k = f"(2 + CAST(floor({pos} * greatest(length({col}) - 2, 1)) AS INTEGER))"
    return (
        f"CASE WHEN length({col}) < 4 THEN {col} "
        f"WHEN {code} = 1 THEN {col}[1:{k} - 1] || {col}[{k} + 1:] "
        f"WHEN {code} = 2 THEN {col}[1:{k} - 1] || {col}[{k} + 1] || {col}[{k}] || {col}[{k} + 2:] "
        f"WHEN {code} = 3 THEN {col}[1:{k}] || {col}[{k}:] ELSE {col} END"
    )


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list:
    """Execute and fetch everything (DuckDB 2.0 refuses new work while a result is pending)."""
    return con.execute(sql, params or []).fetchall()


def write_duplicates(
    folder: Path,
    rows: pa.Table,
    *,
    rate: float,
    rng: np.random.Generator,
    id_width: int,
    source: str = "contacts",
) -> dict[str, int]:
    """Write contacts_3.csv (when `rate` > 0) and resolve_truth.csv.

    `rows` lists the data rows the contact files hold that ingest keeps: `file` (name), `row`
    (1-based, as ingest numbers it) and `contact_num` (the contact id's number). The truth is
    read from `truth.csv`, which must already be written. Returns the counts (`contacts_3.csv`,
    `planted_duplicates`, `resolve_truth.csv`).
    """
    truth = folder / "truth.csv"
    con = duckdb.connect()
    try:
        _run(con, "SET preserve_insertion_order = true")
        _run(con, "SET enable_progress_bar = false")
        _run(
            con,
            "CREATE TABLE t AS SELECT row_number() OVER () - 1 AS i, * FROM read_csv(?, "
            "all_varchar = true, header = true) WHERE rejected = 'false'",
            [str(truth)],
        )
        n_people = _run(con, "SELECT count(*) FROM t")[0][0]
        k = int(round(rate * n_people)) if rate > 0 else 0
        counts = {"planted_duplicates": k}
        con.register("src_rows", rows)
        cid = f"concat('c', lpad(CAST(contact_num AS VARCHAR), {id_width}, '0'))"
        dup_rows = pa.table({"file": pa.array([], pa.string()), "row": pa.array([], pa.int64())})
        if k:
            pick = np.sort(rng.choice(n_people, size=k, replace=False))
            r = VARIATION_RATES
            u = rng.random((k, 12))
            codes = pa.table(
                {
                    "i": pick,
                    "dup_no": np.arange(1, k + 1),
                    "nick": u[:, 0] < r["nickname"],
                    "typo_f": np.where(u[:, 1] < r["typo_first"], rng.integers(1, 4, k), 0),
                    "typo_l": np.where(u[:, 2] < r["typo_last"], rng.integers(1, 4, k), 0),
                    "pos_f": rng.random(k),
                    "pos_l": rng.random(k),
                    "swap": u[:, 3] < r["swap_names"],
                    "no_email": u[:, 4] < r["no_email"],
                    "email_upper": u[:, 5] < r["email_upper"],
                    "no_phone": u[:, 6] < r["no_phone"],
                    "phone_fmt": rng.integers(0, 3, k),
                    "wording": u[:, 7] < r["title_wording"],
                    "no_title": u[:, 8] < r["no_title"],
                    "no_dept": u[:, 9] < r["no_department"],
                    "days_older": rng.integers(30, 2000, k),
                }
            )
            con.register("codes", codes)
            con.register("nicknames", _nickname_table())
            title = "title"
            for long, short in TITLE_WORDING:
                title = f"replace({title}, '{long}', '{short}')"
            digits = "substr(phone, 3)"  # +1AAAEEELLLL → AAAEEELLLL
            a, e, ln = f"{digits}[1:3]", f"{digits}[4:6]", f"{digits}[7:10]"
            phone = (
                f"CASE phone_fmt WHEN 0 THEN '+1 ' || {a} || ' ' || {e} || ' ' || {ln} "
                f"WHEN 1 THEN {a} || '.' || {e} || '.' || {ln} "
                f"ELSE '1-' || {a} || '-' || {e} || '-' || {ln} END"
                " || CASE WHEN coalesce(phone_ext, '') <> '' THEN ' ext. ' || phone_ext "
                "ELSE '' END"
            )
            email = "split_part(emails, ';', 1)"
            _run(
                con,
                f"""
                CREATE TABLE d AS
                WITH n AS (
                  SELECT c.* EXCLUDE (i), t.*,
                    CASE WHEN c.nick AND nk.nick IS NOT NULL THEN nk.nick ELSE t.first_name END
                      AS fn0
                  FROM codes c JOIN t USING (i) LEFT JOIN nicknames nk ON nk.given = t.first_name
                ), ty AS (
                  SELECT *, {_typo_sql("fn0", "typo_f", "pos_f")} AS fn1,
                    {_typo_sql("last_name", "typo_l", "pos_l")} AS ln1 FROM n
                )
                SELECT dup_no, contact_id AS person_id,
                  concat('d', lpad(CAST(dup_no AS VARCHAR), {id_width}, '0')) AS contact_id,
                  entity_id AS place_id,
                  CASE WHEN swap THEN ln1 ELSE fn1 END AS first_name,
                  CASE WHEN swap THEN fn1 ELSE ln1 END AS last_name,
                  CASE WHEN no_email OR coalesce(emails, '') = '' THEN NULL
                    WHEN email_upper THEN upper({email}) ELSE {email} END AS email,
                  CASE WHEN no_phone OR coalesce(phone, '') = '' THEN NULL ELSE {phone} END
                    AS phone,
                  CASE WHEN no_title THEN NULL WHEN wording THEN {title}
                    ELSE title END AS title,
                  CASE WHEN no_dept THEN NULL ELSE department END AS department,
                  strftime(CAST(created_at AS TIMESTAMP) - to_days(CAST(days_older AS INTEGER)),
                    '%Y-%m-%d %H:%M:%S') AS created_at
                FROM ty ORDER BY dup_no
                """,
            )
            _run(
                con,
                "COPY (SELECT contact_id, place_id, first_name, last_name, email, phone, title, "
                "department, created_at FROM d ORDER BY dup_no) TO ? (HEADER, DELIMITER ',')",
                [str(folder / DUPLICATES_FILE)],
            )
            counts[DUPLICATES_FILE] = k
            dup_rows = con.sql(
                f"SELECT '{DUPLICATES_FILE}' AS file, dup_no AS row, contact_id, person_id FROM d"
            ).to_arrow_table()
        else:
            (folder / DUPLICATES_FILE).unlink(missing_ok=True)
        con.register("dup_rows", dup_rows)
        dup_select = (
            "SELECT file, row, contact_id, person_id FROM dup_rows"
            if k
            else "SELECT NULL, NULL, NULL, NULL WHERE false"
        )
        _run(
            con,
            f"COPY (SELECT '{source}' AS source, file, row, contact_id, person_id FROM ("
            f"SELECT file, row, {cid} AS contact_id, {cid} AS person_id FROM src_rows "
            f"UNION ALL {dup_select}) ORDER BY file, row) TO ? (HEADER, DELIMITER ',')",
            [str(folder / TRUTH_FILE)],
        )
        counts[TRUTH_FILE] = _run(
            con, "SELECT count(*) FROM read_csv(?, header = true)", [str(folder / TRUTH_FILE)]
        )[0][0]
    finally:
        con.close()
    return counts
