"""Matching the headers a project file names against a file's header: exactly, else ignoring
case and punctuation (`Phone#` is `phone`), so ingest and staging agree on what a header is."""

from __future__ import annotations

from crmpipe.config.schema import SourceSpec


def header_key(header: str) -> str:
    """A header reduced to lower-case letters and digits."""
    return "".join(ch for ch in header.lower() if ch.isalnum())


def resolve_header(raw_columns: list[str], header: str) -> str | None:
    """The raw column a configured header names: exact, else ignoring case and punctuation."""
    if header in raw_columns:
        return header
    wanted = header_key(header)
    for col in raw_columns:
        if header_key(col) == wanted:
            return col
    return None


def mapped_headers(spec: SourceSpec) -> list[str]:
    """Every header the source's mappings name (its own table's and its feeds'), in order."""
    out: list[str] = []
    for mapping in spec.mappings().values():
        out += list(mapping.columns.values())
        out += [ext.column or name for name, ext in mapping.extension_columns().items()]
    return list(dict.fromkeys(out))
