"""A headless Chromium for the console's browser tests: Debian's package, driven by Playwright.

In CI (``CI`` set) a missing browser fails the tests; elsewhere they are skipped. Playwright's
own browser download is never used: it launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("DELTAHOOK_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(os.environ.get("DELTAHOOK_CONSOLE_SHOTS", "/tmp/console-shots"))


def chromium_or_skip() -> None:
    if CHROMIUM.is_file():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; runs in CI)")


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), closed afterwards."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under ``SHOTS`` (the test's record of what each page shows)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
