"""The CRM's existing leads of the childcare case: a Salesforce Lead export.

A share of the leads are facilities of the three lists (the company is the facility's name as
the CRM wrote it, with its phone, address and contact); the rest are leads no list knows, each
its own facility in the truth. Ids are real-looking 18-character Lead ids (`00Q5e00000AbCdEFG2`:
key prefix `00Q`, instance `5e`, a base-62 record number and Salesforce's three-letter case
checksum). The real sample's ids and brightwheel ids are small integers and its phones and
e-mails placeholders (it is anonymised); the generated export uses real-looking values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import childcare_vocab as cv
from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets.childcare_render import date_sql, phone_sql, pick, rows_sql, title_sql

MATCHED_SHARE = 0.6  # of leads that are facilities of the lists
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_CHECK = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)
CREATED_RANGE = (1_514_764_800, 1_715_904_000)  # 2018-01-01 .. 2024-05-17 (UTC)


def salesforce_ids(numbers: np.ndarray) -> pa.Array:
    """18-character Lead ids for record numbers `numbers` (vectorized, checksum included)."""
    n = numbers.size
    chars = np.empty((n, 18), np.uint8)
    chars[:, :6] = np.frombuffer(b"00Q5e0", np.uint8)
    x = numbers.astype(np.int64).copy()
    for k in range(14, 5, -1):  # nine base-62 digits, least significant last
        chars[:, k] = _B62[x % 62]
        x //= 62
    upper = (chars[:, :15] >= ord("A")) & (chars[:, :15] <= ord("Z"))
    bits = upper.reshape(n, 3, 5) * (1 << np.arange(5))
    chars[:, 15:] = _CHECK[bits.sum(axis=2)]
    offsets = np.arange(0, 18 * (n + 1), 18, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    )


def lead_extras(rng: np.random.Generator, i: np.ndarray) -> pa.Table:
    """Per lead row (global row index `i`, in id order): the columns only leads have."""
    n = i.size
    start = int(rng.integers(1_000_000, 50_000_000))
    numbers = start + np.cumsum(rng.integers(1, 4000, n))
    created = np.sort(rng.integers(*CREATED_RANGE, n))
    modified = np.maximum(created, CREATED_RANGE[1] + rng.integers(0, 86_400, n))
    status = m.draw_choice(rng, n, np.array(cv.LEAD_STATUS_WEIGHTS))
    u = rng.random((n, 8), dtype=np.float32)
    return m.arrow_table(
        {
            "i": i.astype(np.int64),
            "sfid": salesforce_ids(numbers),
            "lead_no": np.arange(1, n + 1, dtype=np.int32),
            "deleted": u[:, 0] < 0.03,
            "no_first": u[:, 1] < 0.25,
            "no_street": u[:, 2] < 0.35,
            "no_city": u[:, 3] < 0.15,
            "no_zip": u[:, 4] < 0.3,
            "zip4": rng.integers(0, 10_000, n).astype(np.int32),
            "u5": u[:, 5],
            "u6": u[:, 6],
            "u7": u[:, 7],
            "title": m.draw_choice(rng, n, np.array(cv.LEAD_TITLE_WEIGHTS)),
            "lsrc": m.draw_choice(rng, n, np.array(cv.LEAD_SOURCE_WEIGHTS)),
            "status": m.dictionary_column(status, [s for s, _ in cv.LEAD_STATUSES]),
            "stage": m.dictionary_column(status, [s for _, s in cv.LEAD_STATUSES]),
            "country": rng.integers(0, len(cv.COUNTRIES), n).astype(np.int8),
            "created": created,
            "modified": modified,
        }
    )


def _ts(epoch: str) -> str:
    """'2023-06-01 6:35:38', the export's timestamp layout (hour not padded)."""
    return f"strftime(make_timestamp(CAST({epoch} AS BIGINT) * 1000000), '%Y-%m-%d %-H:%M:%S')"


_COMPANY = (
    "CASE WHEN style <> 4 THEN nm WHEN u5 < 0.5 THEN concat(ln, ', ', fn) "
    "ELSE concat(fn, ' ', ln, ' Family Child Care') END"
)
_ZIP = (
    "CASE WHEN no_zip THEN '' WHEN u6 < 0.1 THEN concat(lpad(CAST(zip AS VARCHAR), 5, '0'), '-', "
    "lpad(CAST(zip4 AS VARCHAR), 4, '0')) ELSE lpad(CAST(zip AS VARCHAR), 5, '0') END"
)
_MOBILE = (
    "concat(CAST(mobile // 10000000 AS VARCHAR), CAST((mobile // 10000) % 1000 AS VARCHAR), "
    "lpad(CAST(mobile % 10000 AS VARCHAR), 4, '0'))"
)
_DAY = 86_400

#: The export's columns as SQL over one lead row, and whether the field may hold , or ".
LEAD_FIELDS: list[tuple[str, bool]] = [
    ("sfid", False),
    ("CASE WHEN deleted THEN 'TRUE' ELSE 'FALSE' END", False),
    ("ln", True),
    ("CASE WHEN no_first THEN '' WHEN two THEN concat(fn, ' & ', fn2) ELSE fn END", True),
    (pick(cv.LEAD_TITLES, "title"), True),
    (_COMPANY, True),
    (f"CASE WHEN no_street THEN '' ELSE {title_sql('street_u')} END", True),
    ("CASE WHEN no_city THEN '' ELSE city_title END", False),
    ("CASE WHEN u7 < 0.5 THEN st_name ELSE st END", False),
    (_ZIP, False),
    (pick(cv.COUNTRIES, "country"), False),
    (phone_sql(3), False),
    (m.sql_null(_MOBILE, "n_contact"), False),
    (m.sql_null("email", "n_other"), False),
    (
        "CASE WHEN u5 > 0.9 AND compact <> '' THEN concat('www.', compact, '.com') ELSE '' END",
        False,
    ),
    (pick(cv.LEAD_SOURCES, "lsrc"), False),
    ("status", False),
    ("'FALSE'", False),
    (_ts("created"), False),
    (_ts("modified"), False),
    (f"CASE WHEN u6 < 0.9 THEN {date_sql(f'modified // {_DAY}', '%Y-%m-%d')} ELSE '' END", False),
    ("''", False),
    ("''", False),
    ("''", False),
    ("''", False),
    ("stage", False),
    ("CASE WHEN u7 > 0.95 THEN CAST(cap * 4 // 5 AS VARCHAR) ELSE '' END", False),
    ("CASE WHEN u7 > 0.92 THEN CAST(cap AS VARCHAR) ELSE '' END", False),
    (
        f"CASE WHEN u6 > 0.97 THEN {date_sql(f'created // {_DAY} + 60', '%Y-%m-%d')} ELSE '' END",
        False,
    ),
    ("CAST(lead_no + 20 AS VARCHAR)", False),
]


def leads_lines_sql(src: int) -> str:
    """`key`, `fac`, `malformed` and the CSV `line` of every lead row (rows of `r` with
    `src`, joined to `lx` for the lead-only columns), in id order."""
    line = m.sql_csv_line([e for e, _ in LEAD_FIELDS], needs_quoting=[q for _, q in LEAD_FIELDS])
    return (
        f"SELECT lead_no AS key, fac, malformed, {line} AS line "
        f"FROM ({rows_sql(f'src = {src}')}) JOIN lx USING (i)"
    )
