"""The project file's shape: one pydantic model per section of `crmpipe.yml` (docs/project-file.md).

Reading the file, `${ENV}` substitution and the one-line errors are in crmpipe.config.load; the
check and SLA entries are validated by crmpipe.config.checks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmpipe.config.enrich import GENDER_COLUMNS, GENDER_INFERRED, EnrichSpec
from crmpipe.config.sync import SyncSpec
from crmpipe.model import EXTENSION_TYPES, TABLES, Column, Table


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


class Mapping(_Strict):
    """Headers mapped onto one canonical table: its columns, extension columns and constants."""

    columns: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, str | ExtraSpec] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # column → its declared values: each value is standardised to the declared one it spells
    # (case, punctuation, a suffix or a typo apart); others are NULLed with an issue.
    standardize: dict[str, list[str]] = Field(default_factory=dict)

    def extension_columns(self) -> dict[str, ExtraSpec]:
        """Extension columns with their specs normalised (`name: type` → ExtraSpec)."""
        return {
            name: spec if isinstance(spec, ExtraSpec) else ExtraSpec(type=spec)
            for name, spec in self.extra.items()
        }


class LocalIdsSpec(_Strict):
    """Ids that are unique only within a part of the source (a branch's customer numbers):
    `columns` (canonical columns: the key, references) are prefixed `<by>:` with the value of
    header or file field `by`, so `customers_b07.csv`'s customer 1001 is `b07:1001`."""

    by: str
    columns: list[str] = Field(min_length=1)


class FeedSpec(Mapping):
    """A further canonical table fed by the same source rows (docs/childcare.md): a facility
    list's row also gives a contact, a license, an address and a schedule. The table's
    reference to the source's own table and, when not mapped, its key are the source row's key.
    """


#: How a source's files feed the product: every file, or only the newest dated drop (the
#: others stay in raw as history).
DROP_POLICIES = ("all", "newest")


class SourceSpec(Mapping):
    """One source: files matching `path`, mapped onto one canonical table (and, under `feeds`,
    onto further tables from the same rows).

    `drops: newest`: the files are dated drops of one list (`source_1_20241101.csv`); only the
    newest feeds the product. `processor: package.module:function` reshapes the raw rows (a
    DuckDB relation in, one out) before the mapping applies.
    """

    path: str
    table: str
    feeds: dict[str, FeedSpec] = Field(default_factory=dict)
    drops: Literal[DROP_POLICIES] = "all"  # type: ignore[valid-type]
    processor: str | None = None
    format: FormatSpec = Field(default_factory=FormatSpec)
    # name → a regular expression over the file name whose first group is a value every row of
    # the file gets, usable like a header (`{branch: 'customers_(.+)\\.csv'}`)
    file_fields: dict[str, str] = Field(default_factory=dict)
    local_ids: LocalIdsSpec | None = None

    @field_validator("file_fields")
    @classmethod
    def _one_group(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                groups = re.compile(pattern).groups
            except re.error as exc:
                raise ValueError(
                    f"{name}: {pattern!r} is not a regular expression: {exc}"
                ) from None
            if groups != 1:
                raise ValueError(f"{name}: {pattern!r} needs exactly one (group), has {groups}")
        return value

    def mappings(self) -> dict[str, Mapping]:
        """Every table this source feeds → its mapping; the source's own table first."""
        return {self.table: self, **self.feeds}


class Feed(BaseModel):
    """One source's mapping onto one table: `primary` when it is the source's own table."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: str
    spec: SourceSpec
    mapping: Mapping
    primary: bool


class SearchSpec(_Strict):
    aliases: dict[str, str] = Field(default_factory=dict)
    shorthands: dict[str, str] = Field(default_factory=dict)
    limit: int = 50
    count_cap: int = 10_000
    #: An incremental run updates a search table in place unless more than this share of its
    #: rows changed; then it rebuilds it (docs/project-file.md).
    rebuild_share: float = Field(default=0.2, ge=0, le=1)


#: Tables whose golden rows the audit trail follows by default (docs/audit.md); tables a
#: build doesn't publish are skipped.
DEFAULT_AUDITED = ["contacts", "customers", "entities"]


class PublishSpec(_Strict):
    """Publishing to PostgreSQL (docs/postgres.md). `audit`: the tables whose golden rows are
    recorded in the audit trail at each publish and rollback (docs/audit.md); `[]` turns it
    off."""

    postgres: str | None = None
    keep_versions: int = 2
    #: A publish sends only the changed rows into the serving version, in one transaction,
    #: when at most this share of the published rows changed since it was published; above
    #: it (or with `crmpipe publish --full`), a full versioned rebuild. 0: always rebuild.
    incremental_share: float = Field(default=0.1, ge=0, le=1)
    audit: list[str] = Field(default_factory=lambda: list(DEFAULT_AUDITED))

    @field_validator("audit")
    @classmethod
    def _audit_names(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not n.isidentifier() or n != n.lower()]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not a table name; list the golden tables to audit, e.g. "
                f"[{', '.join(DEFAULT_AUDITED)}]"
            )
        return v


class LeadsSpec(_Strict):
    """The childcare case's leads product (docs/childcare.md).

    `crm`: the sources that are the CRM's existing leads (default: sources whose name says
    salesforce, hubspot, crm or lead). `source_priority`: sources in the order their values win
    each column; sources not listed, and ties, fall back to the newest non-null value.
    """

    crm: list[str] | None = None
    source_priority: list[str] = Field(default_factory=list)


class JobsMartSpec(_Strict):
    """The mover case's job marts (docs/movers.md): two jobs of one golden customer with the
    same origin and destination are one move booked twice when their move dates are at most
    `duplicate_days` apart."""

    duplicate_days: int = Field(default=7, ge=0, le=365)


class MartsSpec(_Strict):
    """The analytics marts (docs/funnel.md, docs/childcare.md): how users' PII is masked outside
    the raw layer, and how the leads product is made.

    `pii`: `initials` ("A*** G***", "a***@example.org"), `hash` (16 hex digits of SHA-256, salted
    with `pii_salt` so common names can't be looked up) or `none` (keep the values).
    """

    pii: Literal["initials", "hash", "none"] = "initials"
    pii_salt: str | None = None
    leads: LeadsSpec = Field(default_factory=LeadsSpec)
    jobs: JobsMartSpec = Field(default_factory=JobsMartSpec)


#: How a stored API key hash starts (`crmpipe serve --hash-key` prints it).
KEY_HASH_PREFIX = "sha256:"


class ApiKeySpec(_Strict):
    """One API key of `crmpipe serve` (docs/serve.md): a name for messages and rate limits, the
    SHA-256 of the key (never the key), and its role: `full`, or `masked` (no PII)."""

    name: str = Field(min_length=1)
    hash: str
    role: Literal["full", "masked"]

    @field_validator("hash")
    @classmethod
    def _sha256_hex(cls, v: str) -> str:
        digest = v.strip().lower().removeprefix(KEY_HASH_PREFIX)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(
                f"expected {KEY_HASH_PREFIX} and 64 hex digits, as `crmpipe serve --hash-key` "
                "prints it (never the key itself)"
            )
        return KEY_HASH_PREFIX + digest


class RateLimitSpec(_Strict):
    """At most `requests` API requests per key (per client address without keys) in any
    `per_seconds` window."""

    requests: int = Field(ge=1)
    per_seconds: float = Field(default=60.0, gt=0)


class ServeSpec(_Strict):
    """Access to `crmpipe serve` (docs/serve.md): API keys (none: the API is open) and an
    optional rate limit."""

    keys: list[ApiKeySpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec | None = None
    #: Search and facet answers kept per served version (crmpipe.api.cache); 0: none.
    cache: int = Field(default=1000, ge=0)


class TableChecksSpec(_Strict):
    """Checks of one table (docs/quality.md): per column, and on the whole table.

    Each entry is a check name (`not_null`) or a one-key mapping of its parameters
    (`{accepted_values: {values: [a, b], severity: warn}}`); crmpipe.config.checks validates them.
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
COMPARISON_KINDS = ("name", "text", "exact", "email", "personal_email", "phone", "date", "off")
#: Tables resolved when the project file says nothing (issue 5: contacts on by default).
RESOLVED_BY_DEFAULT = ("contacts", "customers")
#: Tables resolution can unify (people, facilities, a mover's customers across branches).
RESOLVABLE = ("contacts", "entities", "customers")
#: Tables resolved by default once several sources have them as their own table (issue 11:
#: facilities from several agency lists and the CRM's leads; one list of places is left alone).
RESOLVED_WITH_SEVERAL_SOURCES = ("entities",)


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
    #: Contact exports of several CRMs naming their companies inline (docs/crm-merge.md):
    #: entities resolve as companies, contacts also across companies. None: when a contacts
    #: source feeds entities.
    crm_merge: bool | None = None
    #: A cluster of 3+ records whose weakest link is below this is split at its weak links.
    split_below: float | None = Field(default=None, gt=0, le=1)
    #: A cluster of more records than this is split at its weakest links until none is.
    max_cluster_size: int | None = Field(default=None, ge=2)

    def resolves_companies(self, table: str) -> bool:
        """Entities of a CRM merge are companies, unless `comparisons:` asks for Splink's
        (resolution/companies.py)."""
        return table == "entities" and bool(self.crm_merge) and not self.comparisons

    def resolves_facilities(self, table: str) -> bool:
        """Entities are resolved as facilities unless `comparisons:` asks for the role-derived
        ones (resolution/facilities.py; a CRM merge's companies take precedence)."""
        return table == "entities" and not self.comparisons

    @model_validator(mode="after")
    def _split_above_threshold(self) -> ResolveSpec:
        """A link below the threshold is never made, so a split threshold at or under it
        would split nothing: say so instead of silently doing nothing."""
        if self.split_below is not None and self.split_below <= self.threshold:
            raise ValueError(
                f"split_below ({self.split_below}) must be above threshold ({self.threshold})"
            )
        return self

    @field_validator("comparisons", mode="before")
    @classmethod
    def _bare_off(cls, value: Any) -> Any:
        """YAML reads a bare `off` as false: `{department: off}` means the comparison `off`."""
        if isinstance(value, dict):
            return {k: "off" if v is False else v for k, v in value.items()}
        return value


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
    serve: ServeSpec = Field(default_factory=ServeSpec)
    sync: SyncSpec = Field(default_factory=SyncSpec)
    enrich: EnrichSpec = Field(default_factory=EnrichSpec)
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
            for table, mapping in src.mappings().items():
                ext = tuple(
                    Column(name, EXTENSION_TYPES[spec.type.lower()])
                    for name, spec in mapping.extension_columns().items()
                )
                out[table] = out[table].with_extensions(ext)
        for table in self.enrich.gender.tables:  # inferred columns (filled after resolution)
            if table in out:
                out[table] = out[table].with_extensions(GENDER_COLUMNS)
        return out

    def resolve_spec(self, table: str) -> ResolveSpec:
        """How `table` is resolved: its `resolve:` entry, else the defaults."""
        spec = self.resolve.get(table, ResolveSpec())
        if spec.crm_merge is None and table in ("entities", "contacts"):
            crm = any(
                s.table == "contacts" and "entities" in s.feeds for s in self.sources.values()
            )
            spec = spec.model_copy(update={"crm_merge": crm})
        if table in self.enrich.gender.tables and GENDER_INFERRED not in spec.comparisons:
            # inferred after resolution: never evidence for it
            comparisons = {**spec.comparisons, GENDER_INFERRED: "off"}
            spec = spec.model_copy(update={"comparisons": comparisons})
        if spec.enabled is None:
            several = table in RESOLVED_WITH_SEVERAL_SOURCES and len(self.sources_for(table)) > 1
            several = several or (table == "entities" and bool(spec.crm_merge))
            spec = spec.model_copy(update={"enabled": table in RESOLVED_BY_DEFAULT or several})
        return spec

    def resolved_tables(self) -> list[str]:
        """Tables with a source whose resolution is on, in build order."""
        return [t for t in self.fed_tables() if self.resolve_spec(t).enabled]

    def sources_for(self, table: str) -> dict[str, SourceSpec]:
        """Sources whose own table is `table` (their rows are counted in its reconciliation)."""
        return {n: s for n, s in self.sources.items() if s.table == table}

    def feeds_for(self, table: str) -> list[Feed]:
        """Every source mapping onto `table`: its own sources, then those feeding it too."""
        own = [Feed(source=n, spec=s, mapping=s, primary=True) for n, s in self.sources.items()]
        fed = [
            Feed(source=n, spec=s, mapping=s.feeds[table], primary=False)
            for n, s in self.sources.items()
            if table in s.feeds
        ]
        return [f for f in own if f.spec.table == table] + fed

    def fed_tables(self) -> dict[str, Table]:
        """The tables (with extensions) some source maps onto, in build order."""
        return {n: t for n, t in self.tables().items() if self.feeds_for(n)}
