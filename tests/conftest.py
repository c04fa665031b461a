"""Test-session setup: the shared fixtures (tests/support/), the markers they imply, and the
hypothesis profile. Helpers and fixtures themselves live in tests/support/, one module per area.

Markers (declared in pyproject.toml; `make test-fast` runs the tests that have none):
  pg       needs the PostgreSQL server: set here on every test that uses `pg_dsn` (directly or
           through `pg_db`/`pg_conn` or a fixture of its own), so a new test cannot forget it.
  browser  needs Chromium: set here on every test that uses the `browser` fixture.
  slow     a large end-to-end run (seconds, not milliseconds): set by hand in the test module.
"""

from __future__ import annotations

import pytest
from hypothesis import settings as hypothesis_settings

from support.ci import in_ci

pytest_plugins = ["support.pg", "support.browser"]

#: Fixture → the marker every test using it gets.
FIXTURE_MARKERS = {"pg_dsn": "pg", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in used:
                item.add_marker(marker)


# hypothesis: CI runs a fixed set of examples (derandomized), so a green commit stays green;
# local runs explore new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if in_ci():
    hypothesis_settings.load_profile("ci")
