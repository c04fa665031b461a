"""The browser fixture: headless Chromium driven by playwright (the HTML report is checked in a
real browser).

  browser  module: a playwright Browser on the machine's chromium (Debian's package, installed
           by scripts/ensure-chromium.sh; CRMPIPE_CHROMIUM overrides the path). Playwright's
           own browser downloads are never used. Without chromium: skipped locally, an error
           in CI (CI=true). Module scope, not session: playwright's sync API runs an asyncio
           loop in the test thread while it is open, and later tests that call asyncio.run()
           (the shell's prompt) would fail.

conftest.py marks every test that uses `browser` `browser`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from support.ci import in_ci


def _chromium_path() -> str | None:
    override = os.environ.get("CRMPIPE_CHROMIUM", "").strip()
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium for this test module (see the module docstring)."""
    executable = _chromium_path()
    if executable is None:
        msg = "no chromium found; run scripts/ensure-chromium.sh (or set CRMPIPE_CHROMIUM)"
        if in_ci():
            pytest.fail(f"browser tests cannot run in CI: {msg}", pytrace=False)
        pytest.skip(f"browser tests skipped: {msg}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield chromium
        finally:
            chromium.close()
