"""The crm_* DuckDB macros of every role family, installed on a connection, and `clean_value`.

Kept apart from `relation.py` (which installs them before cleaning a relation) so that the
package's modules import each other in one direction only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from crmpipe.clean import dates, emails, names, nulls, numbers, phones, places
from crmpipe.clean.phones import is_nanp_region, parse_phone
from crmpipe.model import Role

_MODULES = (nulls, emails, phones, names, places, dates, numbers)

#: Every macro, in dependency order (DuckDB binds a macro's body when it is created): the
#: helpers of each module, then the public one-argument cleaners generated from the plans.
MACROS: tuple[str, ...] = tuple(m for mod in _MODULES for m in mod.MACROS) + tuple(
    m for mod in _MODULES for m in mod.PUBLIC_MACROS
)

#: The public one-argument macro that cleans a raw value of each role.
MACRO_FOR_ROLE: dict[Role, str] = {
    Role.ID: "crm_id",
    Role.REF: "crm_id",
    Role.TEXT: "crm_text",
    Role.CATEGORY: "crm_category",
    Role.PERSON_NAME: "crm_person_name",
    Role.EMAIL_LIST: "crm_email_list",
    Role.PHONE: "crm_phone",
    Role.STATE: "crm_state",
    Role.POSTAL_CODE: "crm_postal_code",
    Role.URL: "crm_url",
    Role.DATE: "crm_date",
    Role.TIMESTAMP: "crm_timestamp",
    Role.INTEGER: "crm_integer",
    Role.NUMBER: "crm_number",
    Role.BOOLEAN: "crm_boolean",
    Role.LAT: "crm_lat",
    Role.LONG: "crm_long",
}

_SCRIPT = ";\n".join(MACROS)


def install_macros(con: Any) -> None:
    """Create (or replace) all crm_* macros on this DuckDB connection. Idempotent, fast.

    The macros are TEMP: they live with the connection (a `con.cursor()` is a new connection
    and needs its own call) and are never written into the database file.
    """
    con.execute(_SCRIPT)


def clean_value(con: Any, role: Role | str, value: str | None, *, region: str = "US") -> object:
    """Clean one raw value by its role's macro (convenience for tests and docs).

    Phones take the full path: the SQL fast path, then phonenumbers with `region` when the fast
    path cannot decide. The result has the role's Python type (list for email_list, date,
    datetime, int, float, bool or str) or is None.
    """
    role = Role(role)
    if role is Role.PHONE:
        parts = _one(con, "SELECT crm_phone_parts(CAST(? AS VARCHAR))", value)
        if not parts or parts["status"] is None:
            return None
        if is_nanp_region(region) and parts["status"] != "lookup":
            return parts["e164"]
        return parse_phone(parts["main"], region.upper())[0]
    return _one(con, f"SELECT {MACRO_FOR_ROLE[role]}(CAST(? AS VARCHAR))", value)


def _one(con: Any, sql: str, value: str | None) -> Any:
    """The single value of `sql`, installing the macros first if this connection lacks them."""
    try:
        row = con.execute(sql, [value]).fetchone()
    except duckdb.CatalogException:
        install_macros(con)
        row = con.execute(sql, [value]).fetchone()
    return row[0] if row else None
