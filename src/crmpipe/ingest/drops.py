"""Dated drops: which of a source's loaded files feed the product when only the newest counts.

A list bought from an agency arrives again and again as a whole new file
(`source_1_20241101.csv`, `07-07-2023 Texas DHHS.csv`). With `drops: newest` the source's newest
drop feeds staging and the older ones stay in `raw` as history. The drop's date comes from its
file name (its modification time when the name has none); two drops of one date are ordered by
modification time. Everything here reads `meta.manifest`; nothing is deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from crmpipe.config.schema import SourceSpec

#: Dates in file names, most specific first: 20241101, 2024-11-01, 2024_11_01, 07-07-2023,
#: 11_01_2024 (US order, as agencies name their exports).
_PATTERNS: tuple[tuple[re.Pattern[str], tuple[int, int, int]], ...] = (
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), (1, 2, 3)),
    (re.compile(r"(?<!\d)(\d{4})[-_.](\d{1,2})[-_.](\d{1,2})(?!\d)"), (1, 2, 3)),
    (re.compile(r"(?<!\d)(\d{1,2})[-_.](\d{1,2})[-_.](\d{4})(?!\d)"), (3, 1, 2)),
)


def drop_date(name: str) -> date | None:
    """The date a file name carries (`source_1_20241101.csv` → 2024-11-01), or None."""
    stem = Path(name).name
    for pattern, (y, m, d) in _PATTERNS:
        for match in pattern.finditer(stem):
            try:
                return date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                continue  # 20241399 is not a date; look further
    return None


@dataclass(frozen=True)
class Drop:
    """One loaded version of a file of a source, with the date that orders it."""

    file: str
    file_hash: str
    mtime: datetime
    dated: date | None
    run_id: int

    @property
    def order(self) -> tuple[date, datetime]:
        return (self.dated or self.mtime.date(), self.mtime)


@dataclass
class Feeding:
    """Which loaded file versions of a source feed the product, and what to tell the user."""

    source: str
    hashes: list[str] | None  # None: every loaded file feeds (`drops: all`)
    notes: list[str] = field(default_factory=list)


def _drops(con: duckdb.DuckDBPyConnection, source: str) -> list[Drop]:
    rows = con.execute(
        "SELECT file, file_hash, file_mtime, run_id FROM meta.manifest WHERE source = ? "
        "ORDER BY run_id, file",
        [source],
    ).fetchall()
    return [Drop(f, h, m, drop_date(f), int(r)) for f, h, m, r in rows]


def feeding(
    con: duckdb.DuckDBPyConnection, source: str, spec: SourceSpec, run_id: int | None = None
) -> Feeding:
    """The file versions of `source` that feed staging; notes say what was held back and why.

    `run_id` is the current run: drops it loaded that are older than the feeding one are named
    in the notes ("loaded to raw as history, not fed").
    """
    if spec.drops == "all":
        return Feeding(source, None)
    drops = _drops(con, source)
    if not drops:
        return Feeding(source, [])
    newest = max(drops, key=lambda d: d.order)
    out = Feeding(source, [newest.file_hash])
    label = newest.dated.isoformat() if newest.dated else f"modified {newest.mtime:%Y-%m-%d}"
    out.notes.append(f"newest drop {Path(newest.file).name} ({label}) feeds the product")
    same_day = [d for d in drops if d is not newest and d.order[0] == newest.order[0]]
    for d in same_day:
        out.notes.append(
            f"{Path(d.file).name} has the same date; {Path(newest.file).name} was modified "
            "later and wins"
        )
    if run_id is not None:
        late = [d for d in drops if d.run_id == run_id and d.order < newest.order]
        for d in late:
            if d in same_day:
                continue
            out.notes.append(
                f"{Path(d.file).name} is older than {Path(newest.file).name}: loaded to raw as "
                "history, not fed to the product"
            )
    return out


def feeding_filter(feed: Feeding) -> str:
    """SQL condition on raw rows keeping the feeding versions (hashes are our own hex digests,
    checked here, so they can be spelled as literals)."""
    if feed.hashes is None:
        return "TRUE"
    if not feed.hashes:
        return "FALSE"
    if not all(re.fullmatch(r"[0-9a-f]{64}", h) for h in feed.hashes):
        raise ValueError("file hashes must be SHA-256 hex digests")
    return "_file_hash IN (" + ", ".join(f"'{h}'" for h in feed.hashes) + ")"
