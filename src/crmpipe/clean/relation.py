"""Clean a whole raw relation into a staging table, recording per-row issues, in set-based SQL.

The raw rows are read once: one statement computes every column's cleaned value (as stacked
projection levels, see `plan.py`) into a temp stage table that also keeps, sparsely, the raw
text of each value that failed its role. Phones the SQL fast path cannot decide are resolved on
their distinct values with phonenumbers. The stage is then inserted into the target (joining
the phone lookup) and the issues are taken from the stage's sparse failure columns.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmpipe.clean import dates, emails, names, nulls, numbers, phones, places
from crmpipe.clean.macros import install_macros
from crmpipe.clean.plan import Plan, column_ref, stacked_select
from crmpipe.model import DUCKDB_TYPES, LINEAGE_COLUMNS, Role
from crmpipe.sqltext import quote_ident

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnSpec:
    """One staging column: its name, its role, and the raw column it is cleaned from."""

    name: str  # staging column name (canonical or extension column)
    role: Role
    source: str | None  # raw column name in the input relation, or None -> the column is NULL


_PLANS: dict[Role, Plan] = {
    Role.ID: nulls.ID_PLAN,
    Role.REF: nulls.ID_PLAN,
    Role.TEXT: nulls.TEXT_PLAN,
    Role.CATEGORY: nulls.TEXT_PLAN,
    Role.PERSON_NAME: names.PERSON_NAME_PLAN,
    Role.EMAIL_LIST: emails.EMAIL_PLAN,
    Role.STATE: places.STATE_PLAN,
    Role.POSTAL_CODE: places.POSTAL_CODE_PLAN,
    Role.URL: places.URL_PLAN,
    Role.DATE: dates.DATE_PLAN,
    Role.TIMESTAMP: dates.TIMESTAMP_PLAN,
    Role.INTEGER: numbers.INTEGER_PLAN,
    Role.NUMBER: numbers.NUMBER_PLAN,
    Role.BOOLEAN: numbers.BOOLEAN_PLAN,
    Role.LAT: numbers.LAT_PLAN,
    Role.LONG: numbers.LONG_PLAN,
}


def plan_for(role: Role, region: str = "US") -> Plan:
    """The SQL plan that cleans `role` (phones depend on the default region)."""
    role = Role(role)
    if role is Role.PHONE:
        return phones.phone_plan(region)
    return _PLANS[role]


def companion_suffixes(role: Role) -> tuple[str, ...]:
    """Suffixes of the companion columns a role stores beside its value (`_ext`, `_domain`)."""
    return tuple(suffix for suffix, _ in plan_for(role).companions)


@dataclass(frozen=True)
class Fill:
    """Values joined in while the cleaned rows are inserted, computed from the cleaned ones
    (an address's parsed parts, a name field's first person): the rows are written once,
    instead of inserted and then rewritten.

    `joins` are `LEFT JOIN … ON …` clauses over the stage (alias `s`), each matching at most
    one row; `values` maps a target column to the SQL expression that fills it (cast to the
    column's type), in place of its cleaned value.
    """

    joins: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


#: Called with the stage table and a function giving a column's cleaned value as SQL over the
#: stage (`s.…`; `NULL` for a column without a source): the fills to join in.
FillHook = Callable[[str, Callable[[str], str]], list[Fill]]


@dataclass
class _Col:
    index: int
    spec: ColumnSpec
    plan: Plan | None  # None when the column has no source

    @property
    def prefix(self) -> str:
        return f"_c{self.index}"

    def ref(self, alias: str) -> str:
        return column_ref(self.prefix, alias)


def _stage_select(raw_sql: str, cols: list[_Col]) -> str:
    """SELECT computing, for every column, value, companions, failure text and lookup key."""
    lineage = [name for name, _ in LINEAGE_COLUMNS]
    sourced = [(c, c.plan) for c in cols if c.plan is not None]
    sql = stacked_select(
        raw_sql,
        lineage,
        [(c.prefix, f"crm_base_.{quote_ident(c.spec.source or '')}", plan) for c, plan in sourced],
    )
    out = list(lineage)
    for c, plan in sourced:
        out.append(f"{c.ref(plan.value)} AS {c.ref('val')}")
        for suffix, alias in plan.companions:
            out.append(f"{c.ref(alias)} AS {c.ref('comp' + suffix)}")
        if plan.code is not None:
            failed = c.ref(plan.failed) if plan.failed else f"{c.ref(plan.value)} IS NULL"
            # The raw text of a value that was present but failed: sparse, mostly NULL.
            out.append(
                f"CASE WHEN {c.ref('v')} IS NOT NULL AND ({failed}) "
                f"THEN {c.ref('raw')} END AS {c.ref('bad')}"
            )
        if plan.lookup_key is not None:
            out.append(
                f"CASE WHEN {c.ref('v')} IS NOT NULL THEN {c.ref(plan.lookup_key)} END "
                f"AS {c.ref('key')}"
            )
    return f"SELECT {', '.join(out)} FROM ({sql}) AS crm_final_"


def clean_relation(
    con: Any,
    *,
    raw_sql: str,
    columns: list[ColumnSpec],
    target: str,
    issues_table: str,
    table_name: str,
    region: str = "US",
    fill: FillHook | None = None,
) -> int:
    """INSERT INTO target BY NAME the cleaned rows of `raw_sql`; record issues; return the count.

    `raw_sql` yields the lineage columns plus raw VARCHAR columns; each `ColumnSpec` names the
    staging column, its role and its raw source column. A phone column `x` also fills `x_ext`,
    a URL column `x` also fills `x_domain`. One issue row is recorded per (row, column) whose
    value was present (not a null token) but failed its role, with the raw text as `value`.
    `fill` (see `FillHook`) replaces some columns' values by ones derived from the cleaned
    rows, joined in by the same insert.
    """
    install_macros(con)
    cols = [
        _Col(i, spec, plan_for(spec.role, region) if spec.source is not None else None)
        for i, spec in enumerate(columns)
    ]
    tag = uuid.uuid4().hex[:12]
    stage = f"crm_stage_{tag}"
    lookup: str | None = None
    started, cpu = time.perf_counter(), time.process_time()

    def step(what: str) -> None:
        log.debug(
            "clean %s: %s done at %.2fs (cpu %.2fs)",
            table_name,
            what,
            time.perf_counter() - started,
            time.process_time() - cpu,
        )

    try:
        con.execute(f"CREATE TEMP TABLE {stage} AS {_stage_select(raw_sql, cols)}")
        step("stage")
        keyed = [c for c in cols if c.plan is not None and c.plan.lookup_key is not None]
        if keyed:
            values_sql = " UNION ALL ".join(
                f"SELECT {c.ref('key')} FROM {stage} WHERE {c.ref('key')} IS NOT NULL"
                for c in keyed
            )
            lookup = phones.build_phone_lookup(con, values_sql, region)
            step("phone lookup")
        fills: list[Fill] = []
        if fill is not None:
            by_name = {c.spec.name: c for c in cols}

            def cleaned(name: str) -> str:
                c = by_name.get(name)
                return f"s.{c.ref('val')}" if c is not None and c.plan is not None else "NULL"

            fills = fill(stage, cleaned)
            step("fill")
        inserted = _insert_target(con, stage, lookup, cols, target, fills)
        step("insert")
        _insert_issues(con, stage, lookup, cols, issues_table, table_name)
        step("issues")
        return inserted
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}")
        if lookup is not None:
            con.execute(f"DROP TABLE IF EXISTS {lookup}")


def _insert_target(
    con: Any,
    stage: str,
    lookup: str | None,
    cols: list[_Col],
    target: str,
    fills: list[Fill] | None = None,
) -> int:
    items = [f"s.{name}" for name, _ in LINEAGE_COLUMNS]
    joins: list[str] = [j for f in fills or [] for j in f.joins]
    filled = {name: expr for f in fills or [] for name, expr in f.values.items()}
    for c in cols:
        name = c.spec.name
        if name in filled:
            if companion_suffixes(c.spec.role):
                raise ValueError(f"column {name} has companion columns: it cannot be filled")
            items.append(
                f"CAST({filled[name]} AS {DUCKDB_TYPES[c.spec.role]}) AS {quote_ident(name)}"
            )
            continue
        if c.plan is None:
            items.append(f"CAST(NULL AS {DUCKDB_TYPES[c.spec.role]}) AS {quote_ident(name)}")
            for suffix in companion_suffixes(c.spec.role):
                items.append(f"CAST(NULL AS VARCHAR) AS {quote_ident(name + suffix)}")
            continue
        if c.plan.lookup_key is not None and lookup is not None:
            j = f"crm_lk{c.index}_"
            joins.append(f"LEFT JOIN {lookup} AS {j} ON {j}.raw = s.{c.ref('key')}")
            value = f"coalesce(s.{c.ref('val')}, {j}.e164)"
            items.append(f"{value} AS {quote_ident(name)}")
            for suffix, _ in c.plan.companions:  # the extension of a valid number only
                items.append(
                    f"CASE WHEN {value} IS NOT NULL THEN coalesce(s.{c.ref('comp' + suffix)}, "
                    f"{j}.ext) END AS {quote_ident(name + suffix)}"
                )
            continue
        items.append(f"s.{c.ref('val')} AS {quote_ident(name)}")
        for suffix, _ in c.plan.companions:
            companion = f"s.{c.ref('comp' + suffix)}"
            if c.plan.lookup_key is not None:
                companion = f"CASE WHEN s.{c.ref('val')} IS NOT NULL THEN {companion} END"
            items.append(f"{companion} AS {quote_ident(name + suffix)}")
    sql = f"INSERT INTO {target} BY NAME SELECT {', '.join(items)} FROM {stage} AS s " + " ".join(
        joins
    )
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _insert_issues(
    con: Any,
    stage: str,
    lookup: str | None,
    cols: list[_Col],
    issues_table: str,
    table_name: str,
) -> None:
    selects: list[str] = []
    params: list[str] = []
    head = (
        "SELECT ? AS table_name, s._source, s._file, s._row, s._run_id, ? AS column_name, ? AS code"
    )
    for c in cols:
        if c.plan is None or c.plan.code is None:
            continue
        selects.append(
            f"{head}, s.{c.ref('bad')} AS value FROM {stage} AS s "
            f"WHERE s.{c.ref('bad')} IS NOT NULL"
        )
        params += [table_name, c.spec.name, c.plan.code]
        if c.plan.lookup_key is not None and lookup is not None:
            selects.append(
                f"{head}, s.{c.ref('key')} AS value FROM {stage} AS s "
                f"JOIN {lookup} AS l ON l.raw = s.{c.ref('key')} WHERE l.e164 IS NULL"
            )
            params += [table_name, c.spec.name, c.plan.code]
    if not selects:
        return
    con.execute(
        f"INSERT INTO {issues_table} "
        "(table_name, _source, _file, _row, _run_id, column_name, code, value) "
        + " UNION ALL ".join(selects),
        params,
    )
