"""One record with its related rows: a contact (its entity, techstack, CRM ids and the source
rows it came from), an entity (its contacts, techstack and CRM ids) or a golden customer of the
mover case (its branch, jobs, lifetime figures and the branch records it unifies).

The canonical tables are read from the DuckDB warehouse (`core.*`) or the published PostgreSQL
schema (`crmpipe.*`, where `publish` copies them). Lineage — which source rows a golden record
merged, with what match probability and by which rule — is written by resolution to
`core.<table>_sources` and `resolved.<singular>_pairs` in the warehouse only; on PostgreSQL a
record's `sources` is null and `lineage` says where to look. Ids only ever reach the database as
bound parameters.
"""

from __future__ import annotations

from typing import Any

from crmpipe.errors import CrmpipeError
from crmpipe.jsonvalues import json_value
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.search import Backend, PostgresBackend
from crmpipe.sqltext import quote_ident

#: How many contacts an entity's detail lists.
MAX_CONTACTS = 200
#: What a record on PostgreSQL says about its lineage.
PG_LINEAGE = (
    "lineage (source rows, match probabilities) lives in the DuckDB warehouse: serve the "
    "project without --pg to see it"
)


class RecordNotFound(CrmpipeError):
    """No record with that id (a 404)."""


def _mark(db: Backend) -> str:
    """The store's parameter placeholder, without reading its search fields (a mover-case
    publication has no search table, so its dialect's lookups can't be read)."""
    return "%s" if isinstance(db, PostgresBackend) else "?"


def _table(db: Backend, name: str) -> str:
    schema = db.schema if isinstance(db, PostgresBackend) else "core"
    return db.qualified(f"{schema}.{name}")


def _rows(db: Backend, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows as JSON objects, without the lineage columns (`_source`, `_file`, ...)."""
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [
        {n: json_value(v) for n, v in zip(names, row, strict=True) if not n.startswith("_")}
        for row in cursor.fetchall()
    ]


def _one(db: Backend, table: str, key: str, value: str, what: str) -> dict[str, Any]:
    mark = _mark(db)
    rows = _rows(
        db, f"SELECT * FROM {_table(db, table)} WHERE {quote_ident(key)} = {mark}", [value]
    )
    if not rows:
        raise RecordNotFound(f"no {what} with id {value!r}")
    return rows[0]


def _related(db: Backend, entity_id: Any) -> dict[str, Any]:
    mark = _mark(db)
    if entity_id is None:
        return {"techstack": [], "crm_ids": []}
    return {
        "techstack": _rows(
            db,
            f"SELECT name, type FROM {_table(db, 'techstacks')} WHERE entity_id = {mark} "
            "ORDER BY type, name",
            [entity_id],
        ),
        "crm_ids": _rows(
            db,
            f"SELECT customer, system, external_id, owner FROM {_table(db, 'external_ids')} "
            f"WHERE entity_id = {mark} ORDER BY customer, system, external_id",
            [entity_id],
        ),
    }


def contact_detail(db: Backend, contact_id: str) -> dict[str, Any]:
    """The contact, its entity, the entity's techstack and CRM ids, and (DuckDB) its lineage."""
    contact = _one(db, "contacts", "contact_id", contact_id, "contact")
    entity_id = contact.get("entity_id")
    entity = None
    if entity_id is not None:
        try:
            entity = _one(db, "entities", "entity_id", entity_id, "entity")
        except RecordNotFound:
            entity = None
    out: dict[str, Any] = {"contact": contact, "entity": entity, **_related(db, entity_id)}
    out.update(_lineage(db, "contacts", contact_id))
    return out


def entity_detail(db: Backend, entity_id: str) -> dict[str, Any]:
    """The entity, its contacts (the first MAX_CONTACTS by id), techstack and CRM ids."""
    entity = _one(db, "entities", "entity_id", entity_id, "entity")
    mark = _mark(db)
    contacts = _rows(
        db,
        f"SELECT contact_id, full_name, title, department FROM {_table(db, 'contacts')} "
        f"WHERE entity_id = {mark} ORDER BY {db.order_key('contact_id')} LIMIT {mark}",
        [entity_id, MAX_CONTACTS + 1],
    )
    out: dict[str, Any] = {
        "entity": entity,
        "contacts": contacts[:MAX_CONTACTS],
        "contacts_truncated": len(contacts) > MAX_CONTACTS,
        **_related(db, entity_id),
    }
    out.update(_lineage(db, "entities", entity_id))
    out.update(facility_rows(db, entity_id))
    return out


#: How many jobs a customer's detail lists.
MAX_JOBS = 500


def customer_detail(db: Backend, customer_id: str) -> dict[str, Any]:
    """A golden customer (docs/movers.md): its branch, its jobs (the first MAX_JOBS by move
    date), its `customer_lifetime` figures (null without the job marts) and (DuckDB) the branch
    records it was unified from with their match probabilities (`sources`, `links`)."""
    present = _present(db)
    if _where(db, "customers") not in present:
        raise RecordNotFound(f"no customer with id {customer_id!r} (this store has no customers)")
    customer = _one(db, "customers", "customer_id", customer_id, "customer")
    mark = _mark(db)
    branch = None
    if customer.get("branch_id") is not None:
        try:
            branch = _one(db, "branches", "branch_id", customer["branch_id"], "branch")
        except RecordNotFound:
            branch = None
    jobs: list[dict[str, Any]] = []
    if _where(db, "jobs") in present:
        jobs = _rows(
            db,
            f"SELECT * FROM {_table(db, 'jobs')} WHERE customer_id = {mark} "
            f"ORDER BY move_date NULLS LAST, {db.order_key('job_id')} LIMIT {mark}",
            [customer_id, MAX_JOBS + 1],
        )
    lifetime = None
    mart = "marts.customer_lifetime" if not isinstance(db, PostgresBackend) else None
    mart = mart or f"{db.schema}.customer_lifetime"
    if mart in present:
        found = _rows(
            db,
            f"SELECT * FROM {db.qualified(mart)} WHERE customer_id = {mark}",
            [customer_id],
        )
        lifetime = found[0] if found else None
    out: dict[str, Any] = {
        "customer": customer,
        "branch": branch,
        "jobs": jobs[:MAX_JOBS],
        "jobs_truncated": len(jobs) > MAX_JOBS,
        "lifetime": lifetime,
    }
    out.update(_lineage(db, "customers", customer_id))
    return out


def _where(db: Backend, name: str) -> str:
    """`schema.name` of a canonical table in this store (core.* or the published schema)."""
    return f"{db.schema if isinstance(db, PostgresBackend) else 'core'}.{name}"


def _present(db: Backend) -> set[str]:
    """`schema.table` of the store's canonical tables and marts."""
    schema = db.schema if isinstance(db, PostgresBackend) else "core"
    mark = _mark(db)
    return {
        f"{s}.{t}"
        for s, t in db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_schema IN ({mark}, 'marts')",
            [schema],
        ).fetchall()
    }


