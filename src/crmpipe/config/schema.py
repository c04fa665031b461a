"""The project file `crmpipe.yml`: parsed, `${ENV}`-substituted and validated (DESIGN §5).

Every mistake becomes one `ConfigError` line naming the file, the key path and, for a misspelt
key or name, the closest valid choice, so a user never sees a pydantic traceback.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crmpipe.errors import CrmpipeError
from crmpipe.model import EXTENSION_TYPES, TABLES, Column, Table

DEFAULT_FILE = "crmpipe.yml"


class ConfigError(CrmpipeError):
    """A problem with the project file, as one line a user can act on."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FormatSpec(_Strict):
    """How to read a source's CSV files; anything left out is sniffed from the file."""

    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    encoding: str | None = None
    header: bool = True

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is None:
            return v
        norm = v.lower().replace("_", "-")
        aliases = {
            "utf8": "utf-8",
            "latin1": "latin-1",
            "iso-8859-1": "latin-1",
            "cp1252": "latin-1",
        }
        norm = aliases.get(norm, norm)
        if norm not in ("utf-8", "latin-1", "utf-16"):
            raise ValueError(f"unsupported encoding {v!r}; use utf-8, latin-1 or utf-16")
        return norm


class ExtraSpec(_Strict):
    """An extension column: its type and, when the header differs from the name, the header."""

    type: str
    column: str | None = None


class SourceSpec(_Strict):
    """One source: files matching `path`, mapped onto one canonical table."""

    path: str
    table: str
    columns: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, str | ExtraSpec] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    format: FormatSpec = Field(default_factory=FormatSpec)

    def extension_columns(self) -> dict[str, ExtraSpec]:
        """Extension columns with their specs normalised (`name: type` → ExtraSpec)."""
        return {
            name: spec if isinstance(spec, ExtraSpec) else ExtraSpec(type=spec)
            for name, spec in self.extra.items()
        }


class SearchSpec(_Strict):
    aliases: dict[str, str] = Field(default_factory=dict)
    shorthands: dict[str, str] = Field(default_factory=dict)
    limit: int = 50
    count_cap: int = 10_000


class PublishSpec(_Strict):
    postgres: str | None = None
    keep_versions: int = 2


class MartsSpec(_Strict):
    """The analytics marts (docs/funnel.md): how users' PII is masked outside the raw layer.

    `pii`: `initials` ("A*** G***", "a***@example.org"), `hash` (16 hex digits of SHA-256, salted
    with `pii_salt` so common names can't be looked up) or `none` (keep the values).
    """

    pii: Literal["initials", "hash", "none"] = "initials"
    pii_salt: str | None = None


class TableChecksSpec(_Strict):
    """Checks of one table (docs/quality.md): per column, and on the whole table.

    Each entry is a check name (`not_null`) or a one-key mapping of its parameters
    (`{accepted_values: {values: [a, b], severity: warn}}`); crmpipe.quality.specs validates them.
    """

    columns: dict[str, list[str | dict[str, Any]]] = Field(default_factory=dict)
    table: list[str | dict[str, Any]] = Field(default_factory=list)


class SlaSpec(_Strict):
    """One data-quality SLA: a metric of a table (and column) against a target."""

    name: str | None = None
    metric: Literal["completeness", "validity", "consistency", "freshness", "duplicate_rate"]
    table: str
    column: str | None = None
    columns: list[str] | None = None  # duplicate_rate: the natural key (default: the table key)
    target: float | None = None  # % for rates, days for freshness; default per metric
    severity: Literal["warn", "error"] = "error"


class AlertsSpec(_Strict):
    """Where alerts go: a webhook URL receiving Slack-compatible JSON (docs/quality.md)."""

    webhook: str | None = None
    retries: int = Field(default=3, ge=0, le=10)
    timeout: float = Field(default=5.0, gt=0)
    backoff: float = Field(default=0.5, ge=0)


#: Survivorship rules a golden-record column can use (docs/resolve.md).
SURVIVORSHIP_RULES = ("most_recent", "most_frequent", "most_complete", "source_priority")
#: Comparison kinds a column can be given instead of the one its role implies (or `off`).
COMPARISON_KINDS = ("name", "text", "exact", "email", "phone", "date", "off")
#: Tables resolved when the project file says nothing (issue 5: contacts on by default).
RESOLVED_BY_DEFAULT = ("contacts",)


