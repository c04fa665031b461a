"""Entity resolution: duplicate records of a canonical table become golden records.

The flow (docs/resolve.md): `features` prepares normalized comparison columns from the model's
roles, `prepass` links the obvious pairs (same email or phone at the same entity) in SQL,
`scoring` has Splink (Fellegi–Sunter on DuckDB) score the rest, `clusters` takes connected
components at the threshold, `ids` keeps golden ids stable across runs, `survivorship` builds
one row per cluster with lineage, `evaluate` and `explain` say how well and why.
"""
