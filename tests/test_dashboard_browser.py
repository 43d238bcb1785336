"""The dashboard in a real headless Chromium: opened as Telegram opens a Mini App (the
signed initData in the URL's fragment, no telegram-web-app.js), it draws its charts; with
forged or expired initData it shows the refusal. Slow: it starts a browser."""

from __future__ import annotations

import asyncio

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import NoBrowser, chromium
from tests.dashboard_site import DAY, NOW, running_dashboard

pytestmark = pytest.mark.slow

DARK = {"bg_color": "#101820", "text_color": "#fafafa", "button_color": "#3390ec"}


@pytest.fixture
def browser():
    manager = chromium()
    try:
        driver = manager.__enter__()
    except NoBrowser as error:
        pytest.fail(f"the browser test cannot run: {error}", pytrace=False)
    yield driver
    manager.__exit__(None, None, None)


def opened(driver, url: str) -> str:
    """Open ``url`` and wait (20 s at most) until the page says it is ready or refused."""
    driver.get(url)
    return WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
    )


def count(driver, selector: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, selector))


async def test_the_dashboard_draws_its_charts_in_a_real_browser(tg, tmp_path, browser) -> None:
    async with running_dashboard(tg, tmp_path) as site:
        url = site.page(site.init_data(site.admin), theme=DARK)
        assert await asyncio.to_thread(opened, browser, url) == "ready"
        charts = {
            selector: await asyncio.to_thread(count, browser, selector)
            for selector in (
                "#days circle.pt",
                "#weeks circle.pt",
                "#heatmap rect.cell[data-mean]",
                "#heatmap rect.cell",
                "#activity rect.bar",
                "#dips li",
            )
        }
        assert charts["#days circle.pt"] >= 28  # a mean for every day of four weeks
        assert charts["#weeks circle.pt"] >= 12
        assert charts["#heatmap rect.cell"] == 7 * 24
        assert charts["#heatmap rect.cell[data-mean]"] >= 7 * 16  # the busy hours
        assert charts["#activity rect.bar"] >= 7 * 16
        assert charts["#dips li"] >= 1
        title = await asyncio.to_thread(lambda: browser.find_element(By.ID, "title").text)
        assert title == "그룹 분위기"  # the group's language
        background = await asyncio.to_thread(
            browser.execute_script, "return getComputedStyle(document.body).backgroundColor"
        )
        assert background == "rgb(16, 24, 32)"  # Telegram's theme, from the fragment


@pytest.mark.parametrize("kind", ["forged", "expired"])
async def test_forged_or_expired_init_data_shows_the_refusal(tg, tmp_path, browser, kind) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        init_data = (
            site.init_data(site.admin, token="999999:not-this-bot")
            if kind == "forged"
            else site.init_data(site.admin, auth_date=NOW - 2 * DAY)
        )
        assert await asyncio.to_thread(opened, browser, site.page(init_data)) == "error"
        status = await asyncio.to_thread(lambda: browser.find_element(By.ID, "status").text)
        assert "텔레그램" in status
        assert await asyncio.to_thread(count, browser, "svg circle, svg rect") == 0