#: Tables a facility list feeds beside its entities (docs/childcare.md), and the leads
#: product's provenance of each value.
FED_TABLES = ("licenses", "addresses", "schedules")
PROVENANCE = "marts.lead_provenance"


def facility_rows(db: Backend, entity_id: str) -> dict[str, Any]:
    """{"licenses", "addresses", "schedules": the entity's rows of each (null when the store
    has no such table), "provenance": each lead value's source, file and row (null without the
    leads product)}."""
    schema = db.schema if isinstance(db, PostgresBackend) else "core"
    mark = _mark(db)
    present = {
        f"{s}.{t}"
        for s, t in db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_schema IN ({mark}, 'marts')",
            [schema],
        ).fetchall()
    }
    out: dict[str, Any] = {}
    for name in FED_TABLES:
        out[name] = (
            _rows(
                db,
                f"SELECT * FROM {_table(db, name)} WHERE entity_id = {mark} ORDER BY 1 "
                f"LIMIT {MAX_CONTACTS}",
                [entity_id],
            )
            if f"{schema}.{name}" in present
            else None
        )
    # On PostgreSQL the leads are published into the serving schema, not `marts`.
    provenance = PROVENANCE if schema == "core" else f"{schema}.lead_provenance"
    out["provenance"] = (
        _rows(
            db,
            f"SELECT column_name, value, source, file, {db.qualified('row')} "
            f"FROM {db.qualified(provenance)} WHERE entity_id = {mark} ORDER BY column_name",
            [entity_id],
        )
        if provenance in present
        else None
    )
    return out


def _lineage(db: Backend, plural: str, golden_id: str) -> dict[str, Any]:
    """{"sources": the source rows merged into the record with their values and match
    probabilities, "links": the linked pairs} on DuckDB; null and a note on PostgreSQL."""
    if isinstance(db, PostgresBackend):
        return {"sources": None, "links": None, "lineage": PG_LINEAGE}
    resolved = ResolvedTables(plural)
    tables = {
        f"{s}.{t}"
        for s, t in db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('core', 'raw', 'resolved')"
        ).fetchall()
    }
    if resolved.sources not in tables:
        return {"sources": None, "links": None, "lineage": f"{plural} are not resolved"}
    sources = _rows(
        db,
        "SELECT record_id, source, file, row, matched_by, match_probability "
        f"FROM {resolved.sources} WHERE golden_id = ? ORDER BY source, file, row",
        [golden_id],
    )
    for src in sources:
        raw = f"raw.{src['source']}"
        src["values"] = None
        if raw in tables:
            values = _rows(
                db,
                f"SELECT * FROM raw.{quote_ident(src['source'])} WHERE _file = ? AND _row = ? "
                "ORDER BY _run_id DESC LIMIT 1",
                [src["file"], src["row"]],
            )
            src["values"] = values[0] if values else None
    links: list[dict[str, Any]] = []
    pairs = resolved.pairs
    ids = [s["record_id"] for s in sources]
    if pairs in tables and ids:
        key = f"{resolved.singular}_id"
        left, right = quote_ident(f"{key}_l"), quote_ident(f"{key}_r")
        links = _rows(
            db,
            f"SELECT {left} AS left_id, {right} AS right_id, rule, match_probability, "
            f"match_weight FROM {pairs} WHERE {left} IN (SELECT unnest(?)) "
            f"AND {right} IN (SELECT unnest(?)) ORDER BY match_probability DESC, left_id, right_id",
            [ids, ids],
        )
    return {"sources": sources, "links": links}