class ResolveSpec(_Strict):
    """Entity resolution of one table (docs/resolve.md).

    `threshold`: match probability at which two records are the same thing. `blocking`: SQL
    conditions on `l.`/`r.` columns replacing the derived blocking rules. `comparisons`:
    column → comparison kind, overriding the role's (or `off`). `survivorship`: column → rule
    for the golden record; `source_priority` orders sources for the `source_priority` rule.
    """

    enabled: bool | None = None  # None: the table's default (RESOLVED_BY_DEFAULT)
    threshold: float = Field(default=0.9, gt=0, lt=1)
    blocking: list[str] | None = None
    comparisons: dict[str, Literal[COMPARISON_KINDS]] = Field(default_factory=dict)  # type: ignore[valid-type]
    survivorship: dict[str, Literal[SURVIVORSHIP_RULES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    source_priority: list[str] = Field(default_factory=list)
    train: bool = True


class Config(_Strict):
    """The whole project file. `path` is where it was read from; relative paths start there."""

    warehouse: str = ".crmpipe/warehouse.duckdb"
    region: str = "US"
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    search: SearchSpec = Field(default_factory=SearchSpec)
    publish: PublishSpec = Field(default_factory=PublishSpec)
    marts: MartsSpec = Field(default_factory=MartsSpec)
    checks: dict[str, TableChecksSpec] = Field(default_factory=dict)
    default_checks: bool = True
    slas: list[SlaSpec] | None = None  # None: the default SLAs (checkspecs.default_slas)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    resolve: dict[str, ResolveSpec] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def warehouse_path(self) -> Path:
        p = Path(self.warehouse)
        return p if p.is_absolute() else self.base_dir / p

    def tables(self) -> dict[str, Table]:
        """The canonical tables, each widened with the extension columns its sources declare."""
        out = dict(TABLES)
        for src in self.sources.values():
            ext = tuple(
                Column(name, EXTENSION_TYPES[spec.type.lower()])
                for name, spec in src.extension_columns().items()
            )
            out[src.table] = out[src.table].with_extensions(ext)
        return out

    def resolve_spec(self, table: str) -> ResolveSpec:
        """How `table` is resolved: its `resolve:` entry, else the defaults."""
        spec = self.resolve.get(table, ResolveSpec())
        if spec.enabled is None:
            spec = spec.model_copy(update={"enabled": table in RESOLVED_BY_DEFAULT})
        return spec

    def resolved_tables(self) -> list[str]:
        """Tables with a source whose resolution is on, in build order."""
        return [t for t in self.tables() if self.sources_for(t) and self.resolve_spec(t).enabled]

    def sources_for(self, table: str) -> dict[str, SourceSpec]:
        return {n: s for n, s in self.sources.items() if s.table == table}


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(value: Any) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; an unset variable becomes ''."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: substitute_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v) for v in value]
    return value


def suggest(word: str, choices: list[str] | set[str]) -> str:
    """' — did you mean X?' for the closest choice, or the list of choices when none is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if close:
        return " — did you mean " + " or ".join(repr(c) for c in close) + "?"
    return " — expected one of: " + ", ".join(choices) if choices else ""


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _model_fields(model: type[BaseModel]) -> list[str]:
    return [n for n in model.model_fields if n != "path"]


def _explain(err: dict[str, Any], data: dict[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if p not in ("str", "ExtraSpec"))
    where = _loc(loc)
    if err["type"] == "extra_forbidden":
        owner = _owner_model(loc[:-1])
        return f"{where}: unknown key{suggest(str(loc[-1]), _model_fields(owner))}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {err['msg']}"


def _owner_model(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The pydantic model that holds the key at `loc` (for 'did you mean' suggestions)."""
    if not loc:
        return Config
    if loc[0] == "sources":
        if len(loc) == 2:
            return SourceSpec
        if len(loc) >= 3 and loc[2] == "format":
            return FormatSpec
        if len(loc) >= 3 and loc[2] == "extra":
            return ExtraSpec
        return SourceSpec
    if loc[0] == "checks" and len(loc) >= 2:
        return TableChecksSpec
    if loc[0] == "resolve" and len(loc) >= 2:
        return ResolveSpec
    return {
        "search": SearchSpec,
        "publish": PublishSpec,
        "marts": MartsSpec,
        "slas": SlaSpec,
        "alerts": AlertsSpec,
    }.get(loc[0], Config)


def _check_semantics(cfg: Config) -> list[str]:
    """Checks pydantic can't express: table names, canonical columns, extension types."""
    problems: list[str] = []
    for name, src in cfg.sources.items():
        at = f"sources.{name}"
        if src.table not in TABLES:
            problems.append(f"{at}.table: unknown table {src.table!r}{suggest(src.table, TABLES)}")
            continue
        canonical = set(TABLES[src.table].column_names)
        for col in list(src.columns) + list(src.constants):
            if col not in canonical:
                problems.append(
                    f"{at}.columns.{col}: not a column of table {src.table}"
                    f"{suggest(col, canonical)}"
                    " (source-specific fields go under 'extra')"
                )
        for col, spec in src.extension_columns().items():
            if col in canonical:
                problems.append(f"{at}.extra.{col}: is a canonical column; map it under 'columns'")
            if spec.type.lower() not in EXTENSION_TYPES:
                problems.append(
                    f"{at}.extra.{col}: unknown type {spec.type!r}"
                    f"{suggest(spec.type, EXTENSION_TYPES)}"
                )
        if not src.path.strip():
            problems.append(f"{at}.path: is empty")
    for table, spec in cfg.resolve.items():
        at = f"resolve.{table}"
        if table not in ("contacts", "entities"):
            problems.append(
                f"{at}: only contacts and entities are resolved"
                + suggest(table, ["contacts", "entities"])
            )
            continue
        columns = set(cfg.tables()[table].column_names)
        for key in ("comparisons", "survivorship"):
            for col in getattr(spec, key):
                if col not in columns:
                    problems.append(
                        f"{at}.{key}.{col}: not a column of {table}{suggest(col, columns)}"
                    )
        for src in spec.source_priority:
            if src not in cfg.sources:
                problems.append(
                    f"{at}.source_priority: unknown source {src!r}{suggest(src, cfg.sources)}"
                )
        for rule in spec.blocking or []:
            if "l." not in rule or "r." not in rule:
                problems.append(f"{at}.blocking: {rule!r} must compare l.<column> with r.<column>")
    # One extension column may be declared by several sources, but with one type.
    seen: dict[tuple[str, str], str] = {}
    for name, src in cfg.sources.items():
        for col, spec in src.extension_columns().items():
            key = (src.table, col)
            role = EXTENSION_TYPES.get(spec.type.lower())
            if key in seen and role is not None and seen[key] != role:
                problems.append(f"sources.{name}.extra.{col}: type differs from another source's")
            if role is not None:
                seen[key] = role
    if not problems:
        from crmpipe.quality.specs import validate

        problems += validate(cfg)
    return problems


def parse_config(text: str, path: Path | None = None) -> Config:
    """Validate project-file text; raise ConfigError('FILE: key: problem — did you mean ...')."""
    label = str(path) if path else DEFAULT_FILE
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{label}:{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of keys (warehouse, sources, ...)")
    data = substitute_env(data)
    publish = data.get("publish")
    if isinstance(publish, dict) and publish.get("postgres") == "":
        publish["postgres"] = None  # ${CRMPIPE_PG_DSN} unset: publishing is off
    alerts = data.get("alerts")
    if isinstance(alerts, dict) and alerts.get("webhook") == "":
        alerts["webhook"] = None  # ${CRMPIPE_WEBHOOK} unset: alerts are off
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{label}: {_explain(first, data)}{tail}") from None
    problems = _check_semantics(cfg)
    if problems:
        more = len(problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{label}: {problems[0]}{tail}")
    cfg.path = path.resolve() if path else None
    return cfg


def load_config(path: Path | str | None = None) -> Config:
    """Read the project file (default ./crmpipe.yml); a missing file says how to make one."""
    p = Path(path) if path else Path(DEFAULT_FILE)
    if p.is_dir():
        p = p / DEFAULT_FILE
    if not p.exists():
        raise ConfigError(
            f"{p}: no project file here; run 'crmpipe init DIR' to write one, or pass --config PATH"
        )
    return parse_config(p.read_text(encoding="utf-8"), p)
