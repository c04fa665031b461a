"""Check and SLA parameters: the project file's `checks:` and `slas:` entries validated into
`Check` and `Sla` objects (docs/quality.md).

Each check type has a pydantic model of its parameters; a wrong entry becomes one
`CheckSpecError` line naming its key, which the loader reports as a `ConfigError`. The checks
derived from the model (defaults) are added by crmpipe.quality.specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from crmpipe.config.expression import CheckSpecError, validate_expression, validate_regex
from crmpipe.config.schema import Config
from crmpipe.config.suggest import suggest
from crmpipe.model import Role, Table

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
            fields = [f for f in CHECK_TYPES[kind].model_fields]
            return_msg = f"{key}: unknown parameter{suggest(str(e['loc'][-1]), fields)}"
            raise CheckSpecError(return_msg) from None
        if e["type"] == "missing":
            raise CheckSpecError(f"{key}: required parameter is missing") from None
        msg = e["msg"].removeprefix("Value error, ")
        raise CheckSpecError(f"{key}: {msg}") from None


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
            raise CheckSpecError(f"{at}: {c!r} is not a column of {tbl.name}{suggest(c, known)}")
    if kind == "relationship":
        target, _, target_col = str(params["to"]).partition(".")
        tables = cfg.tables()
        if target not in tables:
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
        validate_regex(params["pattern"], f"{at}.regex.pattern")
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
            raise CheckSpecError(f"{at}.table: unknown table {s.table!r}{suggest(s.table, tables)}")
        tbl = tables[s.table]
        cols = tuple(s.columns or ([s.column] if s.column else []))
        for c in cols:
            if c not in tbl.column_names:
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


def validate(cfg: Config) -> list[str]:
    """Problems with checks and SLAs, as one-line messages (empty when all is well)."""
    problems: list[str] = []
    for fn in (declared_checks, declared_slas):
        try:
            fn(cfg)
        except CheckSpecError as exc:
            problems.append(str(exc))
    return problems
