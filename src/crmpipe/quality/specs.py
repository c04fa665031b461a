"""Checks and SLAs derived from the canonical model (docs/quality.md), merged with the ones the
project file declares (validated by crmpipe.config.checks).

Defaults make a project without a `checks:` section still checked: keys unique and not null,
foreign keys resolve, email and phone values valid; and measured against the mover-case SLAs
(completeness, validity, consistency, freshness, duplicate rate). A declared check with the same
name replaces a default one (e.g. to change its severity).
"""

from __future__ import annotations

from crmpipe.config.checks import SLA_METRICS, Check, Sla, declared_checks, declared_slas
from crmpipe.config.schema import Config
from crmpipe.model import Role, Table


def mapped_columns(cfg: Config, table: str) -> set[str]:
    """Columns of `table` that some source fills (unmapped columns are always empty)."""
    out: set[str] = set()
    for spec in cfg.sources_for(table).values():
        out |= set(spec.columns) | set(spec.constants) | set(spec.extra)
    return out


def built_tables(cfg: Config) -> dict[str, Table]:
    """The canonical tables this project builds (those with a source)."""
    return {n: t for n, t in cfg.tables().items() if cfg.sources_for(n)}


def default_checks(cfg: Config) -> list[Check]:
    """Checks derived from the model: keys, foreign keys, email and phone validity."""
    out: list[Check] = []
    built = built_tables(cfg)
    for name, tbl in built.items():
        mapped = mapped_columns(cfg, name)
        out.append(Check("key_not_null", "not_null", name, tbl.key, "error", 0.0, {}, "default"))
        out.append(Check("key_unique", "unique", name, tbl.key, "error", 0.0, {}, "default"))
        for col in tbl.all_columns:
            if col.name not in mapped:
                continue
            if col.role is Role.REF and col.references in built:
                target = built[col.references]
                if len(target.key) == 1:
                    params = {"to_table": target.name, "to_column": target.key[0]}
                    out.append(
                        Check(
                            f"relationship_{col.name}",
                            "relationship",
                            name,
                            (col.name,),
                            "warn",
                            0.0,
                            params,
                            "default",
                        )
                    )
            kind = {Role.EMAIL_LIST: "valid_email", Role.PHONE: "valid_phone"}.get(col.role)
            if kind:
                out.append(
                    Check(f"{kind}_{col.name}", kind, name, (col.name,), "warn", 0.0, {}, "default")
                )
    return out


def all_checks(cfg: Config) -> list[Check]:
    """Defaults (unless `default_checks: false`) then declared checks; same name → declared."""
    declared = declared_checks(cfg)
    if not cfg.default_checks:
        return declared
    taken = {(c.table, c.name) for c in declared}
    defaults = [c for c in default_checks(cfg) if (c.table, c.name) not in taken]
    return defaults + declared


def default_slas(cfg: Config) -> list[Sla]:
    """The mover-case SLAs on every built table, for the columns a source fills (severity warn)."""
    out: list[Sla] = []
    for name, tbl in built_tables(cfg).items():
        mapped = mapped_columns(cfg, name)

        def add(metric: str, col: str | None, name: str = name) -> None:
            cols = (col,) if col else ()
            target = SLA_METRICS[metric][2]
            label = "_".join((metric, name, *cols))
            out.append(Sla(label, metric, name, cols, target, "warn", "default"))

        for col in tbl.all_columns:
            if col.name not in mapped:
                continue
            if col.role in (Role.EMAIL_LIST, Role.PHONE) or col.name == "address":
                add("completeness", col.name)
            if col.role in (Role.EMAIL_LIST, Role.PHONE):
                add("validity", col.name)
            if col.role is Role.STATE:
                add("consistency", col.name)
        stamps = [c.name for c in tbl.all_columns if c.role is Role.TIMESTAMP and c.name in mapped]
        if stamps:
            add("freshness", stamps[0])
        add("duplicate_rate", None)
    return out


def all_slas(cfg: Config) -> list[Sla]:
    """Declared SLAs, or the defaults when the project file has no `slas:` key."""
    return declared_slas(cfg) if cfg.slas is not None else default_slas(cfg)
