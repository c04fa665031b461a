"""Reading the audit trail (`crmpipe audit KIND ID`, docs/audit.md): one golden row's history,
each change with when, which action (publish, rollback, manual), run and version, and the
columns it changed, old → new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmpipe.publish.audit import AUDIT_SCHEMA, KIND_ALIASES, audited_tables, singular
from crmpipe.publish.connection import connect
from crmpipe.publish.errors import PublishError, translated
from crmpipe.sqltext import quote_ident


@dataclass
class AuditChange:
    """One row of a golden row's history; `changes` are (column, old, new) for the columns the
    change touched (every non-null column of an inserted or deleted row)."""

    change_id: int
    changed_at: datetime
    operation: str  # INSERT | UPDATE | DELETE
    action: str  # publish | rollback | manual
    run_id: int | None
    version: int | None
    changed_by: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "changed_at": self.changed_at.isoformat(),
            "operation": self.operation,
            "action": self.action,
            "run_id": self.run_id,
            "version": self.version,
            "changed_by": self.changed_by,
            "changes": [{"column": c, "old": o, "new": n} for c, o, n in self.changes],
        }


def _changed(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    old, new = old or {}, new or {}
    names = list(new) + [k for k in old if k not in new]
    return [(k, old.get(k), new.get(k)) for k in names if old.get(k) != new.get(k)]


def table_for_kind(kind: str, audited: list[str]) -> str:
    """The audited table a kind names: its table name, singular (`contact`), or an alias
    (`facility` → entities)."""
    wanted = KIND_ALIASES.get(kind.lower(), kind.lower())
    for table in audited:
        if wanted in (table, singular(table)):
            return table
    kinds = ", ".join(singular(t) for t in audited) or "none"
    raise PublishError(
        f"{kind!r} is not audited; audited kinds: {kinds} (publish.audit in crmpipe.yml)"
    )


def audit(dsn: str, kind: str, golden_id: str) -> list[AuditChange]:
    """The history of golden row `golden_id` of `kind` (`contact`, `customer`, `entity`, ...),
    oldest change first. PublishError (one line) when nothing is audited, the kind isn't, or
    the id has no history."""
    conn = connect(dsn, app="crmpipe audit")
    try:
        with translated(conn, "reading the audit trail", harmless=False):
            audited = audited_tables(conn)
            if not audited:
                raise PublishError(
                    f"no audit trail in database {conn.info.dbname} yet: publish first "
                    "('crmpipe publish'; publish.audit in crmpipe.yml names the audited tables)"
                )
            table = table_for_kind(kind, audited)
            (changes_table,) = conn.execute(
                f"SELECT changes_table FROM {AUDIT_SCHEMA}.tables WHERE table_name = %s",
                [table],
            ).fetchone()
            rows = conn.execute(
                "SELECT change_id, changed_at, operation, action, run_id, version, changed_by, "
                f"old_row, new_row FROM {AUDIT_SCHEMA}.{quote_ident(changes_table)} "
                "WHERE golden_id = %s ORDER BY change_id",
                [golden_id],
            ).fetchall()
        if not rows:
            raise PublishError(
                f"no {singular(table)} {golden_id!r} in the audit trail ({AUDIT_SCHEMA}."
                f"{changes_table}); check the id (crmpipe search)"
            )
        return [AuditChange(*r[:7], changes=_changed(r[7], r[8])) for r in rows]
    finally:
        conn.close()
