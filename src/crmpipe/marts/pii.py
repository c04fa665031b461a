"""PII masking: CRM users' names and emails never reach a layer analysts read.

The raw layer keeps the values as loaded (it is the record of what arrived); staging, core,
quarantine and the value issues of `meta.row_issues` get masked values, so every mart built on
them is masked too. Which tables hold PII is a property of the case (`PII_TABLES`); which of
their columns is decided by role: person names and email lists.

Modes (`marts.pii` in crmpipe.yml): `initials` keeps each word's first letter ("Ashley Gonzalez"
→ "A*** G***", "crystal@example.org" → "c***@example.org"), `hash` replaces a value with the
first 16 hex digits of SHA-256 of the salted, lower-cased value (the same person hashes alike
everywhere, so counts and joins still work), `none` keeps the values.
"""

from __future__ import annotations

import hashlib

import duckdb

from crmpipe.config.schema import Config
from crmpipe.model import Role
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_columns, table_exists

#: Tables whose people are private: the CRM's own users (contacts are the product elsewhere).
PII_TABLES: tuple[str, ...] = ("users",)

#: Roles whose values identify a person.
PII_ROLES: frozenset[Role] = frozenset({Role.PERSON_NAME, Role.EMAIL_LIST})

#: Schemas whose copies of a PII table are masked (raw keeps the loaded values).
MASKED_SCHEMAS: tuple[str, ...] = ("staging", "core", "quarantine")


#: Session variable holding the salt, so config text never becomes SQL text.
SALT_VARIABLE = "crmpipe_pii_salt"


def mask_text_sql(expr: str, mode: str) -> str:
    """SQL masking one text value (a name, or an unparsed email field) by `mode`.

    `hash` reads the salt from the session variable `SALT_VARIABLE` (set by `mask_pii`).
    """
    if mode == "hash":
        return (
            f"left(sha256(coalesce(getvariable('{SALT_VARIABLE}'), '') || lower(trim({expr}))), 16)"
        )
    words = f"list_filter(string_split(trim({expr}), ' '), lambda w: w <> '')"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL ELSE array_to_string("
        f"list_transform({words}, lambda w: upper(w[1]) || '***'), ' ') END"
    )


def mask_email_sql(expr: str, mode: str) -> str:
    """SQL masking one email address: the local part by `mode`; `initials` keeps the domain."""
    if mode == "hash":
        return mask_text_sql(expr, mode)
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL WHEN position('@' IN {expr}) > 1 THEN "
        f"lower({expr}[1]) || '***@' || split_part({expr}, '@', 2) "
        f"ELSE lower({expr}[1]) || '***' END"
    )


def _column_sql(name: str, role: Role, mode: str) -> str:
    col = quote_ident(name)
    if role is Role.EMAIL_LIST:
        return f"list_transform({col}, lambda e: {mask_email_sql('e', mode)})"
    return mask_text_sql(col, mode)


def pii_columns(cfg: Config, table: str) -> list[tuple[str, Role]]:
    """(column, role) of the PII columns of `table`, extension columns included."""
    tbl = cfg.tables().get(table)
    if tbl is None:
        return []
    return [(c.name, c.role) for c in tbl.all_columns if c.role in PII_ROLES]


def masked_tables(cfg: Config) -> list[str]:
    """The tables whose rows `mask_pii` rewrites in place (staging, core and quarantine)."""
    if cfg.marts.pii == "none":
        return []
    return [table for table in PII_TABLES if pii_columns(cfg, table)]


def mask_pii(con: duckdb.DuckDBPyConnection, cfg: Config) -> int:
    """Mask the PII columns of `PII_TABLES` outside raw; return how many rows were masked."""
    mode = cfg.marts.pii
    if mode == "none":
        return 0
    con.execute(f"SET VARIABLE {SALT_VARIABLE} = ?", [cfg.marts.pii_salt or ""])
    masked = 0
    for table in PII_TABLES:
        columns = pii_columns(cfg, table)
        if not columns:
            continue
        for schema in MASKED_SCHEMAS:
            if not table_exists(con, schema, table):
                continue
            present = set(table_columns(con, schema, table))
            sets = [
                f"{quote_ident(name)} = {_column_sql(name, role, mode)}"
                for name, role in columns
                if name in present
            ]
            if sets:
                con.execute(f"UPDATE {schema}.{quote_ident(table)} SET {', '.join(sets)}")
                (n,) = con.execute(f"SELECT count(*) FROM {schema}.{quote_ident(table)}").fetchone()
                masked += int(n)
        # The issue log keeps the original text of values that failed cleaning.
        if table_exists(con, "meta", "row_issues"):
            con.execute(
                f"UPDATE meta.row_issues SET value = {mask_text_sql('value', mode)} "
                "WHERE table_name = ? AND list_contains(?, column_name)",
                [table, [name for name, _ in columns]],
            )
    return masked


def mask_text(value: str, mode: str, salt: str = "") -> str:
    """`mask_text_sql` in Python: a name's initials ("A*** G***"), or its salted hash."""
    if mode == "hash":
        return hashlib.sha256((salt + value.strip().lower()).encode()).hexdigest()[:16]
    return " ".join(w[0].upper() + "***" for w in value.strip().split(" ") if w)


def mask_email(value: str, mode: str, salt: str = "") -> str:
    """`mask_email_sql` in Python: "crystal@example.org" → "c***@example.org", or the hash."""
    if mode == "hash":
        return mask_text(value, mode, salt)
    if not value:
        return value
    local, at, domain = value.partition("@")
    return f"{value[0].lower()}***@{domain}" if at and local else f"{value[0].lower()}***"


def mask_phone(value: str, mode: str, salt: str = "") -> str:
    """A phone number with every digit but the last two starred ("+19798125438" →
    "+*********38"), or the hash."""
    if mode == "hash":
        return mask_text(value, mode, salt)
    digits = sum(c.isdigit() for c in value)
    out, seen = [], 0
    for c in value:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - 2 else "*")
        else:
            out.append(c)
    return "".join(out)
