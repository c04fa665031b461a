"""The canonical model: tables, columns, types, field roles and keys.

This is the single source of truth (docs/architecture.md): DuckDB and PostgreSQL DDL, the
cleaning applied to each column, the search fields, default checks and Splink settings are all
derived from it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

from crmpipe.sqltext import quote_ident


class Role(StrEnum):
    """What a column holds; decides how it is cleaned, checked and searched."""

    ID = "id"
    REF = "ref"
    TEXT = "text"
    PERSON_NAME = "person_name"
    EMAIL_LIST = "email_list"
    PHONE = "phone"
    STATE = "state"
    POSTAL_CODE = "postal_code"
    URL = "url"
    DATE = "date"
    TIMESTAMP = "timestamp"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LAT = "lat"
    LONG = "long"
    CATEGORY = "category"


#: DuckDB type of each role's cleaned value.
DUCKDB_TYPES: dict[Role, str] = {
    Role.ID: "VARCHAR",
    Role.REF: "VARCHAR",
    Role.TEXT: "VARCHAR",
    Role.PERSON_NAME: "VARCHAR",
    Role.EMAIL_LIST: "VARCHAR[]",
    Role.PHONE: "VARCHAR",
    Role.STATE: "VARCHAR",
    Role.POSTAL_CODE: "VARCHAR",
    Role.URL: "VARCHAR",
    Role.DATE: "DATE",
    Role.TIMESTAMP: "TIMESTAMP",
    Role.INTEGER: "BIGINT",
    Role.NUMBER: "DOUBLE",
    Role.BOOLEAN: "BOOLEAN",
    Role.LAT: "DOUBLE",
    Role.LONG: "DOUBLE",
    Role.CATEGORY: "VARCHAR",
}

#: Type names accepted for extension columns in crmpipe.yml, and the role each one implies.
EXTENSION_TYPES: dict[str, Role] = {
    "text": Role.TEXT,
    "varchar": Role.TEXT,
    "string": Role.TEXT,
    "category": Role.CATEGORY,
    "bigint": Role.INTEGER,
    "integer": Role.INTEGER,
    "int": Role.INTEGER,
    "double": Role.NUMBER,
    "number": Role.NUMBER,
    "numeric": Role.NUMBER,
    "float": Role.NUMBER,
    "date": Role.DATE,
    "timestamp": Role.TIMESTAMP,
    "boolean": Role.BOOLEAN,
    "bool": Role.BOOLEAN,
    "phone": Role.PHONE,
    "email_list": Role.EMAIL_LIST,
    "url": Role.URL,
    "state": Role.STATE,
    "postal_code": Role.POSTAL_CODE,
    "person_name": Role.PERSON_NAME,
    "id": Role.ID,  # a record id kept beside the key (a CRM's `salesforce_ids`): not compared
}


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, role and, for a `ref`, the table it points to."""

    name: str
    role: Role
    references: str | None = None  # "entities" for a ref column
    description: str = ""

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.role]


