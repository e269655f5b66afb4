"""Headless Chromium for the report's browser tests: Debian's `chromium` driven by Playwright.

Playwright's own browser download is not used (it needs the network): the system browser is
launched with `executable_path`. Without Chromium or the `playwright` package the tests skip
with the reason, unless MMBENCH_REQUIRE_BROWSER=1 (CI) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """$MMBENCH_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("MMBENCH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when the browser is required (MMBENCH_REQUIRE_BROWSER=1)."""
    if os.environ.get("MMBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MMBENCH_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class PageWatch:
    """A page's console errors, uncaught exceptions and every URL it requested."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.urls.append(r.url))

    def network(self) -> list[str]:
        """Requested URLs that are not local files (must stay empty)."""
        return [url for url in self.urls if not url.startswith("file://")]

    def file_bytes(self) -> int:
        """Bytes of every local file the page loaded (sizes on disk)."""
        from urllib.parse import unquote, urlparse

        total = 0
        for url in dict.fromkeys(self.urls):
            if url.startswith("file://"):
                path = Path(unquote(urlparse(url).path))
                total += path.stat().st_size if path.is_file() else 0
        return total
