"""The project file's `enrich:` section: values crmpipe infers rather than reads
(docs/project-file.md).

`enrich.gender` turns on gender inference from first names (off by default): the tables it
lists get two columns, `gender_inferred` and `gender_confidence`, filled by
`crmpipe.build.gender` after resolution; a declared gender column is never written.
"""

from __future__ import annotations

from gender_guesser.detector import Detector
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crmpipe.model import Column, Role, Table

#: The columns gender inference adds to a table it is on for.
GENDER_INFERRED = "gender_inferred"
GENDER_CONFIDENCE = "gender_confidence"
GENDER_COLUMNS: tuple[Column, ...] = (
    Column(GENDER_INFERRED, Role.CATEGORY, description="male, female or unknown (inferred)"),
    Column(GENDER_CONFIDENCE, Role.NUMBER, description="how sure the name list is, 0-1"),
)
#: The column read as a declared gender when `declared` is left out and the table has it.
DEFAULT_DECLARED = "gender"

#: gender-guesser's country names (importing the module doesn't read its name list).
COUNTRIES = frozenset(Detector.COUNTRIES)


class GenderSpec(BaseModel):
    """Gender inferred from first names with gender-guesser's offline name list.

    `tables`: the tables (with a `first_name` column: customers, contacts) whose rows get
    `gender_inferred` and `gender_confidence`; empty (the default) turns inference off.
    `country`: read the list's figures for one country (`usa`, `great_britain`, ...) instead of
    all of them. `declared`: the column holding a declared gender (default `gender`, when the
    table has one): rows with a declared value are not inferred, and it is never written.
    """

    model_config = ConfigDict(extra="forbid")

    tables: list[str] = Field(default_factory=list)
    country: str | None = None
    declared: str | None = None

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in COUNTRIES:
            close = sorted(c for c in COUNTRIES if c[:2] == value[:2].lower())
            hint = f"; did you mean {close[0]!r}?" if close else "; e.g. 'usa', 'great_britain'"
            raise ValueError(f"{value!r} is not one of gender-guesser's countries{hint}")
        return value

    def declared_column(self, tbl: Table) -> str | None:
        """The declared gender column of `tbl`, if it has one."""
        name = self.declared or DEFAULT_DECLARED
        return name if name in tbl.column_names else None


class EnrichSpec(BaseModel):
    """Values inferred from the data: `gender` (docs/project-file.md#enrich)."""

    model_config = ConfigDict(extra="forbid")

    gender: GenderSpec = Field(default_factory=GenderSpec)


def enrich_problems(spec: EnrichSpec, tables: dict[str, Table], fed: set[str]) -> list[str]:
    """One-line problems of `enrich:` that pydantic can't see: unknown tables, tables without
    first names or without a source, a declared column the table lacks."""
    problems: list[str] = []
    gender = spec.gender
    for name in gender.tables:
        at = "enrich.gender.tables"
        if name not in tables:
            problems.append(f"{at}: unknown table {name!r}; gender is inferred for customers "
                            "or contacts")  # fmt: skip
        elif "first_name" not in tables[name].column_names:
            problems.append(f"{at}: {name} has no first_name column to infer a gender from")
        elif name not in fed:
            problems.append(f"{at}: no source maps onto {name}; add one or remove {name}")
        elif gender.declared is not None and gender.declared not in tables[name].column_names:
            problems.append(
                f"enrich.gender.declared: {name} has no column {gender.declared!r}; declare it "
                f"as an extension column (sources.<name>.extra.{gender.declared}: category)"
            )
    return problems