@dataclass(frozen=True)
class Table:
    """One canonical table: ordered columns and the key that identifies a row."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    extensions: tuple[Column, ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.all_columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extensions

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.all_columns]

    def with_extensions(self, extensions: tuple[Column, ...]) -> Table:
        """This table plus source-specific extension columns (declared in crmpipe.yml)."""
        known = set(self.column_names)
        extra = tuple(c for c in extensions if c.name not in known)
        return Table(self.name, self.key, self.columns, self.description, self.extensions + extra)


def _cols(*spec: tuple[str, Role] | tuple[str, Role, str]) -> tuple[Column, ...]:
    return tuple(Column(s[0], s[1], s[2] if len(s) > 2 else None) for s in spec)


ENTITIES = Table(
    "entities",
    ("entity_id",),
    _cols(
        ("entity_id", Role.ID),
        ("display_name", Role.TEXT),
        ("entity_type", Role.CATEGORY),
        ("address", Role.TEXT),
        ("city", Role.TEXT),
        ("state", Role.STATE),
        ("postal_code", Role.POSTAL_CODE),
        ("county", Role.TEXT),
        ("lat", Role.LAT),
        ("long", Role.LONG),
        ("phone", Role.PHONE),
        ("email", Role.EMAIL_LIST),
        ("url", Role.URL),
        ("parent_id", Role.TEXT),
        ("created_at", Role.TIMESTAMP),
    ),
    "Organisations: public-sector places, facilities, companies.",
)

CONTACTS = Table(
    "contacts",
    ("contact_id",),
    _cols(
        ("contact_id", Role.ID),
        ("entity_id", Role.REF, "entities"),
        ("first_name", Role.PERSON_NAME),
        ("last_name", Role.PERSON_NAME),
        ("full_name", Role.PERSON_NAME),
        ("emails", Role.EMAIL_LIST),
        ("phone", Role.PHONE),
        ("title", Role.TEXT),
        ("department", Role.TEXT),
        ("url", Role.URL),
        ("created_at", Role.TIMESTAMP),
    ),
    "People who work at an entity.",
)

TECHSTACKS = Table(
    "techstacks",
    ("entity_id", "name"),
    _cols(
        ("entity_id", Role.REF, "entities"),
        ("name", Role.TEXT),
        ("type", Role.CATEGORY),
    ),
    "Software an entity is known to run (CMS, payment, permitting, ...).",
)

EXTERNAL_IDS = Table(
    "external_ids",
    ("customer", "system", "external_id"),
    _cols(
        ("customer", Role.CATEGORY),
        ("system", Role.CATEGORY),
        ("external_id", Role.ID),
        ("entity_id", Role.REF, "entities"),
        ("owner", Role.TEXT),
    ),
    "A customer's CRM record ids mapped to our entities (e.g. Salesforce, HubSpot).",
)

# --- The sales-funnel case: a Pipedrive export (docs/funnel.md) ------------------------------

USERS = Table(
    "users",
    ("user_id",),
    _cols(
        ("user_id", Role.ID),
        ("name", Role.PERSON_NAME),
        ("email", Role.EMAIL_LIST),
        ("modified", Role.TIMESTAMP),
    ),
    "CRM users (sales reps). Names and emails are PII: masked outside the raw layer.",
)

STAGES = Table(
    "stages",
    ("stage_id",),
    _cols(("stage_id", Role.ID), ("stage_name", Role.TEXT)),
    "Pipeline stages; labels are matched to funnel steps case-insensitively.",
)

ACTIVITY_TYPES = Table(
    "activity_types",
    ("activity_type_id",),
    _cols(
        ("activity_type_id", Role.ID),
        ("name", Role.TEXT),
        ("active", Role.BOOLEAN),
        ("type", Role.CATEGORY),
    ),
    "Kinds of activity; `type` is the key activities refer to (meeting, sc_2, ...).",
)

FIELDS = Table(
    "fields",
    ("field_id",),
    _cols(
        ("field_id", Role.ID),
        ("field_key", Role.CATEGORY),
        ("name", Role.TEXT),
        ("value_options", Role.TEXT),
    ),
    "CRM field definitions; `value_options` is the JSON list of {id, label} of an enum field "
    "(stage_id, lost_reason), decoded by the marts.",
)

DEALS = Table(
    "deals",
    ("deal_id",),
    _cols(
        ("deal_id", Role.ID),
        ("owner_id", Role.REF, "users"),
        ("stage_id", Role.REF, "stages"),
        ("status", Role.CATEGORY),
        ("lost_reason", Role.CATEGORY),
        ("created_at", Role.TIMESTAMP),
        ("stage_changed_at", Role.TIMESTAMP),
        ("lost_at", Role.TIMESTAMP),
        ("updated_at", Role.TIMESTAMP),
    ),
    "One row per deal: its current owner, stage and status. Filled from a deals export when one "
    "is mapped, else derived from deal_changes by the marts step.",
)

DEAL_CHANGES = Table(
    "deal_changes",
    # The change log has no id of its own; a field of a deal changes at most once at a given
    # time, so this natural key makes a re-export of the same history replace, not double, it.
    ("deal_id", "change_time", "changed_field_key"),
    _cols(
        ("deal_id", Role.REF, "deals"),
        ("change_time", Role.TIMESTAMP),
        ("changed_field_key", Role.CATEGORY),
        ("new_value", Role.TEXT),
    ),
    "The deals' change log: add_time, user_id (owner), stage_id and lost_reason changes.",
)

ACTIVITIES = Table(
    "activities",
    # Not unique in Pipedrive exports: repeats within one export are quarantined by the marts
    # step (crmpipe.quality.marts), versions from an older export are merged as usual.
    ("activity_id",),
    _cols(
        ("activity_id", Role.ID),
        ("type", Role.CATEGORY),
        ("user_id", Role.REF, "users"),
        ("deal_id", Role.REF, "deals"),
        ("done", Role.BOOLEAN),
        ("due_to", Role.TIMESTAMP),
    ),
    "Calls, meetings and follow-ups on deals; done ones of type meeting / sc_2 are funnel steps.",
)

# --- The childcare-leads case: facility lists from state agencies (docs/childcare.md) --------
# One agency row feeds a facility (entities) and, through its source's `feeds:`, the rows below;
# their keys are generated from the facility row's key when the source has none of its own.

LICENSES = Table(
    "licenses",
    ("license_id",),
    _cols(
        ("license_id", Role.ID),
        ("entity_id", Role.REF, "entities"),
        ("license_number", Role.TEXT),
        ("license_type", Role.CATEGORY),
        ("status", Role.CATEGORY),
        ("issued_on", Role.DATE),
        ("renewed_on", Role.DATE),
        ("expires_on", Role.DATE),
        ("capacity", Role.INTEGER),
    ),
    "A facility's license or credential: number, type, status, dates and licensed capacity.",
)

ADDRESSES = Table(
    "addresses",
    ("address_id",),
    _cols(
        ("address_id", Role.ID),
        ("entity_id", Role.REF, "entities"),
        ("address", Role.TEXT),
        ("address2", Role.TEXT),
        ("number", Role.TEXT),
        ("street", Role.TEXT),
        ("unit", Role.TEXT),
        ("city", Role.TEXT),
        ("state", Role.STATE),
        ("postal_code", Role.POSTAL_CODE),
        ("county", Role.TEXT),
    ),
    "A facility's street address: as given (`address`, `address2`) and parsed into number, "
    "street, unit, city, state and ZIP (USPS abbreviations) when it came as one field.",
)

#: Weekday columns of `schedules`, Monday first.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

SCHEDULES = Table(
    "schedules",
    ("schedule_id",),
    _cols(
        ("schedule_id", Role.ID),
        ("entity_id", Role.REF, "entities"),
        *((d, Role.TEXT) for d in WEEKDAYS),
    ),
    "A facility's opening hours per weekday as a source gives them (`7:30AM - 5:30PM`, "
    "`CLOSED`); one row per source row, so a facility listed twice keeps both.",
)

# --- The mover-CRM case: per-branch customers and jobs (docs/movers.md) ----------------------

BRANCHES = Table(
    "branches",
    ("branch_id",),
    _cols(("branch_id", Role.ID), ("name", Role.CATEGORY), ("state", Role.STATE)),
    "A company's branches: the name standardised to the project's declared list.",
)

CUSTOMERS = Table(
    "customers",
    ("customer_id",),
    _cols(
        ("customer_id", Role.ID),
        ("branch_id", Role.REF, "branches"),
        ("first_name", Role.PERSON_NAME),
        ("last_name", Role.PERSON_NAME),
        ("email", Role.EMAIL_LIST),
        ("phone", Role.PHONE),
        ("address", Role.TEXT),
        ("number", Role.TEXT),
        ("street", Role.TEXT),
        ("unit", Role.TEXT),
        ("city", Role.TEXT),
        ("state", Role.STATE),
        ("postal_code", Role.POSTAL_CODE),
        ("created_at", Role.TIMESTAMP),
        ("updated_at", Role.TIMESTAMP),
    ),
    "Consumers a branch serves (key `<branch>:<local id>`); unified across branches into "
    "golden customers by resolution.",
)

JOBS = Table(
    "jobs",
    ("job_id",),
    _cols(
        ("job_id", Role.ID),
        ("customer_id", Role.REF, "customers"),
        ("branch_id", Role.REF, "branches"),
        ("move_date", Role.DATE),
        ("origin_address", Role.TEXT),
        ("destination_address", Role.TEXT),
        ("volume_cuft", Role.NUMBER),
        ("weight_lbs", Role.NUMBER),
        ("price", Role.NUMBER),
        ("status", Role.CATEGORY),
        ("created_at", Role.TIMESTAMP),
    ),
    "Moves booked for a customer at a branch (key `<branch>:<local id>`).",
)

#: Canonical tables in build order (referenced tables first).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        ENTITIES,
        CONTACTS,
        TECHSTACKS,
        EXTERNAL_IDS,
        LICENSES,
        ADDRESSES,
        SCHEDULES,
        USERS,
        STAGES,
        ACTIVITY_TYPES,
        FIELDS,
        DEALS,
        DEAL_CHANGES,
        ACTIVITIES,
        BRANCHES,
        CUSTOMERS,
        JOBS,
    )
}

#: Columns every staging/core row carries about where it came from.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source", "VARCHAR"),
    ("_file", "VARCHAR"),
    ("_file_mtime", "TIMESTAMP"),
    ("_file_hash", "VARCHAR"),
    ("_row", "BIGINT"),
    ("_run_id", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)


def table(name: str) -> Table:
    """The canonical table called `name` (KeyError lists the known ones)."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}") from None


