"""The `sync:` section of crmpipe.yml: HTTP APIs that `crmpipe sync TARGET` pushes store rows to.

A target names a store table and its key, the payload's fields (each an expression over the
row's columns, checked by DuckDB's parser like an `expression` check), where to send it and how
(batch size, rate limit, retries). docs/sync.md describes every key.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmpipe.config.expression import validate_expression

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncAuthSpec(_Strict):
    """A header whose value is read from an environment variable when the sync starts (never
    written in the project file): `{header: Authorization, env: CRM_TOKEN, prefix: "Bearer "}`."""

    header: str = "Authorization"
    env: str = Field(min_length=1)
    prefix: str = ""


class SyncRetrySpec(_Strict):
    """Waits between attempts after a 429, a 5xx or a connection error: one retry per entry
    (the default 1, 2, 4, 8 s: five attempts in all). A `Retry-After` header replaces the wait,
    up to `max_retry_after` seconds."""

    delays: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    max_retry_after: float = Field(default=60.0, ge=0)

    @field_validator("delays")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(d < 0 for d in value):
            raise ValueError("delays must be >= 0 seconds")
        return value


class SyncRateSpec(_Strict):
    """At most `requests` requests in any `per_seconds` (requests are spaced evenly)."""

    requests: int = Field(ge=1)
    per_seconds: float = Field(default=1.0, gt=0)


class SyncReferenceSpec(_Strict):
    """A payload field filled with the id another target's API returned for a record: the
    record of `target` whose key is this row's `key` column (Pipedrive: a deal's person_id)."""

    target: str
    key: str


class SyncTargetSpec(_Strict):
    """One API a store table is pushed to."""

    base_url: str = Field(min_length=1)
    endpoint: str = ""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    auth: SyncAuthSpec | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    table: str
    key: str
    where: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    references: dict[str, SyncReferenceSpec] = Field(default_factory=dict)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    batch_field: str | None = None
    idempotency_header: str = "Idempotency-Key"
    idempotency_field: str = "idempotency_key"
    id_path: str | None = None
    rate_limit: SyncRateSpec | None = None
    retry: SyncRetrySpec = Field(default_factory=SyncRetrySpec)
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("table", "key")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a table or column name")
        return value

    @model_validator(mode="after")
    def _expressions(self) -> SyncTargetSpec:
        if self.where:
            validate_expression(self.where, "where")
        for name, expr in self.fields.items():
            validate_expression(expr, f"fields.{name}")
        clash = set(self.fields) & set(self.references)
        if clash:
            raise ValueError(f"{sorted(clash)[0]!r} is both a field and a reference")
        return self

    @property
    def qualified_table(self) -> str:
        """`schema.table`; a bare name is a core table (golden records)."""
        return self.table if "." in self.table else f"core.{self.table}"

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + (
            "/" + self.endpoint.lstrip("/") if self.endpoint else ""
        )


class SyncSpec(_Strict):
    targets: dict[str, SyncTargetSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_known(self) -> SyncSpec:
        for name, target in self.targets.items():
            for field, ref in target.references.items():
                if ref.target not in self.targets:
                    raise ValueError(f"targets.{name}.references.{field}: no target {ref.target!r}")
                if ref.target == name:
                    raise ValueError(f"targets.{name}.references.{field}: refers to itself")
        return self
