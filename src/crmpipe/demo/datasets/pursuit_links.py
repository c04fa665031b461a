"""The pursuit case's files that point at entities: techstacks and the customers' CRM mappings.

Real rows for the real places first, then rows for the generated entities drawn like the real
ones (the real (name, type) mix of techs; mapped entities at the real share).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v
from crmpipe.demo.datasets.pursuit_entities import Entities, RealSample

TECH_HEADER = ("name", "place_id", "type")


def write_techstacks(
    path: Path, ents: Entities, real: RealSample | None, rng: np.random.Generator
) -> int:
    """Real techstack rows for the real places, then 0–6 techs per generated entity drawn from
    the real (name, type) mix."""
    n_real = min(len(real.places), len(ents)) if real else 0
    present = set(ents.place_id[:n_real])
    rows: list[tuple[str, str, str]] = [t for t in real.techs if t[1] in present] if real else []
    if real and real.techs:
        freq: dict[tuple[str, str], int] = {}
        per_place: dict[str, int] = {}
        for name, pid, typ in real.techs:
            freq[(name, typ)] = freq.get((name, typ), 0) + 1
            per_place[pid] = per_place.get(pid, 0) + 1
        k_counts = np.zeros(7)
        for row in real.places:
            k_counts[min(6, per_place.get(row["place_id"], 0))] += 1
        vocab = list(freq)
        weights = np.array([freq[p] for p in vocab], dtype=np.float64)
    else:
        vocab = [(name, typ) for name, typ, _ in v.FALLBACK_TECHS]
        weights = np.array([w for _, _, w in v.FALLBACK_TECHS], dtype=np.float64)
        k_counts = np.array(v.FALLBACK_TECH_COUNTS, dtype=np.float64)
    n_gen = len(ents) - n_real
    if n_gen > 0:
        k = m.draw_choice(rng, n_gen, k_counts / k_counts.sum())
        picks = m.draw_choice(rng, int(k.sum()), weights / weights.sum())
        owner = np.repeat(np.arange(n_real, len(ents)), k)
        seen: set[tuple[int, int]] = set()
        for e, p in zip(owner.tolist(), picks.tolist(), strict=True):
            if (e, p) not in seen:  # the same product twice on one entity is one row
                seen.add((e, p))
                rows.append((vocab[p][0], ents.place_id[e], vocab[p][1]))
    return m.write_csv_rows(path, TECH_HEADER, rows, quote_all=True)


def write_mappings(
    folder: Path, ents: Entities, real: RealSample | None, rng: np.random.Generator
) -> dict[str, int]:
    """crma.csv / crmb.csv: real mappings first, extended at the real share of entities."""
    n_real = min(len(real.places), len(ents)) if real else 0
    present = set(ents.place_id[:n_real])
    counts = {}
    for name, header, real_rows in (
        ("crma.csv", "sfdc_id", real.crma if real else []),
        ("crmb.csv", "hubspot_id", real.crmb if real else []),
    ):
        share = len(real_rows) / len(real.places) if real and real.places else 0.2
        rows = [r for r in real_rows if r[1] in present]
        ids = [int(r[0]) for r in real_rows if r[0].strip().isdigit()]
        next_id = (max(ids) if ids else len(real_rows)) + 1
        n_gen = len(ents) - n_real
        extra = min(n_gen, round(share * len(ents)) - len(rows)) if n_gen > 0 else 0
        if extra > 0:
            chosen = np.sort(rng.choice(n_gen, size=extra, replace=False)) + n_real
            rng.shuffle(chosen)
            rows += [(str(next_id + j), ents.place_id[e]) for j, e in enumerate(chosen.tolist())]
        counts[name] = m.write_csv_rows(
            folder / name, (header, "place_id"), rows, eol="\r\n", bom=True
        )
    return counts
