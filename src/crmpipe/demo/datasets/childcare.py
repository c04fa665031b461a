"""The childcare-leads case's files: three state lists of childcare facilities, the CRM's
existing leads, and the ground truth of which rows are the same facility.

`generate_childcare(folder, facilities, seed, overlap, leads)` writes, in the real samples'
exact headers and value shapes (`../shared/data/childcare`):

- `source1.csv`: the Nevada credential list (one-field addresses, `11/30/23` dates, two
  contacts in one field), sorted by phone as the real one;
- `source2.csv`: the Oklahoma license list (hours per weekday, the caregiver as a quoted
  three-line field, the suite sometimes in Address2), sorted by phone;
- `source3.csv`: the Texas operations list (names in mixed case, a stray quote pair, and a few
  lines whose unquoted comma breaks them), sorted by name;
- `salesforce_leads.csv`: the CRM's leads, part of them facilities of the lists;
- `truth.csv`: `source,row,facility_id,malformed` for every data row of every file (rows
  numbered from 1 as a CSV reader counts records: a multi-line record once).

Duplicates are planted by identity, not by copying rows: a facility is drawn once
(childcare_facilities) and `overlap` of them are listed by two or three sources, each writing it
its own way (childcare_render: name, address and phone variants; a changed phone now and then).
Chains share one phone across distinct facilities, which must not be merged. Everything is drawn
with numpy and rendered in DuckDB, deterministic per seed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from crmpipe.demo.datasets import childcare_facilities as cf
from crmpipe.demo.datasets import childcare_vocab as cv
from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets.childcare_leads import MATCHED_SHARE, lead_extras, leads_lines_sql
from crmpipe.demo.datasets.childcare_render import FACILITY_SQL, source_lines_sql
from crmpipe.demo.datasets.childcare_rows import draw_rows

SOURCES: tuple[str, ...] = ("source1", "source2", "source3", "salesforce_leads")
HEADERS: dict[str, tuple[str, ...]] = {
    "source1": cv.SOURCE1_HEADER,
    "source2": cv.SOURCE2_HEADER,
    "source3": cv.SOURCE3_HEADER,
    "salesforce_leads": cv.LEADS_HEADER,
}
TRUTH_HEADER = ("source", "row", "facility_id", "malformed")
LEADS_SHARE = 0.1  # default leads per facility row
THREE_SOURCES = 0.2  # of the overlapping facilities, those in all three lists


@dataclass
class ChildcareFiles:
    """What `generate_childcare` wrote: the paths, the data rows per file and planted counts
    (`facilities` distinct in the lists, `overlapping`, `chains`, `chain_facilities`,
    `phone_changed`, `seven_digit_phones`, `malformed_lines`, `matched_leads`...)."""

    folder: Path
    source1: Path
    source2: Path
    source3: Path
    salesforce_leads: Path
    truth: Path
    rows: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        """The four source files, in source order."""
        return [self.source1, self.source2, self.source3, self.salesforce_leads]


def split_facilities(rows: int, overlap: float) -> tuple[int, int, int]:
    """(facilities in one list, in two, in three) so that the rows add up to `rows` exactly and
    about `overlap` of the facilities are in two or three lists."""
    if rows <= 0:
        return 0, 0, 0
    n = rows / (1 + overlap * (1 + THREE_SOURCES))
    n3 = int(round(n * overlap * THREE_SOURCES))
    n2 = int(round(n * overlap)) - n3
    while 2 * n2 + 3 * n3 > rows:
        n2, n3 = (n2 - 1, n3) if n2 > 0 else (n2, n3 - 1)
    return rows - 2 * n2 - 3 * n3, n2, n3


def generate_childcare(
    folder: Path,
    facilities: int = 3000,
    seed: int = 0,
    overlap: float = 0.3,
    leads: int | None = None,
) -> ChildcareFiles:
    """Write the case's four files and truth.csv into `folder` (created if missing).

    `facilities` is the number of facility rows across the three lists; `overlap` the share of
    distinct facilities listed in two or three of them; `leads` the CRM's lead rows (default
    10% of `facilities`)."""
    if not 0 <= overlap <= 1:
        raise ValueError(f"overlap must be between 0 and 1, got {overlap}")
    folder.mkdir(parents=True, exist_ok=True)
    n_leads = int(round(LEADS_SHARE * facilities)) if leads is None else int(leads)
    rng = np.random.default_rng([seed, 0xC41D])
    n1, n2, n3 = split_facilities(facilities, overlap)
    n_list = n1 + n2 + n3
    n_match = min(int(round(n_leads * MATCHED_SHARE)), n_list)
    n_other = n_leads - n_match
    pl = cf.places(rng)
    fac = cf.draw_facilities(rng, n_list, n_other, pl)
    rows, extra = draw_rows(rng, fac, (n1, n2, n3), n_match, n_other)
    counts = {
        "facilities": n_list,
        "overlapping": n2 + n3,
        "in_three": n3,
        "crm_only_facilities": n_other,
        "matched_leads": n_match,
        "chains": int(np.unique(fac["chain"][fac["chain"] >= 0]).size),
        "chain_facilities": int((fac["chain"] >= 0).sum()),
        **extra,
    }
    lead_rows = np.flatnonzero(rows.column("src").to_numpy() == 3)
    paths = {s: folder / f"{s}.csv" for s in SOURCES}
    width = max(7, len(str(n_list + n_other)))
    written: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")
        con.register("fac", cf.facility_table(fac, pl))
        con.register("r", rows)
        con.register("lx", lead_extras(rng, lead_rows))
        con.execute(f"CREATE TEMP TABLE f AS {FACILITY_SQL}")
        with m.LineWriter(folder / "truth.csv", ",".join(TRUTH_HEADER)) as truth:
            for src, name in enumerate(SOURCES):
                sql = leads_lines_sql(src) if src == 3 else source_lines_sql(name, src)
                written[name] = _write_source(con, sql, name, paths[name], truth, width)
            truth.close()
    finally:
        con.close()
    return ChildcareFiles(
        folder, *(paths[s] for s in SOURCES), folder / "truth.csv", written, counts
    )


def _write_source(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    name: str,
    path: Path,
    truth: m.LineWriter,
    width: int,
) -> int:
    """Write one source file in its sort order, and its rows' truth lines."""
    fid = f"concat('F', lpad(CAST(fac + 1 AS VARCHAR), {width}, '0'))"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE o AS SELECT fac, malformed, line "
        f"FROM ({sql}) ORDER BY key, fac"
    )
    flags = con.execute("SELECT malformed FROM o").fetchnumpy()["malformed"]
    bad = np.flatnonzero(np.asarray(flags, bool))
    repl: dict[int, bytes] = {}
    if bad.size:
        lines = [x for (x,) in con.execute("SELECT line FROM o WHERE malformed").fetchall()]
        for k, (pos, line) in enumerate(zip(bad.tolist(), lines, strict=True)):
            repl[pos] = _broken(name, next(csv.reader([line])), k)
    with m.LineWriter(path, ",".join(HEADERS[name]), replacements=repl) as w:
        for batch in con.sql(
            f"SELECT line, concat('{name},', rowid + 1, ',', {fid}, ',', CASE WHEN malformed "
            "THEN 'true' ELSE 'false' END, chr(10)) AS truth FROM o"
        ).to_arrow_reader(500_000):
            w.write(batch.column("line"))
            truth.write(batch.column("truth"))
        return w.close()


def _broken(source: str, fields: list[str], index: int) -> bytes:
    """A malformed version of a row: in Texas the operation name's comma left unquoted (one
    field too many, the real file's quoting trouble); elsewhere a line cut short."""
    if source == "source3":
        name = fields[2].replace(",", "").replace('"', "") + ", LLC"
        head = m.csv_line(fields[:2], "").encode()
        tail = m.csv_line(fields[3:], "\n").encode()
        return head + b"," + name.encode() + b"," + tail
    return m.malformed_line("too_few_fields", fields, index=index, keep_fields=5)
