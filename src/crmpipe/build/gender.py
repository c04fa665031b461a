"""Gender inferred from first names (opt-in, `enrich.gender`): the table's distinct first names
looked up once in gender-guesser's offline name list, the answers joined back in DuckDB into
`gender_inferred` and `gender_confidence`. A declared gender is never written, and rows that
have one are not inferred.

It runs on the core table after resolution, so a golden record's inferred gender is the one
of the first name it kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import duckdb

from crmpipe.config.enrich import GENDER_CONFIDENCE, GENDER_INFERRED, GenderSpec
from crmpipe.model import Table
from crmpipe.sqltext import quote_ident

#: gender-guesser's answer → (gender_inferred, gender_confidence). `male`/`female`: the list
#: gives the name one gender; `mostly_*`: mostly that gender (a unisex name leaning one way,
#: or one gender only as a first part); `andy`: unisex; `unknown`: not in the list.
ANSWERS: dict[str, tuple[str, float | None]] = {
    "male": ("male", 0.95),
    "female": ("female", 0.95),
    "mostly_male": ("male", 0.75),
    "mostly_female": ("female", 0.75),
    "andy": ("unknown", None),
    "unknown": ("unknown", None),
}

#: Splits a compound first name (`Mary Ann`, `Jean-Luc`) when the whole is not in the list.
_PARTS = re.compile(r"[\s\-.]+")


@dataclass
class GenderResult:
    """What inference did to one table: rows with a first name and no declared gender
    (`considered`), of them given male or female (`inferred`), distinct names looked up."""

    considered: int = 0
    inferred: int = 0
    names: int = 0


@lru_cache(maxsize=1)
def _detector() -> Any:
    """gender-guesser's detector (reads its ~48k-name list once per process)."""
    import gender_guesser.detector as gd

    return gd.Detector(case_sensitive=False)


def guess(name: str, country: str | None = None) -> tuple[str, float | None]:
    """(gender_inferred, gender_confidence) for one first name; ('unknown', None) when the list
    doesn't know it. A compound name not in the list is read by its first part."""
    detector = _detector()
    answer = detector.get_gender(name.strip(), country)
    if answer == "unknown":
        parts = [p for p in _PARTS.split(name.strip()) if p]
        if len(parts) > 1:
            answer = detector.get_gender(parts[0], country)
    return ANSWERS[answer]


def infer_gender(con: duckdb.DuckDBPyConnection, tbl: Table, spec: GenderSpec) -> GenderResult:
    """Fill core.<table>'s inferred columns for rows with a first name and no declared gender.

    Python sees each distinct first name once; the answers go back as three bound lists
    unnested into a lookup joined in a single UPDATE. Rows without a first name, or with a
    declared gender, stay NULL.
    """
    target = f"core.{quote_ident(tbl.name)}"
    declared = spec.declared_column(tbl)
    open_rows = "first_name IS NOT NULL" + (
        f" AND {quote_ident(declared)} IS NULL" if declared else ""
    )
    names = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT first_name FROM {target} WHERE {open_rows}"
        ).fetchall()
        if str(r[0]).strip()
    ]
    answers = [guess(str(n), spec.country) for n in names]
    # The answers go in as bound lists (never SQL text), unnested into a lookup relation.
    lookup = (
        "(SELECT unnest(?::VARCHAR[]) AS name, unnest(?::VARCHAR[]) AS gender, "
        "unnest(?::DOUBLE[]) AS confidence)"
    )
    con.execute(
        f"UPDATE {target} AS t SET {quote_ident(GENDER_INFERRED)} = g.gender, "
        f"{quote_ident(GENDER_CONFIDENCE)} = g.confidence "
        f"FROM {lookup} g WHERE t.first_name = g.name"
        + (f" AND t.{quote_ident(declared)} IS NULL" if declared else ""),
        [names, [a[0] for a in answers], [a[1] for a in answers]],
    )
    considered, inferred = con.execute(
        f"SELECT count(*) FILTER (WHERE {quote_ident(GENDER_INFERRED)} IS NOT NULL), "
        f"count(*) FILTER (WHERE {quote_ident(GENDER_INFERRED)} IN ('male', 'female')) "
        f"FROM {target}"
    ).fetchone()
    return GenderResult(int(considered), int(inferred), len(names))
