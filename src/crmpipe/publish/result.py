"""What a publish did (`PublishResult`), full or in place: what `crmpipe publish` shows."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PublishResult:
    """What a publish did: the version now serving (as schema `crmpipe`), rows per table,
    per-step seconds, foreign-key orphans kept unvalidated, and old versions dropped."""

    schema: str
    version: int
    tables: dict[str, int]
    steps: list[tuple[str, float]]
    seconds: float
    orphans: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label: str | None = None  # the version's dated label, `leads_20241101` (docs/postgres.md)
    #: What the audit trail recorded per audited table: inserted, updated, deleted (docs/audit.md)
    audited: dict[str, dict[str, int]] = field(default_factory=dict)
    #: "full" (a new version built and swapped in) or "in place" (the changed rows sent into
    #: the version serving, crmpipe.publish.inplace), and then per table rows upserted/deleted
    mode: str = "full"
    changed: dict[str, dict[str, int]] = field(default_factory=dict)
