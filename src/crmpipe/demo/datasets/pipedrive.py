"""The sales-funnel case: a Pipedrive export — the real one when it is there, else a synthetic one.

With `../shared/data/pipedrive` present (`shared_data_dir()`), `generate` writes only a
crmpipe.yml that reads those files where they are (they are never copied). Without it, it writes
six files of the same shape and quirks — users with names and emails, stages with a label in
the wrong case ("Qualified lead"), stage and lost-reason labels as JSON in fields.csv, a change
log where deals move up the stages (sometimes skipping one) and get lost, activities whose ids
repeat now and then — plus `truth.json`: the funnel the marts must report, computed from the
events as generated.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import yaml
from faker import Faker

from crmpipe.demo.datasets import GeneratedCase, shared_data_dir

#: The export's files and the canonical table each one feeds, with the column mapping.
SOURCES: dict[str, tuple[str, str, dict[str, str]]] = {
    "users": (
        "users.csv",
        "users",
        {"user_id": "id", "name": "name", "email": "email", "modified": "modified"},
    ),
    "stages": ("stages.csv", "stages", {"stage_id": "stage_id", "stage_name": "stage_name"}),
    "activity_types": (
        "activity_types.csv",
        "activity_types",
        {"activity_type_id": "id", "name": "name", "active": "active", "type": "type"},
    ),
    "fields": (
        "fields.csv",
        "fields",
        {
            "field_id": "ID",
            "field_key": "FIELD_KEY",
            "name": "NAME",
            "value_options": "FIELD_VALUE_OPTIONS",
        },
    ),
    "deal_changes": (
        "deal_changes.csv",
        "deal_changes",
        {
            "deal_id": "deal_id",
            "change_time": "change_time",
            "changed_field_key": "changed_field_key",
            "new_value": "new_value",
        },
    ),
    "activities": (
        "activity.csv",
        "activities",
        {
            "activity_id": "activity_id",
            "type": "type",
            "user_id": "assigned_to_user",
            "deal_id": "deal_id",
            "done": "done",
            "due_to": "due_to",
        },
    ),
}

STAGE_LABELS = (
    "Lead Generation",
    "Qualified Lead",
    "Needs Assessment",
    "Proposal/Quote Preparation",
    "Negotiation",
    "Closing",
    "Implementation/Onboarding",
    "Follow-up/Customer Success",
    "Renewal/Expansion",
)
LOST_REASONS = (
    "Customer Not Ready",
    "Pricing Issues",
    "Unreachable Customer",
    "Product Mismatch",
    "Duplicate Entry",
)
ACTIVITY_TYPES = (
    ("1", "Sales Call 1", "Yes", "meeting"),
    ("2", "Sales Call 2", "Yes", "sc_2"),
    ("3", "Follow Up Call", "No", "follow_up"),
    ("4", "After Close Call", "Yes", "after_close_call"),
)
#: Funnel step of each stage id and of each activity type key (docs/funnel.md).
STAGE_STEPS = {1: "1", 2: "2", 3: "3", 4: "4", 5: "5", 6: "6", 7: "7", 8: "8", 9: "9"}
CALL_STEPS = {"meeting": "2.1", "sc_2": "3.1"}

START = datetime(2024, 1, 1)


def pipedrive_dir(shared: Path | None = None) -> Path | None:
    """The real export's folder when it holds every file, else None."""
    base = shared if shared is not None else shared_data_dir()
    if base is None:
        return None
    folder = base / "pipedrive"
    if all((folder / f).is_file() for f, _, _ in SOURCES.values()):
        return folder
    return None


