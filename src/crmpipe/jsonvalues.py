"""Database values as JSON values, one rule for every JSON output (search, report, API).

Timestamps and dates become ISO text, NaN and infinities become null (JSON has neither),
decimals become numbers, lists are converted item by item, anything else becomes its text.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

__all__ = ["json_value"]


def json_value(value: Any) -> Any:
    """A JSON-serialisable form of a DuckDB or PostgreSQL value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    try:  # Decimal and friends
        return int(value) if int(value) == value else float(value)
    except (TypeError, ValueError):
        return str(value)
