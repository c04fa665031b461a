"""One file's guess for `crmpipe init`: which table it is, which header is which canonical
column, and what is kept as a typed extension column.

Every header is scored against every column of every table (by name, keyword, then values);
each table takes its best one-to-one assignment, and the table follows from which columns
matched. Whatever maps to nothing becomes an extension column, so a guess never drops a field.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crmpipe.ingest.sniff import Dialect, raw_names
from crmpipe.init.crm import apply_crm, crm_company, crm_ids
from crmpipe.init.feeds import Feeds, facility_feeds, is_lead_list
from crmpipe.init.scoring import Assignment, Match, assign
from crmpipe.init.synonyms import CODE_WORDS, normalize, system_of, unique_name
from crmpipe.init.values import guess_type, sample_values
from crmpipe.model import TABLES, physical_columns


@dataclass
class FileGuess:
    """What init guessed for one file."""

    file: Path
    source: str
    table: str | None
    confidence: float
    columns: dict[str, str] = field(default_factory=dict)  # canonical column -> header
    extra: dict[str, str] = field(default_factory=dict)  # unmapped header -> "name: type"
    notes: list[str] = field(default_factory=list)  # what was guessed from values, kept, why
    dialect: Dialect | None = None
    constants: dict[str, str] = field(default_factory=dict)  # external_ids: customer, system
    files: list[Path] = field(default_factory=list)  # every file of the source, when a glob
    pattern: str | None = None  # the glob written as `path` for files with the same columns
    feeds: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> {column: header}
    drops: str | None = None  # "newest" for dated drops of one list
    processor: str | None = None  # a CRM export without account ids: crm.PROCESSOR
    feed_extra: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> {name: header}

    @property
    def warnings(self) -> list[str]:
        """The notes that say a file was skipped."""
        return [n for n in self.notes if n.startswith("warning:")]


#: How much each matched column says "this file is that table" (contacts vs entities).
SIGNATURES: dict[str, dict[str, float]] = {
    "contacts": {
        "first_name": 3, "last_name": 3, "full_name": 2, "emails": 3, "title": 3,
        "department": 2, "phone": 1, "contact_id": 1, "entity_id": 1, "url": 0.5,
        "created_at": 0.5,
    },
    "entities": {
        "display_name": 3, "address": 2, "city": 2, "state": 2, "postal_code": 2, "county": 2,
        "lat": 2, "long": 2, "parent_id": 2, "entity_type": 1, "phone": 1, "email": 0.5,
        "url": 1, "entity_id": 0.5, "created_at": 0.5,
    },
}  # fmt: skip

_PERSON = ("first_name", "last_name", "full_name")
_PLACE = ("address", "city", "state", "postal_code", "county", "lat", "long", "url", "phone",
          "email", "parent_id")  # fmt: skip


#: The tables guessed by their own rules below; any other table of the model is guessed by how
#: completely a file's headers name its columns.
_RULED = ("entities", "contacts", "techstacks", "external_ids")


def _choose_table(
    named: list[str], assignments: dict[str, Assignment], stem: str = ""
) -> tuple[str | None, float, str]:
    """The table the file most likely is, a confidence in [0, 1], and the reason.

    `named` are the columns that count: an empty column without a header doesn't; `stem` is
    the file's name, a hint for tables named after their export (`users.csv` → users).
    """
    ext = assignments["external_ids"].matches
    if "entity_id" in ext and "external_id" in ext:
        others = [h for h in named if h not in {m.header for m in ext.values()}]
        if not others and len(named) <= 4:
            return "external_ids", _mean(ext.values()), "an id column beside an entity id"
    tech = assignments["techstacks"].matches
    if {"entity_id", "name", "type"} <= set(tech):
        others = [h for h in named if h not in {m.header for m in tech.values()}]
        if len(others) <= 2:
            return "techstacks", _mean(tech.values()), "name + type + entity id"

    fitted = _fitted_table(named, assignments, stem)
    if fitted:
        return fitted

    scores: dict[str, float] = {}
    for t in ("contacts", "entities"):
        m = assignments[t].matches
        sig = SIGNATURES[t]
        total = sum(sig.get(c, 0) * x.score for c, x in m.items())
        if t == "contacts":
            person = any(c in m for c in _PERSON)
            context = any(c in m for c in ("emails", "title", "phone", "department")) or (
                "first_name" in m and "last_name" in m
            )
            ok = person and context
        else:
            place = sum(1 for c in _PLACE if c in m)
            ok = ("display_name" in m and place >= 1) or ("entity_id" in m and place >= 2)
        scores[t] = total if ok else 0.0
    best = max(scores, key=lambda t: scores[t])
    if scores[best] <= 0:
        return None, 0.0, "no canonical table fits its columns"
    other = min(scores.values())
    margin = 1 - other / scores[best]
    matched = assignments[best].matches.values()
    coverage = len(matched) / max(len(named), 1)
    conf = _mean(matched) * (0.6 + 0.25 * margin + 0.15 * min(1.0, coverage * 2))
    reason = "person columns" if best == "contacts" else "place/organisation columns"
    return best, conf, reason


def _fitted_table(
    named: list[str], assignments: dict[str, Assignment], stem: str
) -> tuple[str, float, str] | None:
    """A table (other than the ruled four) whose columns the headers name: its key and at least
    3/4 of its columns, with at most 1/4 of the headers left over, and a file named like the
    table — or exactly its columns, whatever the file's name."""
    best: tuple[float, str, float] | None = None
    for t, a in assignments.items():
        if t in _RULED:
            continue
        tbl = TABLES[t]
        by_name = [m for m in a.matches.values() if m.how == "name"]
        if not set(tbl.key) <= {m.column for m in by_name}:
            continue
        cov_table = len(by_name) / len(tbl.columns)
        cov_file = len(by_name) / max(len(named), 1)
        similar = _similar(normalize(stem), t)
        if not ((cov_table >= 0.75 and cov_file >= 0.75 and similar) or
                (cov_table == 1 and cov_file == 1)):  # fmt: skip
            continue
        fit = (cov_table + cov_file) / 2 + (0.1 if similar else 0.0)
        conf = _mean(by_name) * min(1.0, (cov_table + cov_file) / 2 + (0.05 if similar else 0))
        if best is None or fit > best[0]:
            best = (fit, t, conf)
    if best is None:
        return None
    return best[1], best[2], f"its headers name the columns of {best[1]}"