def write_config(folder: Path, data_dir: Path, *, pii: str = "initials") -> Path:
    """crmpipe.yml mapping the six files in `data_dir` (absolute paths when outside `folder`)."""
    sources = {}
    for name, (file, table, columns) in SOURCES.items():
        path = data_dir / file
        try:
            shown = str(path.resolve().relative_to(folder.resolve()))
        except ValueError:
            shown = str(path.resolve())
        sources[name] = {"path": shown, "table": table, "columns": columns}
    doc = {"warehouse": ".crmpipe/warehouse.duckdb", "sources": sources, "marts": {"pii": pii}}
    path = folder / "crmpipe.yml"
    path.write_text(
        "# The sales-funnel case (docs/funnel.md): a Pipedrive export mapped onto crmpipe's\n"
        "# users, stages, activity_types, fields, deal_changes and activities tables.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=100),
        encoding="utf-8",
    )
    return path


def _rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def generate(
    folder: Path,
    *,
    seed: int = 0,
    deals: int = 2000,
    users: int = 150,
    shared: bool = True,
    shared_dir: Path | None = None,
) -> GeneratedCase:
    """Write the case into `folder`: a crmpipe.yml for the real export, or synthetic files.

    `shared=False` forces the synthetic files even when the real export is there (tests);
    `shared_dir` overrides where to look for it (default `shared_data_dir()`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    real = pipedrive_dir(shared_dir) if shared else None
    truth_path = folder / "truth.json"
    if real is not None:
        files = [real / f for f, _, _ in SOURCES.values()]
        truth_path.write_text(json.dumps({"real_export": str(real)}, indent=2) + "\n")
        return GeneratedCase(
            folder,
            write_config(folder, real),
            truth_path,
            files,
            {f.name: _rows(f) for f in files} | {"real_export": 1},
        )
    data = folder / "data"
    data.mkdir(exist_ok=True)
    counts, truth = _synthesize(data, seed=seed, deals=deals, users=users)
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    files = [data / f for f, _, _ in SOURCES.values()]
    return GeneratedCase(folder, write_config(folder, data), truth_path, files, counts)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _ts(t: datetime, sep: str = " ") -> str:
    return t.strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def _synthesize(
    data: Path, *, seed: int, deals: int, users: int
) -> tuple[dict[str, int], dict[str, object]]:
    """Write the six files into `data`; return row counts and the truth."""
    rng = np.random.default_rng(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    user_ids = [str(i) for i in range(1, users + 1)]
    domains = ("example.org", "example.com", "example.net")
    user_rows = [
        [
            uid,
            fake.name(),
            f"{fake.user_name()}{rng.integers(10, 99)}@{domains[i % 3]}",
            (
                START
                + timedelta(
                    seconds=int(rng.integers(0, 300 * 86400)),
                    microseconds=int(rng.integers(0, 10**6)),
                )
            ).isoformat(" "),
        ]
        for i, uid in enumerate(user_ids)
    ]
    _write(data / "users.csv", ["id", "name", "email", "modified"], user_rows)
    # The real export spells one label in another case: the marts must match regardless.
    labels = [("Qualified lead" if s == "Qualified Lead" else s) for s in STAGE_LABELS]
    _write(
        data / "stages.csv",
        ["stage_id", "stage_name"],
        [[str(i), label] for i, label in enumerate(labels, start=1)],
    )
    _write(
        data / "activity_types.csv",
        ["id", "name", "active", "type"],
        [list(t) for t in ACTIVITY_TYPES],
    )

    def options(values: tuple[str, ...]) -> str:
        return (
            "["
            + ",".join(
                json.dumps({"id": str(i), "label": v}) for i, v in enumerate(values, start=1)
            )
            + "]"
        )

    _write(
        data / "fields.csv",
        ["ID", "FIELD_KEY", "NAME", "FIELD_VALUE_OPTIONS"],
        [
            ["13", "add_time", "Deal created", ""],
            ["3", "user_id", "Owner", ""],
            ["10", "stage_id", "Stage", options(STAGE_LABELS)],
            ["23", "lost_reason", "Lost reason", options(LOST_REASONS)],
        ],
    )

    # --- deals and their change log -----------------------------------------------------
    ids = [str(v) for v in rng.choice(np.arange(100_000, 1_000_000), size=deals, replace=False)]
    collide = max(1, deals // 400)  # a few ids reused by a second deal, as in the real export
    for k in range(collide):
        ids[-(k + 1)] = ids[k]
    first_entry: dict[tuple[str, str], datetime] = {}
    changes: list[tuple[datetime, list[str]]] = []
    for deal in ids:
        t = START + timedelta(seconds=int(rng.integers(0, 270 * 86400)))
        changes.append((t, [deal, _ts(t), "add_time", _ts(t, "T")]))
        for _ in range(int(rng.integers(1, 3))):
            t += timedelta(days=int(rng.integers(1, 10)))
            changes.append((t, [deal, _ts(t), "user_id", str(rng.choice(user_ids))]))
        stage = 1
        while True:
            t += timedelta(days=int(rng.integers(1, 21)))
            changes.append((t, [deal, _ts(t), "stage_id", str(stage)]))
            key = (deal, STAGE_STEPS[stage])
            first_entry[key] = min(first_entry.get(key, t), t)
            if stage == 9 or rng.random() > 0.8:
                break
            stage += 2 if (stage < 8 and rng.random() < 0.08) else 1
        if rng.random() < 0.85:
            t += timedelta(days=int(rng.integers(1, 30)))
            reason = str(rng.integers(1, len(LOST_REASONS) + 1))
            changes.append((t, [deal, _ts(t), "lost_reason", reason]))
    # Grouped by deal in time order, as the export lists them.
    order = {d: i for i, d in enumerate(dict.fromkeys(ids))}
    changes.sort(key=lambda c: (order[c[1][0]], c[0]))
    _write(
        data / "deal_changes.csv",
        ["deal_id", "change_time", "changed_field_key", "new_value"],
        [row for _, row in changes],
    )

    # --- activities ------------------------------------------------------------------------
    n_act = int(deals * 2.3)
    others = [str(v) for v in rng.integers(100_000, 1_000_000, size=n_act)]
    act_ids = [str(v) for v in rng.choice(np.arange(100_000, 1_000_000), size=n_act, replace=False)]
    planted = max(1, n_act // 400)
    for k in range(planted):  # a later row reuses an earlier activity's id
        act_ids[-(k + 1)] = act_ids[k]
    types = [t[3] for t in ACTIVITY_TYPES]
    activity_rows = []
    for i in range(n_act):
        deal = str(rng.choice(ids)) if rng.random() < 0.7 else others[i]
        due = START + timedelta(seconds=int(rng.integers(0, 256 * 86400)))
        activity_rows.append(
            [
                act_ids[i],
                str(rng.choice(types)),
                str(rng.choice(user_ids)),
                deal,
                "True" if rng.random() < 0.5 else "False",
                _ts(due, "T"),
            ]
        )
    _write(
        data / "activity.csv",
        ["activity_id", "type", "assigned_to_user", "deal_id", "done", "due_to"],
        activity_rows,
    )
    kept = {row[0]: row for row in activity_rows}  # the last row of a repeated id wins
    for _, kind, _, deal, done, due in kept.values():
        if done == "True" and kind in CALL_STEPS:
            key = (deal, CALL_STEPS[kind])
            t = datetime.fromisoformat(due)
            first_entry[key] = min(first_entry.get(key, t), t)

    # --- the truth: the funnel the marts must report ------------------------------------------
    per_month: dict[tuple[str, str], int] = defaultdict(int)
    for (_, step), t in first_entry.items():
        per_month[(t.strftime("%Y-%m"), step)] += 1
    counts = {
        "users.csv": len(user_rows),
        "stages.csv": 9,
        "activity_types.csv": 4,
        "fields.csv": 4,
        "deal_changes.csv": len(changes),
        "activity.csv": n_act,
        "duplicate_deal_ids": collide,
        "duplicate_activity_rows": planted,
    }
    truth = {
        "funnel": [
            {"month": m, "funnel_step": s, "deals_count": n}
            for (m, s), n in sorted(per_month.items())
        ],
        "duplicate_deal_ids": collide,
        "duplicate_activity_rows": planted,
    }
    return counts, truth
