"""Marts: the analytics models of the sales-funnel case, one SQL file per model, built in order.

Medallion layers (docs/funnel.md): `staging.*`/`core.*` are the cleaned sources; intermediate
models are `marts.int_*`; the reports analysts read are `marts.rep_*`. Everything lives in the one
`marts` schema so a publish copies a single schema. Each `.sql` file here is a SELECT; its header
comments say what it needs:

    -- requires: deal_changes, activities   core tables; built only if one of them has rows
    -- uses: stages, fields                 core tables read if present (created empty if not)
    -- target: core.deals                   where to write (default marts.<file name>)
    -- unless_source: deals                 skipped when a source feeds that table

Dependencies between models are the `marts.<name>` they mention; a model whose dependency was
skipped is skipped too, and a skipped mart's stale table is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import duckdb

from crmpipe.config.schema import Config
from crmpipe.marts import jobs, leads
from crmpipe.marts.pii import mask_pii
from crmpipe.model import TABLES, duckdb_ddl
from crmpipe.quality.marts import check_marts, quarantine_mart_repeats
from crmpipe.quality.specs import mart_checks
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists

__all__ = ["MartModel", "build_marts", "load_models", "mart_tables"]

_HEADER = re.compile(r"^--\s*(requires|uses|target|unless_source|layer)\s*:\s*(.*?)\s*$", re.M)
_MART_REF = re.compile(r"\bmarts\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class MartModel:
    """One SQL model: its name, SQL text and what its header and body say it depends on."""

    name: str
    sql: str
    target: str
    layer: str
    requires: tuple[str, ...]
    uses: tuple[str, ...]
    depends: tuple[str, ...]
    unless_source: str | None = None

    @property
    def description(self) -> str:
        """The leading comment lines before the header keys: what the model holds."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--") or _HEADER.match(line):
                break
            lines.append(line[2:].strip())
        return " ".join(lines)


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def _parse(name: str, sql: str) -> MartModel:
    header = {key: value for key, value in _HEADER.findall(sql)}
    depends = tuple(sorted({d for d in _MART_REF.findall(sql) if d != name}))
    return MartModel(
        name=name,
        sql=sql,
        target=header.get("target") or f"marts.{name}",
        layer=header.get("layer", "mart"),
        requires=_names(header.get("requires", "")),
        uses=_names(header.get("uses", "")),
        depends=depends,
        unless_source=header.get("unless_source") or None,
    )


@cache
def load_models() -> tuple[MartModel, ...]:
    """Every model in this package's SQL files, in dependency order (ties by name)."""
    folder = resources.files(__package__)
    models = {
        f.name[:-4]: _parse(f.name[:-4], f.read_text(encoding="utf-8"))
        for f in folder.iterdir()
        if f.name.endswith(".sql")
    }
    ordered: list[MartModel] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"marts: dependency cycle {' -> '.join((*path, name))}")
        if name not in models:
            raise ValueError(f"marts: {path[-1]}.sql refers to unknown model marts.{name}")
        for dep in models[name].depends:
            visit(dep, (*path, name))
        done.add(name)
        ordered.append(models[name])

    for name in sorted(models):
        visit(name, ())
    return tuple(ordered)


def _has_rows(con: duckdb.DuckDBPyConnection, cfg: Config, table: str) -> bool:
    """Whether core.<table> is fed by a configured source and has rows."""
    if not cfg.sources_for(table) or not table_exists(con, "core", table):
        return False
    return con.execute(f"SELECT 1 FROM core.{quote_ident(table)} LIMIT 1").fetchone() is not None


def _ensure_core(con: duckdb.DuckDBPyConnection, cfg: Config, table: str) -> None:
    """An empty core table for an input the project has no source for (LEFT JOINs need it).

    A core table left from a source since removed from crmpipe.yml is emptied the same way:
    core is a function of the project file, so its stale rows must not reach a mart.
    """
    if not cfg.sources_for(table):
        con.execute(duckdb_ddl(cfg.tables().get(table, TABLES[table]), "core"))


def _qualified(target: str) -> str:
    schema, _, name = target.partition(".")
    return f"{schema}.{quote_ident(name)}"


def _needed(con: duckdb.DuckDBPyConnection, cfg: Config, models: tuple[MartModel, ...]) -> set[str]:
    """The models to build: those whose inputs have rows, and whatever they depend on.

    A model with `requires` runs when one of those tables has rows and every dependency can run;
    a model without (a seed, a lookup) runs only when a model that runs needs it.
    """
    by_name = {m.name: m for m in models}
    rows: dict[str, bool] = {}
    can: dict[str, bool] = {}

    def has_rows(table: str) -> bool:
        if table not in rows:
            rows[table] = _has_rows(con, cfg, table)
        return rows[table]

    def runnable(m: MartModel) -> bool:
        if m.name not in can:
            fed = m.unless_source is not None and bool(cfg.sources_for(m.unless_source))
            fed_inputs = not m.requires or any(has_rows(t) for t in m.requires)
            can[m.name] = not fed and fed_inputs and all(runnable(by_name[d]) for d in m.depends)
        return can[m.name]

    needed: set[str] = set()

    def need(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for d in by_name[name].depends:
                need(d)

    for m in models:
        if m.requires and runnable(m):
            need(m.name)
    return needed


def build_marts(
    con: duckdb.DuckDBPyConnection, cfg: Config, *, run_id: int | None = None
) -> list[tuple[str, int]]:
    """Mask PII, quarantine repeated activity ids, build every model, run the case's checks.

    Returns (table, rows) of each model built, e.g. ("marts.rep_sales_funnel_monthly", 165).
    Models whose inputs have no rows are skipped (and their old tables dropped), so a project
    without the sales-funnel sources pays nothing. Checks go to `meta.check_results` (origin
    `mart`).
    """
    con.execute("SET VARIABLE crmpipe_run_id = ?", [run_id])
    mask_pii(con, cfg)
    checks = mart_checks(cfg)
    quarantine_mart_repeats(con, checks, run_id)
    needed = _needed(con, cfg, load_models())
    built: list[tuple[str, int]] = []
    for model in load_models():
        if model.name not in needed:
            if model.target.startswith("marts."):
                con.execute(f"DROP TABLE IF EXISTS {_qualified(model.target)}")
            continue
        for table in (*model.requires, *model.uses):
            _ensure_core(con, cfg, table)
        target = _qualified(model.target)
        con.execute(f"CREATE OR REPLACE TABLE {target} AS\n{model.sql}")
        (rows,) = con.execute(f"SELECT count(*) FROM {target}").fetchone()
        built.append((model.target, int(rows)))
    if built:
        check_marts(con, checks, run_id)
    if leads.wanted(cfg) and table_exists(con, "core", "entities"):
        built.append((leads.LEADS, leads.build_leads(con, cfg)))
        built.append((leads.PROVENANCE, leads.provenance_rows(con)))
    else:
        leads.drop_leads(con)
    if jobs.wanted(con):
        built += jobs.build_job_marts(con, cfg)
    else:
        for table in jobs.TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return built


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables in the `marts` schema (what a publish copies besides the core tables)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]
