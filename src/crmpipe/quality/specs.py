"""Checks and SLAs derived from the canonical model (docs/quality.md), merged with the ones the
project file declares (validated by crmpipe.config.checks).

Defaults make a project without a `checks:` section still checked: keys unique and not null,
foreign keys resolve, email and phone values valid; and measured against the mover-case SLAs
(completeness, validity, consistency, freshness, duplicate rate). A declared check with the same
name replaces a default one (e.g. to change its severity).
"""

from __future__ import annotations

from typing import Any

from crmpipe.build.staging import generated_columns
from crmpipe.config.checks import SLA_METRICS, Check, Sla, declared_checks, declared_slas
from crmpipe.config.schema import Config
from crmpipe.model import TABLES, Role, Table


def mapped_columns(cfg: Config, table: str) -> set[str]:
    """Columns of `table` that some source fills (unmapped columns are always empty)."""
    out: set[str] = set()
    tables = cfg.tables()
    for feed in cfg.feeds_for(table):
        m = feed.mapping
        out |= set(m.columns) | set(m.constants) | set(m.extra)
        out |= generated_columns(tables[table], tables[feed.spec.table], m, feed.primary)
    return out


def built_tables(cfg: Config) -> dict[str, Table]:
    """The canonical tables this project builds (those some source maps onto)."""
    return cfg.fed_tables()


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


# --- the sales-funnel case's checks (docs/funnel.md) ---------------------------------------------

#: The deal_changes field keys the marts understand.
ACCEPTED_FIELD_KEYS: tuple[str, ...] = ("add_time", "user_id", "stage_id", "lost_reason")


def _mart(name: str, kind: str, table: str, column: str, severity: str, **params: Any) -> Check:
    return Check(name, kind, table, (column,) if column else (), severity, 0.0, params, "mart")


def _ref(table: str, column: str, noun: str, **params: Any) -> Check:
    """A relationship check of a `ref` column, its target taken from the canonical model."""
    target = TABLES[TABLES[table].column(column).references]
    params.setdefault("parent", f"core.{target.name}")
    return _mart(
        f"{table}_{target.key[0].removesuffix('_id')}_exists",
        "relationship",
        table,
        column,
        "warn",
        to_table=target.name,
        to_column=target.key[0],
        noun=noun,
        **params,
    )


#: How a change of a deal's ref column is checked when its target is not simply core.<target>:
#: stages may come from a seed, so a stage id must have a labelled stage in marts.int_stages.
_CHANGE_REF_TARGETS: dict[str, dict[str, str]] = {
    "stages": {
        "severity": "error",
        "parent": "marts.int_stages",
        "parent_filter": "stage_name IS NOT NULL",
    },
}


def _change_refs() -> list[Check]:
    """Relationship checks of the deal change log: a change of field `<target key>` (user_id,
    stage_id) sets a deal's ref column (owner_id → users, stage_id → stages), so its new value
    must exist in the target."""
    out = []
    for col in TABLES["deals"].all_columns:
        if col.role is not Role.REF or col.references is None:
            continue
        target = TABLES[col.references]
        how = {"severity": "warn", "parent": f"core.{target.name}"}
        how.update(_CHANGE_REF_TARGETS.get(target.name, {}))
        noun = col.name.removesuffix("_id")
        out.append(
            _mart(
                f"deal_{noun}_exists",
                "relationship",
                "deal_changes",
                "new_value",
                how.pop("severity"),
                field=target.key[0],
                to_table=target.name,
                to_column=target.key[0],
                noun=noun,
                **how,
            )
        )
    return out


def mart_checks(cfg: Config) -> list[Check]:
    """The checks run after the marts are built, in the order they are shown.

    Each measures one number: warn (the marts handle it, but someone should know) or fail (a
    rule the marts rely on is broken). Relationships come from the model's `ref` columns: the
    activities' own, and the deals' as set by the change log; deals, when no source feeds them,
    are the deal ids of the change log.
    """
    if cfg.sources_for("deals"):
        deal_ids = _mart("deal_id_unique", "unique_in_export", "deals", "deal_id", "error")
    else:
        deal_ids = _mart("deal_id_unique", "created_once", "deal_changes", "deal_id", "warn")
    return [
        deal_ids,
        _mart("stage_id_unique", "unique_in_export", "stages", "stage_id", "error"),
        _mart("user_id_unique", "unique_in_export", "users", "user_id", "error"),
        _mart("activity_id_unique", "repeats_quarantined", "activities", "activity_id", "warn"),
        _mart(
            "changed_field_key_accepted",
            "accepted_keys",
            "deal_changes",
            "changed_field_key",
            "warn",
            values=list(ACCEPTED_FIELD_KEYS),
        ),
        _mart("field_options_json", "json_list", "fields", "value_options", "error"),
        _ref("activities", "user_id", "assigned user"),
        *_change_refs(),
        _mart(
            "lost_reason_decoded",
            "decoded",
            "deal_changes",
            "lost_reason_id",
            "warn",
            source="marts.int_deal_lost",
            label="lost_reason",
            noun="lost reason",
        ),
        _ref(
            "activities",
            "deal_id",
            "deal",
            parent="core.deal_changes",
            note="they still count in the sales-call steps",
        ),
        _mart(
            "funnel_monotonic",
            "funnel_monotonic",
            "rep_sales_funnel_monthly",
            "",
            "warn",
            steps="marts.int_funnel_steps",
            entries="marts.int_deal_funnel_entries",
        ),
    ]
