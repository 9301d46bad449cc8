"""Paths and helpers shared by the app's AppTest and browser tests."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "dashboards" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT_S = 60
UI_TIMEOUT_MS = 30_000
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Dropped from the parent's environment so a developer's settings never reach the app.
APP_SETTINGS = (
    "VASTAI_API_KEY",
    "TENSORDOCK_API_TOKEN",
    "SANDBOX_URL",
    "DATABASE_PATH",
    "DEPLOYMENT_ID",
    "READINESS_TIMEOUT",
    "SSH_POLL_INTERVAL_S",
    "DESTROY_BACKOFF_S",
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def streamlit_server(settings: dict[str, str], workdir: Path) -> Iterator[str]:
    """`streamlit run dashboards/app.py` on a free loopback port, in its own process group.

    The app sees the parent's environment minus `APP_SETTINGS`, plus `settings`; the
    scratch working directory keeps a developer's .env out and shows the app finds its
    imports without the repository as cwd. Stopping kills the whole group, so threads
    and children the app started go with it.
    """
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in APP_SETTINGS}
    env.update(settings)
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log_path = workdir / "streamlit.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
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


@contextmanager
def chromium_tab(url: str) -> Iterator[Page]:
    """A headless Chromium tab on `url`, failing the test if the page requests anything
    off loopback (regression: a Material page icon made the browser fetch a web font)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        # CI installs it (.ci/run) and must never skip; a bare dev machine may lack it.
        message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(UI_TIMEOUT_MS)
            outside: list[str] = []
            tab.on("request", lambda request: _note_outside(request.url, outside))
            tab.goto(url)
            yield tab
            assert outside == [], f"the app asked for non-loopback URLs: {outside}"
        finally:
            browser.close()


def _note_outside(url: str, outside: list[str]) -> None:
    host = urlparse(url).hostname
    if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost"):
        return
    outside.append(url)
