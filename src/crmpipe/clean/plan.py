"""How a role is cleaned, as a chain of SQL levels, and the two ways of running the chain.

DuckDB neither shares a common subexpression between the branches of a CASE nor lets a macro
bind a local name, so an intermediate that is used more than once (a trimmed value, a regex
match, a parsed timestamp) must be computed in one level and referenced by name in the next:

- `stacked_select` runs the levels of many columns as stacked projections over a relation (the
  fast path `clean_relation` and `build_phone_lookup` use);
- `public_macro` wraps the same levels in a scalar subquery correlated on the macro's argument:
  that is what the public one-argument `crm_*` macros are, identical in result and usable
  anywhere in SQL (except inside a lambda, where DuckDB allows no subquery).
"""

from __future__ import annotations

from dataclasses import dataclass

Level = tuple[tuple[str, str], ...]

#: The levels every role starts with: `w` = the trimmed raw text, `v` = the same or NULL for a
#: null token (see nulls.py). Templates can also use `{raw}`.
PREFIX_LEVELS: tuple[Level, ...] = (
    (("w", "crm_trim_t({raw})"),),
    (("v", "crm_null_w({w})"),),
)


@dataclass(frozen=True)
class Plan:
    """The SQL levels that clean one role, after the common prefix (`{raw}`, `{w}`, `{v}`).

    `levels` is a tuple of levels; each level is a tuple of `(alias, template)` pairs. A template
    may reference `{raw}`, `{w}`, `{v}` and any alias of an earlier level as `{alias}` (and
    write a literal brace as `{{`).
    """

    levels: tuple[Level, ...]
    #: alias holding the cleaned value (or "v" when the role is just trimming).
    value: str
    #: (column suffix, alias) of companion columns, e.g. ("_ext", "ext") for phones.
    companions: tuple[tuple[str, str], ...] = ()
    #: issue code recorded when a present value fails; None when the role cannot fail.
    code: str | None = None
    #: alias of a BOOLEAN that is true when a present value failed; None means "value IS NULL".
    failed: str | None = None
    #: alias of the key to look up in a Python-computed table (phones), NULL when not needed.
    lookup_key: str | None = None

    @property
    def all_levels(self) -> tuple[Level, ...]:
        return PREFIX_LEVELS + self.levels

    @property
    def aliases(self) -> list[str]:
        return ["raw"] + [alias for level in self.all_levels for alias, _ in level]


def column_ref(prefix: str, alias: str) -> str:
    """Name of the column holding `alias` of the column `prefix` in a stacked select."""
    return f"{prefix}_{alias}"


def fill(template: str, prefix: str, plan: Plan) -> str:
    """`template` with every alias of `plan` replaced by its stacked-select column name."""
    return template.format(**{a: column_ref(prefix, a) for a in plan.aliases})


def stacked_select(base_sql: str, keep: list[str], columns: list[tuple[str, str, Plan]]) -> str:
    """SELECT `keep` and every alias of every column's plan, one projection level per plan level.

    `columns` holds (prefix, raw SQL expression over `base_sql`, plan); alias `a` of a column
    comes out as `<prefix>_<a>`. Levels of different columns run side by side.
    """
    items = list(keep) + [
        f"CAST({raw} AS VARCHAR) AS {column_ref(p, 'raw')}" for p, raw, _ in columns
    ]
    sql = f"SELECT {', '.join(items)} FROM ({base_sql}) AS crm_base_"
    depth = max((len(plan.all_levels) for _, _, plan in columns), default=0)
    for k in range(depth):
        exprs = [
            f"{fill(template, p, plan)} AS {column_ref(p, alias)}"
            for p, _, plan in columns
            if k < len(plan.all_levels)
            for alias, template in plan.all_levels[k]
        ]
        if exprs:
            sql = f"SELECT *, {', '.join(exprs)} FROM ({sql}) AS crm_level{k}_"
    return sql


def public_macro(name: str, plan: Plan, output: str | None = None) -> str:
    """CREATE statement of the one-argument macro `name(x)` computing `output` (default: value).

    The body is a scalar subquery over the stacked levels, correlated on `x`: DuckDB binds it in
    linear time and runs it by de-duplicating `x`, cleaning each distinct value once and joining
    back. (Nesting single-element lambdas as "let"s instead binds in exponential time.)
    """
    out = fill(output or "{" + plan.value + "}", "p", plan)
    levels = stacked_select("SELECT x AS crm_in_", [], [("p", "crm_base_.crm_in_", plan)])
    return f"CREATE OR REPLACE TEMP MACRO {name}(x) AS (SELECT {out} FROM ({levels}))"
