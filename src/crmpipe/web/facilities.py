"""What a facility's page adds to its entity: its licenses and addresses, and — where the
childcare case built `marts.lead_provenance` — which source, file and row gave each value of
its lead.

Licenses and addresses come from the canonical tables (`core.*` in the warehouse, the
published schema on PostgreSQL) and go through the API's masks like every record; the
provenance lists source values of any column (contact names, phones, emails among them), so a
masked key is not shown it. Ids reach the database only as bound parameters.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from crmpipe.jsonvalues import json_value
from crmpipe.search import Backend, PostgresBackend, as_backend
from crmpipe.web.endpoints import Endpoints

#: Rows of each related table a page shows.
MAX_ROWS = 200
PROVENANCE = ("marts", "lead_provenance")
MASKED_PROVENANCE = (
    "the provenance of the lead's values lists source values (names, phones, emails): "
    "not shown to a masked key"
)


def _existing(db: Backend, schema: str) -> set[str]:
    mark = db.dialect.placeholder
    cursor = db.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema IN ({mark}, {mark})",
        [schema, PROVENANCE[0]],
    )
    return {f"{s}.{t}" for s, t in cursor.fetchall()}


def _rows(db: Backend, table: str, where: str, order: str, params: list[Any]) -> list[dict]:
    cursor = db.execute(
        f"SELECT * FROM {db.qualified(table)} WHERE {where} ORDER BY {order} LIMIT {MAX_ROWS}",
        params,
    )
    names = [d[0] for d in cursor.description]
    return [
        {n: json_value(v) for n, v in zip(names, row, strict=True) if not n.startswith("_")}
        for row in cursor.fetchall()
    ]


def facility_extras(request: Request, api: Endpoints, entity_id: str) -> dict[str, Any]:
    """{"licenses", "addresses": rows or None (no such table), "provenance": rows or None,
    "provenance_note": why there is none}, masked for a masked caller."""
    masked = bool(getattr(request.state, "masked", False))
    out: dict[str, Any] = {"licenses": None, "addresses": None, "provenance": None}
    out["provenance_note"] = None
    with api.connection() as con:
        db = as_backend(con)
        schema = db.schema if isinstance(db, PostgresBackend) else "core"
        tables = _existing(db, schema)
        mark = db.dialect.placeholder
        for name in ("licenses", "addresses"):
            if f"{schema}.{name}" in tables:
                rows = _rows(db, f"{schema}.{name}", f"entity_id = {mark}", "1", [entity_id])
                out[name] = api.mask_rows(request, rows, name)
        if ".".join(PROVENANCE) in tables:
            if masked:
                out["provenance_note"] = MASKED_PROVENANCE
            else:
                out["provenance"] = _rows(
                    db,
                    ".".join(PROVENANCE),
                    f"entity_id = {mark}",
                    "column_name",
                    [entity_id],
                )
    return out