def physical_columns(tbl: Table) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every stored column of `tbl`, in order.

    Some roles store a companion column beside the value: a phone keeps its extension apart
    (`phone_ext`), a URL keeps its extracted domain (`url_domain`).
    """
    out: list[tuple[str, str]] = []
    for c in tbl.all_columns:
        out.append((c.name, c.duckdb_type))
        if c.role is Role.PHONE:
            out.append((f"{c.name}_ext", "VARCHAR"))
        elif c.role is Role.URL:
            out.append((f"{c.name}_domain", "VARCHAR"))
    return out


def duckdb_ddl(
    tbl: Table, schema: str, *, lineage: bool = True, plain: Collection[str] = ()
) -> str:
    """CREATE TABLE statement for `tbl` in `schema`; the columns named in `plain` stored
    without compression (build/plain.py).

    Keys are enforced by the build step (which resolves duplicates and counts them) rather than
    by DuckDB constraints, which would abort a whole bulk insert on one duplicate.
    """
    cols = [
        f"{quote_ident(n)} {t}" + (" USING COMPRESSION uncompressed" if n in plain else "")
        for n, t in physical_columns(tbl)
    ]
    if lineage:
        cols += [f"{n} {t}" for n, t in LINEAGE_COLUMNS]
    return (
        f"CREATE OR REPLACE TABLE {schema}.{quote_ident(tbl.name)} (\n  "
        + ",\n  ".join(cols)
        + "\n)"
    )
