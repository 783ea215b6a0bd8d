"""What every real-browser test shares: Debian's chromium driven by Playwright for Python
(its own browser download is not available here), and the skip, with the reason, where either
is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e .[dev])"
)
BROWSER_TESTS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium): "
        "the real-browser tests need it",
    ),
]
