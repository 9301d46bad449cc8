"""The Shop page in a real browser: `streamlit run` in a subprocess, driven by Chromium."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.dashboards.app_support import IDLE, chromium_tab, streamlit_server

SCREENSHOT_COPY = Path("/tmp/shop.png")
MATCHES = re.compile(r"([\d,]+) offers? match")


@pytest.fixture(scope="module")
def app_url(sandbox_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on the shared sandbox warehouse, served for this module's tests."""
    workdir = tmp_path_factory.mktemp("streamlit")
    with streamlit_server({"DATABASE_PATH": str(sandbox_warehouse)}, workdir) as url:
        yield url


@pytest.fixture
def page(app_url: str) -> Iterator[Page]:
    """A headless Chromium tab on the app."""
    with chromium_tab(app_url) as tab:
        yield tab


def match_count(page: Page) -> int:
    text = page.get_by_text(MATCHES).inner_text()
    found = MATCHES.search(text)
    assert found, text
    return int(found.group(1).replace(",", ""))


@pytest.mark.browser
def test_shop_in_browser_filters_offers(page: Page, tmp_path: Path) -> None:
    page.wait_for_selector('[data-testid="stDataFrame"]')
    page.wait_for_selector(IDLE)
    expect(page.get_by_text("SANDBOX —")).to_be_visible()
    expect(page.get_by_text(MATCHES)).to_be_visible()
    before = match_count(page)
    page.screenshot(path=tmp_path / "shop.png", full_page=True)

    max_price = page.get_by_role("spinbutton", name="Max $/h")
    max_price.fill("0.3")
    max_price.press("Enter")
    expect(page.get_by_text(MATCHES)).not_to_have_text(re.compile(rf"^{before:,} offers"))
    page.wait_for_selector(IDLE)

    after = match_count(page)
    assert 0 < after < before
    page.screenshot(path=tmp_path / "shop-filtered.png", full_page=True)
    page.screenshot(path=SCREENSHOT_COPY, full_page=True)
