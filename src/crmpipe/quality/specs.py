"""Check and SLA specs: the project file's `checks:` and `slas:` validated into `Check` and `Sla`
objects, plus the defaults derived from the canonical model (docs/quality.md).

Defaults make a project without a `checks:` section still checked: keys unique and not null,
foreign keys resolve, email and phone values valid; and measured against the mover-case SLAs
(completeness, validity, consistency, freshness, duplicate rate). A declared check with the same
name replaces a default one (e.g. to change its severity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from crmpipe.errors import CrmpipeError
from crmpipe.model import Role, Table

if TYPE_CHECKING:  # config imports this module lazily; no import cycle at runtime
    from crmpipe.config.schema import Config

Severity = Literal["warn", "error"]


class _Params(BaseModel):
    """Parameters every check takes: a name, a severity and a tolerated failing share."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    severity: Severity = "error"
    #: Percent of checked rows allowed to fail before the check fails (rates only).
    threshold: float = 0.0


class NotNull(_Params):
    pass


class Unique(_Params):
    columns: list[str] | None = None  # table-level: a combination of columns


class AcceptedValues(_Params):
    values: list[str | int | float | bool]


class Relationship(_Params):
    to: str  # "entities" or "entities.entity_id"


class Regex(_Params):
    pattern: str


class Range(_Params):
    min: float | int | str | None = None
    max: float | int | str | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class ValidEmail(_Params):
    pass


class ValidPhone(_Params):
    pass


class MaxAge(_Params):
    days: float


class RowCount(_Params):
    min: int | None = None
    max: int | None = None
    #: Largest change vs the previous run's row count, in percent (either direction).
    max_change: float | None = None


class Completeness(_Params):
    min: float  # percent of rows with a value


class Expression(_Params):
    sql: str


#: Check type → its parameters; `column` types need a column, `table` types sit under `table:`.
CHECK_TYPES: dict[str, type[_Params]] = {
    "not_null": NotNull,
    "unique": Unique,
    "accepted_values": AcceptedValues,
    "relationship": Relationship,
    "regex": Regex,
    "range": Range,
    "valid_email": ValidEmail,
    "valid_phone": ValidPhone,
    "max_age": MaxAge,
    "row_count": RowCount,
    "completeness": Completeness,
    "expression": Expression,
}
TABLE_TYPES = {"row_count", "expression", "unique"}
COLUMN_TYPES = set(CHECK_TYPES) - {"row_count", "expression"}
#: Checks judged row by row: their failing rows can be quarantined.
ROW_LEVEL = {
    "not_null",
    "accepted_values",
    "relationship",
    "regex",
    "range",
    "valid_email",
    "valid_phone",
    "expression",
}

#: Functions an `expression` check may not call: they read files or run other SQL.
FORBIDDEN_FUNCTIONS = {
    "query",
    "query_table",
    "glob",
    "getenv",
    "current_setting",
    "sniff_csv",
}
_FORBIDDEN_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "duckdb_", "pragma_")


@dataclass(frozen=True)
class Check:
    """One check to run on core.<table>: a type, its parameters, severity and threshold."""

    name: str
    type: str
    table: str
    columns: tuple[str, ...]
    severity: str
    threshold: float
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    origin: str = "config"  # or "default"

    @property
    def column(self) -> str | None:
        return ", ".join(self.columns) if self.columns else None

    @property
    def row_level(self) -> bool:
        return self.type in ROW_LEVEL

    @property
    def quarantines(self) -> bool:
        """Row-level `error` checks move failing rows to quarantine.<table>."""
        return self.row_level and self.severity == "error"


class CheckSpecError(CrmpipeError, ValueError):
    """A check entry in the project file is wrong (the message names the key)."""


def _entry(entry: Any, at: str) -> tuple[str, dict[str, Any]]:
    """`not_null` or `{accepted_values: {values: [...]}}` → (type, raw params)."""
    if isinstance(entry, str):
        kind, raw = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        kind, raw = next(iter(entry.items()))
        raw = raw if raw is not None else {}
        if not isinstance(raw, dict):
            raise CheckSpecError(f"{at}.{kind}: expected a mapping of parameters, got {raw!r}")
    else:
        raise CheckSpecError(
            f"{at}: expected a check name (e.g. not_null) or one mapping like "
            "{accepted_values: {values: [a, b]}}"
        )
    if kind not in CHECK_TYPES:
        from crmpipe.config.schema import suggest

        raise CheckSpecError(f"{at}: unknown check {kind!r}{suggest(str(kind), CHECK_TYPES)}")
    return kind, raw


