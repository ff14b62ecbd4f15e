"""Which Chromium the browser tests drive (tests/researchers/test_browser.py, test_dsc_browser.py).

Debian's ``chromium-headless-shell`` first: the headless-only build renders the same pages and
screenshots with about a third less CPU than the full browser in headless mode (the browser module:
31.8 s → 22.4 s of CPU, 47 s → 34 s); ``make browser-deps`` installs it. The full ``chromium``
otherwise. ``TEST_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CANDIDATES = [Path("/usr/bin/chromium-headless-shell"), Path("/usr/bin/chromium")]


def chromium() -> Path | None:
    if os.environ.get("TEST_CHROMIUM"):
        return Path(os.environ["TEST_CHROMIUM"])
    return next((path for path in CANDIDATES if path.exists()), None)


CHROMIUM = chromium()
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]

requires_chromium = pytest.mark.skipif(
    CHROMIUM is None or not CHROMIUM.exists(),
    reason=(
        "No Chromium at /usr/bin/chromium-headless-shell or /usr/bin/chromium: `make test` installs Debian's "
        "chromium-headless-shell package when it runs as root with apt-get available; install it with "
        "`apt-get install chromium-headless-shell`."
    ),
)
