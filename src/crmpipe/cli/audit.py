"""`crmpipe audit KIND ID`: a golden row's history from the audit trail in PostgreSQL
(docs/audit.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from crmpipe.cli.common import ConfigOpt, Format, PgOpt, app, dsn_for, one_line_errors, out


def _value(v: Any) -> str:
    if v is None:
        return "∅"
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


@app.command()
@one_line_errors
def audit(
    kind: Annotated[str, typer.Argument(help="contact, customer, entity (facility), ...")],
    golden_id: Annotated[str, typer.Argument(metavar="ID", help="The golden row's id.")],
    config: ConfigOpt = None,
    pg: PgOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """A golden row's history: when, which run, what changed (old → new)."""
    from crmpipe.publish.audit_log import audit as history

    changes = history(dsn_for(config, pg), kind, golden_id)
    if format is Format.json:
        out.print_json(json.dumps([c.as_dict() for c in changes], default=str))
        return
    table = Table(title=f"{kind} {golden_id}", title_justify="left")
    for col in ("when", "action", "run", "version", "by", "operation", "changed"):
        table.add_column(col, overflow="fold")
    for c in changes:
        changed = "\n".join(f"{k}: {_value(o)} → {_value(n)}" for k, o, n in c.changes)
        table.add_row(
            c.changed_at.strftime("%Y-%m-%d %H:%M:%S%z"),
            c.action,
            "" if c.run_id is None else str(c.run_id),
            "" if c.version is None else str(c.version),
            c.changed_by,
            c.operation,
            changed,
        )
    out.print(table)