def _params(kind: str, raw: dict[str, Any], at: str) -> _Params:
    try:
        return CHECK_TYPES[kind].model_validate(raw)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        e = errors[0]
        where = ".".join(str(p) for p in e["loc"])
        key = f"{at}.{kind}" + (f".{where}" if where else "")
        if e["type"] == "extra_forbidden":
            from crmpipe.config.schema import suggest

            fields = [f for f in CHECK_TYPES[kind].model_fields]
            return_msg = f"{key}: unknown parameter{suggest(str(e['loc'][-1]), fields)}"
            raise CheckSpecError(return_msg) from None
        if e["type"] == "missing":
            raise CheckSpecError(f"{key}: required parameter is missing") from None
        msg = e["msg"].removeprefix("Value error, ")
        raise CheckSpecError(f"{key}: {msg}") from None


def validate_expression(sql: str, at: str) -> None:
    """Allow only one boolean-ish row expression: no statements, subqueries or file access.

    The text is parsed by DuckDB's own parser as the single item of a SELECT list; anything that
    escapes it (a second item, a second statement, a subquery) or calls a file-reading or
    SQL-running function is refused, so user text can't become any other SQL.
    """
    probe = f"SELECT ({sql}) AS _crm_expr FROM _crm_table"
    (text,) = duckdb.connect().execute("SELECT json_serialize_sql(?)", [probe]).fetchone()
    tree = json.loads(text)
    if tree.get("error"):
        msg = tree.get("error_message", "not an expression")
        raise CheckSpecError(f"{at}: not a valid SQL expression: {msg}")
    statements = tree.get("statements", [])
    node = statements[0]["node"] if len(statements) == 1 else {}
    if (
        len(node.get("select_list", [])) != 1
        or node.get("where_clause")
        or node.get("group_expressions")
    ):
        raise CheckSpecError(f"{at}: must be one expression over the row's columns")

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("class") == "SUBQUERY":
                raise CheckSpecError(f"{at}: subqueries are not allowed in an expression")
            name = str(obj.get("function_name", "")).lower()
            if obj.get("class") == "FUNCTION" and (
                name in FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES)
            ):
                raise CheckSpecError(f"{at}: function {name}() is not allowed in an expression")
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(node.get("select_list"))
    from_table = node.get("from_table", {})
    if from_table.get("type") != "BASE_TABLE" or from_table.get("table_name") != "_crm_table":
        raise CheckSpecError(f"{at}: must be one expression over the row's columns")


def _validate_regex(pattern: str, at: str) -> None:
    try:
        duckdb.connect().execute("SELECT regexp_matches('', ?)", [pattern]).fetchone()
    except duckdb.Error as exc:
        raise CheckSpecError(f"{at}: not a valid (RE2) regular expression: {exc}") from None


def _make(
    kind: str, p: _Params, tbl: Table, columns: tuple[str, ...], at: str, cfg: Config
) -> Check:
    params = p.model_dump(exclude={"name", "severity", "threshold"})
    if kind == "unique" and p.columns:  # type: ignore[attr-defined]
        columns = tuple(p.columns)  # type: ignore[attr-defined]
    if kind in ("unique", "not_null") and not columns:
        raise CheckSpecError(f"{at}.{kind}: give the columns (columns: [a, b])")
    known = set(tbl.column_names)
    for c in columns:
        if c not in known:
            from crmpipe.config.schema import suggest

            raise CheckSpecError(f"{at}: {c!r} is not a column of {tbl.name}{suggest(c, known)}")
    if kind == "relationship":
        target, _, target_col = str(params["to"]).partition(".")
        tables = cfg.tables()
        if target not in tables:
            from crmpipe.config.schema import suggest

            raise CheckSpecError(
                f"{at}.relationship.to: unknown table {target!r}{suggest(target, tables)}"
            )
        if not target_col:
            if len(tables[target].key) != 1:
                raise CheckSpecError(f"{at}.relationship.to: name the column: {target}.COLUMN")
            target_col = tables[target].key[0]
        if target_col not in tables[target].column_names:
            raise CheckSpecError(
                f"{at}.relationship.to: {target_col!r} is not a column of {target}"
            )
        params["to_table"], params["to_column"] = target, target_col
    if kind == "regex":
        _validate_regex(params["pattern"], f"{at}.regex.pattern")
    if kind == "expression":
        validate_expression(params["sql"], f"{at}.expression.sql")
    if kind == "max_age":
        role = tbl.column(columns[0]).role
        if role not in (Role.DATE, Role.TIMESTAMP):
            raise CheckSpecError(f"{at}.max_age: {columns[0]} is not a date or timestamp column")
    if kind == "range" and p.min is not None and p.max is not None:  # type: ignore[attr-defined]
        lo, hi = p.min, p.max  # type: ignore[attr-defined]
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            raise CheckSpecError(f"{at}.range: min is greater than max")
    if not 0 <= p.threshold <= 100:
        raise CheckSpecError(f"{at}.{kind}.threshold: a percent between 0 and 100")
    name = p.name or "_".join((kind, *columns))
    return Check(name, kind, tbl.name, columns, p.severity, p.threshold, params, "config")


