"""docs/dashboard.png: the dashboard of a test group (twelve weeks of made-up scores, see
tests/dashboard_site.py) in headless Chromium at a phone's width, in Korean.

    .venv/bin/python -m benchmarks.dashboard_screenshot [--out docs/dashboard.png]

Needs Debian's chromium and chromium-driver, and a Korean font for the Hangul
(`apt-get install -y chromium chromium-driver fonts-nanum`).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.browser import chromium
from tests.dashboard_site import running_dashboard
from tests.fake_telegram import running_fake_telegram

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 412  # CSS pixels of a common phone


def _shoot(url: str, out: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(WIDTH, 900) as driver:
        driver.get(url)
        state = WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        )
        if state != "ready":
            raise SystemExit(f"the dashboard did not load: {state}")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        # The window is taller than the viewport by the browser's own frame.
        driver.set_window_size(WIDTH, int(height) + 140)
        driver.find_element(By.TAG_NAME, "body").screenshot(str(out))


async def main(out: Path) -> None:
    async with running_fake_telegram() as tg:
        with tempfile.TemporaryDirectory() as folder:
            async with running_dashboard(tg, Path(folder)) as site:
                url = site.page(site.init_data(site.admin))
                await asyncio.to_thread(_shoot, url, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    asyncio.run(main(parser.parse_args().out))
