"""Headless Chromium from the Debian packages (`chromium`, `chromium-driver`), driven by
Selenium through its chromedriver: nothing is downloaded, no browser build of its own.

`make test` installs the packages when they are missing; without them `chromium()` raises
NoBrowser with the command that installs them (a test fails with it, never skips).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
)


class NoBrowser(RuntimeError):
    """Chromium or its driver is not installed."""


@contextmanager
def chromium(width: int = 412, height: int = 915) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own user-data-dir, removed after) with a phone's
    viewport (a Pixel 7's CSS pixels by default)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        raise NoBrowser(f"{', '.join(missing)} not found: install them with `{INSTALL}`")
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