def declared_checks(cfg: Config) -> list[Check]:
    """The checks the project file declares (raises CheckSpecError naming the key)."""
    tables = cfg.tables()
    out: list[Check] = []
    for tname, spec in cfg.checks.items():
        at = f"checks.{tname}"
        if tname not in tables:
            from crmpipe.config.schema import suggest

            raise CheckSpecError(f"{at}: unknown table {tname!r}{suggest(tname, tables)}")
        tbl = tables[tname]
        for col, entries in spec.columns.items():
            for i, entry in enumerate(entries):
                where = f"{at}.columns.{col}[{i}]"
                kind, raw = _entry(entry, where)
                if kind not in COLUMN_TYPES:
                    raise CheckSpecError(f"{where}: {kind} is a table check; put it under table:")
                out.append(_make(kind, _params(kind, raw, where), tbl, (col,), where, cfg))
        for i, entry in enumerate(spec.table):
            where = f"{at}.table[{i}]"
            kind, raw = _entry(entry, where)
            if kind not in TABLE_TYPES:
                raise CheckSpecError(f"{where}: {kind} is a column check; put it under columns:")
            p = _params(kind, raw, where)
            if kind == "expression" and not p.name:
                raise CheckSpecError(f"{where}.expression.name: required for an expression")
            out.append(_make(kind, p, tbl, (), where, cfg))
    names: set[tuple[str, str]] = set()
    for c in out:
        if (c.table, c.name) in names:
            raise CheckSpecError(f"checks.{c.table}: two checks are named {c.name!r}; add name:")
        names.add((c.table, c.name))
    return out


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


# --- SLAs --------------------------------------------------------------------------------------

#: metric → (comparison, unit, default target)
SLA_METRICS: dict[str, tuple[str, str, float]] = {
    "completeness": (">=", "%", 95.0),
    "validity": (">=", "%", 100.0),
    "consistency": (">=", "%", 100.0),
    "freshness": ("<=", "days", 30.0),
    "duplicate_rate": ("<", "%", 1.0),
}


@dataclass(frozen=True)
class Sla:
    """One service level: a metric of a table (and column), a target and a severity."""

    name: str
    metric: str
    table: str
    columns: tuple[str, ...]
    target: float
    severity: str
    origin: str = "config"

    @property
    def comparison(self) -> str:
        return SLA_METRICS[self.metric][0]

    @property
    def unit(self) -> str:
        return SLA_METRICS[self.metric][1]

    @property
    def column(self) -> str | None:
        return ", ".join(self.columns) if self.columns else None

    def passes(self, measured: float) -> bool:
        if self.comparison == ">=":
            return measured >= self.target - 1e-9
        if self.comparison == "<=":
            return measured <= self.target + 1e-9
        return measured < self.target


def declared_slas(cfg: Config) -> list[Sla]:
    """The project file's `slas:` list, checked against the tables and columns."""
    tables = cfg.tables()
    out: list[Sla] = []
    for i, s in enumerate(cfg.slas or []):
        at = f"slas[{i}]"
        if s.table not in tables:
            from crmpipe.config.schema import suggest

            raise CheckSpecError(f"{at}.table: unknown table {s.table!r}{suggest(s.table, tables)}")
        tbl = tables[s.table]
        cols = tuple(s.columns or ([s.column] if s.column else []))
        for c in cols:
            if c not in tbl.column_names:
                from crmpipe.config.schema import suggest

                raise CheckSpecError(
                    f"{at}.column: {c!r} is not a column of {s.table}{suggest(c, tbl.column_names)}"
                )
        if s.metric in ("completeness", "validity", "consistency") and len(cols) != 1:
            raise CheckSpecError(f"{at}.column: {s.metric} needs one column")
        if s.metric == "freshness":
            if len(cols) != 1:
                raise CheckSpecError(f"{at}.column: freshness needs a date or timestamp column")
            if tbl.column(cols[0]).role not in (Role.DATE, Role.TIMESTAMP):
                raise CheckSpecError(f"{at}.column: {cols[0]} is not a date or timestamp column")
        target = s.target if s.target is not None else SLA_METRICS[s.metric][2]
        name = s.name or "_".join((s.metric, s.table, *cols))
        out.append(Sla(name, s.metric, s.table, cols, float(target), s.severity))
    return out


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


def validate(cfg: Config) -> list[str]:
    """Problems with checks and SLAs, as one-line messages (empty when all is well)."""
    problems: list[str] = []
    for fn in (declared_checks, declared_slas):
        try:
            fn(cfg)
        except CheckSpecError as exc:
            problems.append(str(exc))
    return problems
