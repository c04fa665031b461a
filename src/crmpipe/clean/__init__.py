"""Standardize raw VARCHAR values by field role, as DuckDB SQL macros over whole relations.

Each role family has its module (`nulls`, `emails`, `phones`, `names`, `places`, `dates`,
`numbers`) defining `crm_*` helper macros and a `Plan` (the cleaning as SQL levels, see
`plan.py`). `clean_relation` runs the plans of all columns over a raw table in one pass,
recording an issue for every present value that fails its role; the one-argument public macros
(`SELECT crm_state('Calif.')`, one per role, see MACRO_FOR_ROLE) run the same plans for ad-hoc
SQL. Python (phonenumbers) only sees the distinct phone values the SQL fast path cannot decide.
"""

from crmpipe.clean.macros import MACRO_FOR_ROLE, MACROS, clean_value, install_macros
from crmpipe.clean.nulls import NULL_TOKENS
from crmpipe.clean.phones import build_phone_lookup, is_nanp_region, parse_phone
from crmpipe.clean.relation import ColumnSpec, clean_relation, companion_suffixes, plan_for

__all__ = [
    "MACROS",
    "MACRO_FOR_ROLE",
    "NULL_TOKENS",
    "ColumnSpec",
    "build_phone_lookup",
    "clean_relation",
    "clean_value",
    "companion_suffixes",
    "install_macros",
    "is_nanp_region",
    "parse_phone",
    "plan_for",
]
