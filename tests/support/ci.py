"""Whether the tests run in CI: there a missing PostgreSQL or Chromium is an error, not a skip,
and hypothesis runs a fixed set of examples."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """True when CI is set to 1, true or yes (as .ci/run sets it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
