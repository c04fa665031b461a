"""The childcare-leads demo case: the real agency lists when `../shared/data/childcare` is there,
else generated ones of the same shapes (with a truth file), and the `crmpipe.yml` that maps them.

The project file is the one a user would write after `crmpipe init`: each list's row feeds a
facility and its contact, license, address and schedule; the Salesforce Lead export is the CRM's
existing leads. Two processors (`crmpipe.demo.datasets.childcare_hooks`) derive the leads
table's `ages_served` and `accepts_financial_aid` from the lists' own columns.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from crmpipe.demo.datasets import GeneratedCase, shared_data_dir
from crmpipe.demo.datasets.childcare import generate_childcare

#: The case's four files, as the agencies and the CRM export them.
FILES = ("source1.csv", "source2.csv", "source3.csv", "salesforce_leads.csv")

_LICENSE_1 = {
    "license_number": "Credential Number",
    "license_type": "Credential Type",
    "status": "Status",
    "issued_on": "First Issue Date",
    "expires_on": "Expiration Date",
}
_WEEK = {
    "monday": "Mon",
    "tuesday": "Tues",
    "wednesday": "Wed",
    "thursday": "Thurs",
    "friday": "Friday",
    "saturday": "Saturday",
    "sunday": "Sunday",
}
_HOOKS = "crmpipe.demo.datasets.childcare_hooks"

#: Each source's mapping; `path` is filled in by `write_config`.
SOURCES: dict[str, dict[str, Any]] = {
    "source1": {
        "table": "entities",
        "drops": "newest",
        "columns": {
            "display_name": "Name",
            "address": "Address",
            "state": "State",
            "county": "County",
            "phone": "Phone",
            "entity_type": "Credential Type",
        },
        "extra": {"disciplinary_action": {"type": "boolean", "column": "Disciplinary Action"}},
        "feeds": {
            "contacts": {
                "columns": {"full_name": "Primary Contact Name", "title": "Primary Contact Role"}
            },
            "licenses": {"columns": _LICENSE_1},
            "addresses": {"columns": {"address": "Address", "state": "State", "county": "County"}},
        },
    },
    "source2": {
        "table": "entities",
        "drops": "newest",
        "processor": f"{_HOOKS}:oklahoma",
        "columns": {
            "display_name": "Company",
            "phone": "Phone",
            "email": "Email",
            "address": "Address1",
            "city": "City",
            "state": "State",
            "postal_code": "Zip",
        },
        "extra": {
            "ages_served": {"type": "text", "column": "Ages Served"},
            "accepts_financial_aid": {"type": "boolean", "column": "Accepts Financial Aid"},
            "star_level": {"type": "text", "column": "Star Level"},
        },
        "feeds": {
            "contacts": {"columns": {"full_name": "Primary Caregiver"}},
            "licenses": {"columns": {"license_type": "Type License", "capacity": "Total Cap"}},
            "addresses": {
                "columns": {
                    "address": "Address1",
                    "address2": "Address2",
                    "city": "City",
                    "state": "State",
                    "postal_code": "Zip",
                }
            },
            "schedules": {"columns": _WEEK},
        },
    },
    "source3": {
        "table": "entities",
        "drops": "newest",
        "processor": f"{_HOOKS}:texas",
        "columns": {
            "display_name": "Operation Name",
            "phone": "Phone",
            "email": "Email Address",
            "address": "Address",
            "city": "City",
            "state": "State",
            "postal_code": "Zip",
            "county": "County",
            "entity_type": "Type",
        },
        "extra": {
            "ages_served": {"type": "text", "column": "Ages Served"},
            "provider_id": {"type": "text", "column": "Facility ID"},
        },
        "feeds": {
            "licenses": {
                "columns": {
                    "license_number": "Operation",
                    "license_type": "Type",
                    "status": "Status",
                    "issued_on": "Issue Date",
                    "capacity": "Capacity",
                }
            },
            "addresses": {
                "columns": {
                    "address": "Address",
                    "city": "City",
                    "state": "State",
                    "postal_code": "Zip",
                    "county": "County",
                }
            },
        },
    },
    "salesforce_leads": {
        "table": "entities",
        "columns": {
            "entity_id": "id",
            "display_name": "company",
            "address": "street",
            "city": "city",
            "state": "state",
            "postal_code": "postal_code",
            "phone": "phone",
            "email": "email",
            "url": "website",
            "created_at": "created_date",
        },
        "feeds": {
            "contacts": {
                "columns": {
                    "first_name": "first_name",
                    "last_name": "last_name",
                    "title": "title",
                    "emails": "email",
                    "phone": "mobile_phone",
                }
            }
        },
    },
}


def childcare_dir(shared: Path | None = None) -> Path | None:
    """The real files' folder when it holds all four, else None."""
    base = shared if shared is not None else shared_data_dir()
    if base is None:
        return None
    folder = base / "childcare"
    return folder if all((folder / f).is_file() for f in FILES) else None


def write_config(folder: Path, data_dir: Path) -> Path:
    """crmpipe.yml mapping the four files in `data_dir` (absolute paths when outside `folder`)."""
    sources = {}
    for (name, spec), file in zip(SOURCES.items(), FILES, strict=True):
        path = (data_dir / file).resolve()
        try:
            shown = str(path.relative_to(folder.resolve()))
        except ValueError:
            shown = str(path)
        sources[name] = {"path": shown, **spec}
    doc = {
        "warehouse": ".crmpipe/warehouse.duckdb",
        "sources": sources,
        "marts": {"leads": {"crm": ["salesforce_leads"]}},
    }
    path = folder / "crmpipe.yml"
    path.write_text(
        "# The childcare-leads case (docs/childcare.md): three agency lists and the CRM's\n"
        "# existing leads → facilities with contacts, licenses, addresses and schedules, and\n"
        "# marts.leads (one row per facility, matched to the CRM, with provenance).\n"
        + yaml.safe_dump(doc, sort_keys=False, width=100),
        encoding="utf-8",
    )
    return path


def _records(path: Path) -> int:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def generate(
    folder: Path,
    *,
    facilities: int = 3000,
    seed: int = 0,
    shared: bool = True,
    shared_dir: Path | None = None,
    leads: int | None = None,
) -> GeneratedCase:
    """Write the case into `folder`: a crmpipe.yml for the real files, or generated files.

    `shared=False` forces generated files even when the real ones are there (tests, benchmarks);
    `leads` is the generated CRM's lead rows (default 10% of `facilities`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    real = childcare_dir(shared_dir) if shared else None
    if real is not None:
        files = [real / f for f in FILES]
        truth = folder / "truth.csv"
        truth.unlink(missing_ok=True)  # the real files have no truth
        counts = {f.name: _records(f) for f in files} | {"real_files": 1}
        return GeneratedCase(folder, write_config(folder, real), truth, files, counts)
    data = folder / "data"
    made = generate_childcare(data, facilities=facilities, seed=seed, leads=leads)
    counts = {f"{name}.csv": n for name, n in made.rows.items()} | made.counts
    return GeneratedCase(folder, write_config(folder, data), made.truth, made.files, counts)