def _similar(a: str, b: str) -> bool:
    """`activity` ~ `activities`, `users` ~ `users`: a file named after a table."""
    return bool(a) and difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def _mean(matches: Iterable[Match]) -> float:
    scores = [m.score for m in matches]
    return sum(scores) / len(scores) if scores else 0.0


def guess_file(path: Path, source: str, dialect: Dialect, records: list[list[str]]) -> FileGuess:
    """Guess table, column mapping and extension columns for one sniffed file."""
    headers = raw_names(dialect.header)
    renamed = [(i, h, r) for i, (h, r) in enumerate(zip(dialect.header, headers, strict=True))
               if h != r]  # fmt: skip
    assignments = {t: assign(t, headers, records) for t in TABLES}
    named = [
        r for h, r, i in zip(dialect.header, headers, range(len(headers)), strict=True)
        if h.strip() or sample_values(records, i)
    ]  # fmt: skip
    table, confidence, reason = _choose_table(named, assignments, path.stem)
    lead = table == "contacts" and is_lead_list(assignments)
    if lead:
        table, reason = "entities", "a lead list: people at a company with its address"
        confidence = _mean(assignments["entities"].matches.values()) * 0.9
    guess = FileGuess(path, source, table, round(confidence, 2), dialect=dialect)
    if table is None:
        guess.notes.append(f"warning: not mapped, skipped: {reason} ({', '.join(named[:8])}"
                           f"{', ...' if len(named) > 8 else ''})")  # fmt: skip
        return guess
    chosen = assignments[table]
    feeds = (
        facility_feeds(chosen, headers, records, lead_list=lead) if table == "entities" else Feeds()
    )
    guess.notes.append(f"table {table} ({reason}), confidence {guess.confidence:.2f}")
    crm = crm_company(headers) if table == "contacts" else None
    if crm is not None:
        apply_crm(crm, headers, chosen, feeds)
        guess.processor = crm.processor
        guess.notes += crm.notes
        crm_ids(crm, guess.extra, guess.feed_extra, chosen.matches.get("contact_id"))
    for i, h, r in renamed:
        what = f"duplicate header {h!r}" if h else "no header"
        guess.notes.append(f"column {i + 1} has {what}: it is read as {r!r}")
    for col, m in sorted(chosen.matches.items(), key=lambda kv: kv[1].index):
        guess.columns[col] = m.header
        if m.how != "name" or "but only" in m.why:
            guess.notes.append(f"{m.header!r} → {col}: {m.why}")
    for fed, cols in feeds.tables.items():
        guess.feeds[fed] = {c: m.header for c, m in cols.items()}
        shown = ", ".join(f"{c} ← {m.header!r}" for c, m in cols.items())
        guess.notes.append(f"feeds {fed}: {shown}")
        guess.notes += [f"{m.header!r} → {fed}.{c}: {m.why}" for c, m in cols.items()
                        if m.how != "name" or "but only" in m.why]  # fmt: skip
    guess.notes += feeds.notes
    mapped = {m.index for m in chosen.matches.values()} | feeds.indices()
    # Extension names must not clash with stored columns, companions included (`phone_ext`).
    taken = {name for name, _ in physical_columns(TABLES[table])}
    lost = {lo.index: w for lo, w in chosen.losers}
    plain: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, h in enumerate(headers):
        if i in mapped:
            continue
        values = sample_values(records, i)
        kind, why = guess_type(h, values)
        name = unique_name(h, f"column_{i}", "c_", taken)
        guess.extra[h] = f"{name}: {kind}"
        if crm is not None and h == crm.mobile:
            guess.extra[h] = "mobile_phone: phone"
            guess.notes.append(f"{h!r} → mobile_phone (phone): compared with phone as a set")
        elif i in lost:
            w = lost[i]
            guess.notes.append(
                f"{h!r} also looked like {w.column}, which {w.header!r} fits better; "
                f"kept as extension {name} ({kind})"
            )
        elif elsewhere := _fits_other_table(table, i, assignments):
            guess.notes.append(
                f"{h!r} looks like {elsewhere}, which {table} doesn't have; "
                f"kept as extension {name} ({kind})"
            )
        else:
            plain[(kind, why)].append(name)
    for (kind, why), names in plain.items():
        guess.notes.append(f"kept as {kind} extension{'s' if len(names) > 1 else ''} ({why}): "
                           + ", ".join(names))  # fmt: skip
    if table == "external_ids":
        ext_header = guess.columns.get("external_id", "")
        if "customer" not in guess.columns:
            guess.constants["customer"] = normalize(path.stem) or path.stem
        if "system" not in guess.columns:
            guess.constants["system"] = system_of(ext_header, path.stem)
        guess.notes.append(
            f"constants: customer from the file name, system from header {ext_header!r} "
            f"({', '.join(f'{k}: {v}' for k, v in guess.constants.items())})"
        )
    if table in ("entities", "contacts") and TABLES[table].key[0] not in guess.columns:
        key = TABLES[table].key[0]
        unique = _unique_columns(headers, records)
        hint = (f"; distinct on every sampled row: {', '.join(unique[:3])}" if unique
                else "")  # fmt: skip
        guess.notes.append(
            f"no column looked like the key {key}: rows are identified by lineage (source, file "
            f"and row number){hint}; map one as {key} under 'columns' if it identifies a row "
            "across files"
        )
    return guess


def _unique_columns(headers: list[str], records: list[list[str]]) -> list[str]:
    """Headers whose sampled values are all present and all different: key candidates, the
    id-like ones first (a suggestion in the notes, never mapped by itself)."""
    if len(records) < 10:  # on a handful of rows everything is distinct
        return []
    out = []
    for i, h in enumerate(headers):
        values = sample_values(records, i)
        if len(values) == len(records) and len(set(values)) == len(values):
            words = set(normalize(h).split("_"))
            rank = 0 if words & CODE_WORDS else 1 if words & {"phone", "email"} else 2
            out.append((rank, i, h))
    return [h for _, _, h in sorted(out)]


def _fits_other_table(table: str, index: int, assignments: dict[str, Assignment]) -> str:
    """'contacts.full_name' when the header strongly matched a column of another table."""
    for other in ("contacts", "entities"):
        if other == table:
            continue
        for col, m in assignments[other].matches.items():
            if m.index == index and m.score >= 0.9 and col not in TABLES[table].column_names:
                return f"{other}.{col}"
    return ""
