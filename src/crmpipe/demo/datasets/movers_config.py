"""The mover-CRM case's crmpipe.yml: branch files mapped with the branch taken from the file
name, branch-local ids, branch names standardised to the declared list, customer unification
across branches, the job marts' window and the case's SLAs (docs/movers.md)."""

from __future__ import annotations

from pathlib import Path

import yaml

from crmpipe.demo.datasets import movers_vocab as mv

CUSTOMER_COLUMNS = {
    "customer_id": "Customer ID",
    "first_name": "First Name",
    "last_name": "Last Name",
    "email": "Email",
    "phone": "Phone",
    "address": "Address",
    "created_at": "Created",
    "updated_at": "Updated",
}
JOB_COLUMNS = {
    "job_id": "Job ID",
    "customer_id": "Customer ID",
    "move_date": "Move Date",
    "origin_address": "Origin Address",
    "destination_address": "Destination Address",
    "volume_cuft": "Volume (cu ft)",
    "weight_lbs": "Weight (lbs)",
    "price": "Price",
    "status": "Status",
    "created_at": "Created",
}

#: Customers unified across branches: the branch is not evidence (the point is to find one
#: person at several branches); blocks are the same email, the same phone, or the same house
#: number within one ZIP code with the same last name or the same first name (so a typo in
#: either name still meets the other). The last name within a ZIP code alone made 4M candidate
#: pairs at 1M records, nearly all namesakes, and no true pair the other blocks missed.
RESOLVE_CUSTOMERS: dict[str, object] = {
    "enabled": True,
    "comparisons": {
        "branch_id": "off",
        "email": "personal_email",
        "address": "off",
        "unit": "off",
        "city": "off",
        "state": "off",
        "created_at": "off",
        "updated_at": "off",
    },
    "blocking": [
        "l.email_key = r.email_key",
        "l.phone_key = r.phone_key",
        "l.last_name = r.last_name AND l.number = r.number AND l.postal_code = r.postal_code",
        "l.first_name = r.first_name AND l.number = r.number AND l.postal_code = r.postal_code",
    ],
}

#: Percent of jobs that may name a customer their branch lacks before the relationship check
#: fails (the rows are quarantined either way).
UNKNOWN_CUSTOMER_THRESHOLD = 1

#: The case's SLAs (issue 12): completeness, format, consistency, freshness, duplicates.
SLAS: list[dict[str, object]] = [
    *(
        {"metric": "completeness", "table": "customers", "column": c, "target": 95}
        for c in ("email", "phone", "address")
    ),  # fmt: skip
    *(
        {"metric": "validity", "table": "customers", "column": c, "target": 100}
        for c in ("email", "phone")
    ),  # fmt: skip
    {"metric": "consistency", "table": "branches", "column": "name", "target": 100},
    {"metric": "consistency", "table": "branches", "column": "state", "target": 100},
    {"metric": "consistency", "table": "customers", "column": "state", "target": 100},
    {"metric": "freshness", "table": "customers", "column": "updated_at", "target": 30},
    {"metric": "duplicate_rate", "table": "customers", "columns": ["email"], "target": 1},
]


def config_doc(data: str, branches: int, *, duplicate_days: int = 7) -> dict[str, object]:
    """The project file as a dict; `data` is the folder of the files, relative or absolute."""
    names = [b[0] for b in mv.BRANCHES[:branches]]
    return {
        "warehouse": ".crmpipe/warehouse.duckdb",
        "sources": {
            "branches": {
                "path": f"{data}/branches.csv",
                "table": "branches",
                "columns": {"branch_id": "Branch ID", "name": "Branch Name", "state": "State"},
                "standardize": {"name": names},
            },
            "customers": {
                "path": f"{data}/customers_*.csv",
                "table": "customers",
                "file_fields": {"branch": r"customers_(.+)\.csv"},
                "local_ids": {"by": "branch", "columns": ["customer_id"]},
                "columns": {**CUSTOMER_COLUMNS, "branch_id": "branch"},
            },
            "jobs": {
                "path": f"{data}/jobs_*.csv",
                "table": "jobs",
                "file_fields": {"branch": r"jobs_(.+)\.csv"},
                "local_ids": {"by": "branch", "columns": ["job_id", "customer_id"]},
                "columns": {**JOB_COLUMNS, "branch_id": "branch"},
            },
        },
        # A job naming a customer its branch lacks is quarantined with the reason (severity
        # error), but up to 1% of jobs doing so is the export's ordinary mess, not a failed run:
        # beyond it (a branch's customer file missing) the check fails and the run exits 3.
        "checks": {
            "jobs": {
                "columns": {
                    "customer_id": [
                        {
                            "relationship": {
                                "to": "customers",
                                "severity": "error",
                                "threshold": UNKNOWN_CUSTOMER_THRESHOLD,
                            }
                        }
                    ]
                }
            }
        },
        "resolve": {"customers": RESOLVE_CUSTOMERS},
        "marts": {"jobs": {"duplicate_days": duplicate_days}},
        "slas": SLAS,
    }


def write_config(folder: Path, data: Path, branches: int, *, duplicate_days: int = 7) -> Path:
    """Write `folder/crmpipe.yml` for the files in `data`."""
    try:
        shown = str(data.resolve().relative_to(folder.resolve()))
    except ValueError:
        shown = str(data.resolve())
    doc = config_doc(shown, branches, duplicate_days=duplicate_days)
    path = folder / "crmpipe.yml"
    path.write_text(
        "# The mover-CRM case (docs/movers.md): per-branch customer and job exports → golden\n"
        "# customers unified across branches, job marts and the case's SLAs.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=100),
        encoding="utf-8",
    )
    return path
