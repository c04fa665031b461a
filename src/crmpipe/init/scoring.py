"""Scoring headers against the columns of one canonical table, for `crmpipe init`.

Each header gets a score per column: by name (a synonym), by keyword, or by its sampled values,
checked against the column's role; `assign` then takes the best one-to-one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmpipe.init.synonyms import (
    CREATED_HINTS,
    KEYWORDS,
    NOT_CREATED,
    match_forms,
    synonyms,
)
from crmpipe.init.values import ROLE_CHECKS, VALUE_GUESSES, is_email, sample_values, share_of
from crmpipe.model import TABLES, Role


@dataclass
class Match:
    """One header's claim to be one canonical column, with its score and how it was made."""

    header: str
    index: int
    column: str
    score: float
    how: str  # "name", "keyword", "values"
    why: str


def candidates(table: str, header: str, index: int, values: list[str]) -> list[Match]:
    """Every canonical column of `table` this header could be, with a score in (0, 1]."""
    forms = match_forms(header)
    words: set[str] = set()
    for f in forms:
        words |= set(f.split("_"))
    out: list[Match] = []
    tbl = TABLES[table]
    for col in tbl.columns:
        score, how, why = 0.0, "", ""
        names = synonyms(table, col.name)
        for f in forms:
            if f == col.name:
                score, how, why = 1.0, "name", "same name"
                break
            if f in names:
                score = max(score, 0.95 - 0.002 * names.index(f))
                how, why = "name", "known header name"
        if not score:
            for kw in KEYWORDS.get(col.name, ()):
                if kw <= words:
                    score, how = 0.6, "keyword"
                    why = f"header contains {' + '.join(sorted(kw))!r}"
                    break
        if (
            table == "external_ids"
            and col.name == "external_id"
            and not score
            and ("id" in words or forms[0].endswith("id"))
        ):
            score, how, why = 0.55, "keyword", "an id column"
        if (
            score
            and col.role is not Role.EMAIL_LIST
            and len(values) >= 3
            and ("email" in words or "mail" in words or share_of(values, is_email) >= 0.7)
        ):
            score = 0.0  # e.g. 'Email Address' is not an address
        check = ROLE_CHECKS.get(col.role)
        if score and check and len(values) >= 3:
            share = share_of(values, check)
            if share < 0.5:
                score *= 0.4
                why += f", but only {share:.0%} of its values fit {col.role.value}"
            elif share >= 0.9:
                score = min(1.0, score + 0.05)
        if not score and col.name in VALUE_GUESSES and len(values) >= 3:
            vcheck, need, vscore, what = VALUE_GUESSES[col.name]
            share = share_of(values, vcheck)
            if col.name == "created_at":
                if words & NOT_CREATED:
                    share = 0.0
                elif words & CREATED_HINTS:
                    vscore += 0.1
            if col.name == "url" and share_of(values, lambda v: "://" in v or "www." in v) < 0.5:
                share = 0.0  # bare 'a.b' values are too often names or numbers
            if share >= need:
                score, how, why = vscore, "values", f"{share:.0%} of sampled values are {what}"
        if score:
            out.append(Match(header, index, col.name, score, how, why))
    return out


@dataclass
class Assignment:
    """Headers assigned to the columns of one table, and the headers that lost a column."""

    table: str
    matches: dict[str, Match]  # canonical column -> match
    losers: list[tuple[Match, Match]]  # (lost, to the winner)


def assign(
    table: str,
    headers: list[str],
    records: list[list[str]],
    *,
    exclude: frozenset[int] = frozenset(),
    min_score: float = 0.4,
) -> Assignment:
    """Headers → columns of `table`, one to one, best score first (greedy).

    Headers at the `exclude` indices take no part (they are mapped elsewhere); a match scoring
    below `min_score` is not taken.
    """
    cands: list[Match] = []
    for i, h in enumerate(headers):
        if h and i not in exclude:
            cands.extend(candidates(table, h, i, sample_values(records, i)))
    cands.sort(key=lambda m: (-m.score, m.index))
    taken: dict[str, Match] = {}
    used: set[int] = set()
    losers: list[tuple[Match, Match]] = []
    for m in cands:
        if m.index in used:
            continue
        if m.column in taken:
            if m.score >= 0.6:
                losers.append((m, taken[m.column]))
            continue
        if m.score < min_score:
            continue
        taken[m.column] = m
        used.add(m.index)
    # A loser that found another column later isn't a loser.
    losers = [(lo, w) for lo, w in losers if lo.index not in used]
    return Assignment(table, taken, losers)
