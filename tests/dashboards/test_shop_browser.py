"""The Shop page in a real browser: `streamlit run` in a subprocess, driven by Chromium."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.dashboards.shop_support import APP_PATH, free_port

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT_S = 60
UI_TIMEOUT_MS = 30_000
SCREENSHOT_COPY = Path("/tmp/shop.png")
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MATCHES = re.compile(r"([\d,]+) offers? match")
PROVIDER_SETTINGS = ("VASTAI_API_KEY", "TENSORDOCK_API_TOKEN", "SANDBOX_URL", "DATABASE_PATH")


@pytest.fixture(scope="module")
def app_url(sandbox_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run dashboards/app.py` on a free loopback port, in its own process group."""
    port = free_port()
    # The parent's environment minus provider settings; a scratch working directory keeps
    # a developer's .env out, and shows the app finds its imports without the repo as cwd.
    env = {key: value for key, value in os.environ.items() if key not in PROVIDER_SETTINGS}
    env["DATABASE_PATH"] = str(sandbox_warehouse)
    workdir = tmp_path_factory.mktemp("streamlit")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    log_path = workdir / "streamlit.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, f"streamlit exited: {log_path.read_text()}"
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"streamlit not up: {log_path.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def page(app_url: str) -> Iterator[Page]:
    """A headless Chromium tab on the app; fails (never skips) when Chromium is missing."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(UI_TIMEOUT_MS)
        tab.goto(app_url)
        yield tab
        browser.close()


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
