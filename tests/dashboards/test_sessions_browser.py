"""Renting in a real browser: Shop -> key download -> Sessions -> running -> Done."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.settings import load_settings
from tests.dashboards.app_support import IDLE, chromium_tab, streamlit_server

READY_TIMEOUT_MS = 45_000
SESSION_ID = re.compile(r"sess-[0-9a-f]{12}")


@dataclass(frozen=True)
class RentalApp:
    app_url: str
    sandbox_url: str

    def instances(self) -> list[dict]:
        return httpx.get(f"{self.sandbox_url}/_sandbox/instances").json()["instances"]


@pytest.fixture
def rental_app(tmp_path: Path) -> Iterator[RentalApp]:
    """A sandbox with fast-booting instances, an ingested warehouse, and the app on both."""
    with running_sandbox(seed=17, boot_seconds=0.2, workdir=tmp_path / "inst") as sandbox:
        db_path = tmp_path / "warehouse.duckdb"
        ingest(load_settings(database_path=db_path, sandbox_url=sandbox, _env_file=None))
        settings = {
            "DATABASE_PATH": str(db_path),
            "SANDBOX_URL": sandbox,
            "DEPLOYMENT_ID": "browser",
            "READINESS_TIMEOUT": "20s",
            "SSH_POLL_INTERVAL_S": "0.2",
            "DESTROY_BACKOFF_S": "0.05",
        }
        with streamlit_server(settings, tmp_path / "streamlit") as url:
            yield RentalApp(url, sandbox)


@pytest.mark.browser
def test_rent_in_browser_then_done(rental_app: RentalApp, tmp_path: Path) -> None:
    with chromium_tab(rental_app.app_url) as page:
        session_id = provision_from_shop(page)
        follow_until_running_then_done(page, session_id)
        page.screenshot(path=tmp_path / "sessions.png", full_page=True)

    instances = rental_app.instances()
    assert instances and all(instance["destroyed"] for instance in instances), instances


def provision_from_shop(page: Page) -> str:
    """Fill the Provision form, submit, and download the key it offers once."""
    page.wait_for_selector('[data-testid="stDataFrame"]')
    page.wait_for_selector(IDLE)
    page.get_by_label("Consumer id").fill("browser-user")
    page.get_by_role("button", name="Provision", exact=True).click()

    download_button = page.get_by_role("button", name="Download private key")
    expect(download_button).to_be_visible()
    expect(page.get_by_text("it is not stored anywhere")).to_be_visible()
    found = SESSION_ID.search(page.get_by_text(re.compile(r"Session sess-")).inner_text())
    assert found
    with page.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename == f"{found.group(0)}.key"
    key = Path(download.value.path()).read_text()
    assert key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    return found.group(0)


def follow_until_running_then_done(page: Page, session_id: str) -> None:
    """The Sessions page refreshes itself to running, shows SSH, and Done terminates."""
    page.get_by_text("Follow it on the Sessions page").click()
    expect(page.get_by_role("heading", name=session_id)).to_be_visible()
    expect(page.get_by_text("Status: running")).to_be_visible(timeout=READY_TIMEOUT_MS)
    command = page.locator('[data-testid="stCode"]')
    expect(command).to_contain_text(re.compile(rf"ssh -i {session_id}\.key -p \d+ "))
    page.wait_for_selector(IDLE)

    page.get_by_role("button", name="Done", exact=True).click()

    expect(page.get_by_text(f"Session {session_id} finished: terminated.")).to_be_visible()
    expect(page.get_by_text("Status: terminated")).to_be_visible()
