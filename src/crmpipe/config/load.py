"""Reading the project file: YAML parsed, `${ENV}` substituted, validated into a `Config`.

Every mistake becomes one `ConfigError` line naming the file, the key path and, for a misspelt
key or name, the closest valid choice, so a user never sees a pydantic traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crmpipe.config.checks import validate
from crmpipe.config.enrich import EnrichSpec, GenderSpec, enrich_problems
from crmpipe.config.schema import (
    RESOLVABLE,
    AlertsSpec,
    ApiKeySpec,
    Config,
    ExtraSpec,
    FeedSpec,
    FormatSpec,
    JobsMartSpec,
    LeadsSpec,
    LocalIdsSpec,
    Mapping,
    MartsSpec,
    PublishSpec,
    RateLimitSpec,
    ResolveSpec,
    SearchSpec,
    ServeSpec,
    SlaSpec,
    SourceSpec,
    TableChecksSpec,
)
from crmpipe.config.suggest import suggest
from crmpipe.errors import CrmpipeError
from crmpipe.model import EXTENSION_TYPES, TABLES

DEFAULT_FILE = "crmpipe.yml"


class ConfigError(CrmpipeError):
    """A problem with the project file, as one line a user can act on."""


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
        if len(loc) >= 3 and loc[2] == "local_ids":
            return LocalIdsSpec
        if len(loc) >= 3 and loc[2] == "extra":
            return ExtraSpec
        if len(loc) >= 4 and loc[2] == "feeds":
            return ExtraSpec if len(loc) >= 5 and loc[4] == "extra" else FeedSpec
        return SourceSpec
    if loc[0] == "marts" and len(loc) >= 3 and loc[1] == "leads":
        return LeadsSpec
    if loc[0] == "marts" and len(loc) >= 3 and loc[1] == "jobs":
        return JobsMartSpec
    if loc[0] == "enrich":
        return GenderSpec if len(loc) >= 3 and loc[1] == "gender" else EnrichSpec
    if loc[0] == "checks" and len(loc) >= 2:
        return TableChecksSpec
    if loc[0] == "resolve" and len(loc) >= 2:
        return ResolveSpec
    if loc[0] == "serve" and len(loc) >= 2:
        return {"keys": ApiKeySpec, "rate_limit": RateLimitSpec}.get(str(loc[1]), ServeSpec)
    return {
        "search": SearchSpec,
        "publish": PublishSpec,
        "marts": MartsSpec,
        "slas": SlaSpec,
        "alerts": AlertsSpec,
        "serve": ServeSpec,
    }.get(loc[0], Config)


#: `processor:` names a function as `package.module:function`.
PROCESSOR_PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _mapping_problems(at: str, table: str, mapping: Mapping) -> list[str]:
    """Columns of one mapping that are not the table's, and extension columns that are."""
    problems: list[str] = []
    canonical = set(TABLES[table].column_names)
    for col in list(mapping.columns) + list(mapping.constants):
        if col not in canonical:
            problems.append(
                f"{at}.columns.{col}: not a column of table {table}"
                f"{suggest(col, canonical)}"
                " (source-specific fields go under 'extra')"
            )
    for col, spec in mapping.extension_columns().items():
        if col in canonical:
            problems.append(f"{at}.extra.{col}: is a canonical column; map it under 'columns'")
        if spec.type.lower() not in EXTENSION_TYPES:
            problems.append(
                f"{at}.extra.{col}: unknown type {spec.type!r}{suggest(spec.type, EXTENSION_TYPES)}"
            )
    return problems


def _local_problems(at: str, src: SourceSpec) -> list[str]:
    """`local_ids` naming columns the source doesn't map; `standardize` of unmapped columns."""
    problems: list[str] = []
    if src.local_ids is not None:
        for col in src.local_ids.columns:
            if col not in src.columns:
                problems.append(f"{at}.local_ids.columns: {col!r} is not mapped under 'columns'")
    for col, values in src.standardize.items():
        if col not in src.columns:
            problems.append(f"{at}.standardize.{col}: not mapped under 'columns'")
        if not values:
            problems.append(f"{at}.standardize.{col}: declare at least one value")
    return problems


def _check_semantics(cfg: Config) -> list[str]:
    """Checks pydantic can't express: table names, canonical columns, extension types."""
    problems: list[str] = []
    for name, src in cfg.sources.items():
        at = f"sources.{name}"
        if src.table not in TABLES:
            problems.append(f"{at}.table: unknown table {src.table!r}{suggest(src.table, TABLES)}")
            continue
        for table, mapping in src.mappings().items():
            where = at if table == src.table else f"{at}.feeds.{table}"
            if table not in TABLES:
                problems.append(f"{where}: unknown table {table!r}{suggest(table, TABLES)}")
                continue
            if table == src.table and mapping is not src:
                problems.append(f"{where}: is the source's own table; map it under 'columns'")
            problems += _mapping_problems(where, table, mapping)
        problems += _local_problems(at, src)
        if src.processor is not None and not PROCESSOR_PATTERN.fullmatch(src.processor):
            problems.append(f"{at}.processor: {src.processor!r} is not package.module:function")
        if not src.path.strip():
            problems.append(f"{at}.path: is empty")
    for table, spec in cfg.resolve.items():
        at = f"resolve.{table}"
        if table not in RESOLVABLE:
            problems.append(
                f"{at}: only {', '.join(RESOLVABLE)} are resolved" + suggest(table, RESOLVABLE)
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
    leads = cfg.marts.leads
    for key, listed in (("crm", leads.crm or []), ("source_priority", leads.source_priority)):
        for src in listed:
            if src not in cfg.sources:
                problems.append(
                    f"marts.leads.{key}: unknown source {src!r}{suggest(src, cfg.sources)}"
                )
    names = [key.name for key in cfg.serve.keys]
    hashes = [key.hash for key in cfg.serve.keys]
    for i, key in enumerate(cfg.serve.keys):
        if key.name in names[:i]:
            problems.append(f"serve.keys.{i}.name: {key.name!r} names another key too")
        elif key.hash in hashes[:i]:
            problems.append(f"serve.keys.{i}.hash: key {key.name!r} has another key's hash")
    # One extension column may be declared by several sources, but with one type.
    seen: dict[tuple[str, str], str] = {}
    for name, src in cfg.sources.items():
        for table, mapping in src.mappings().items():
            for col, spec in mapping.extension_columns().items():
                key = (table, col)
                role = EXTENSION_TYPES.get(spec.type.lower())
                if key in seen and role is not None and seen[key] != role:
                    where = "" if table == src.table else f".feeds.{table}"
                    problems.append(
                        f"sources.{name}{where}.extra.{col}: type differs from another source's"
                    )
                if role is not None:
                    seen[key] = role
    if not problems:
        problems += enrich_problems(cfg.enrich, cfg.tables(), set(cfg.fed_tables()))
    if not problems:
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
