"""The Costs page in a real browser: the real app, a real warehouse with real sessions."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.reports.periods import midnight, today_utc
from shopper_pipelines.warehouse import ensure_schema
from tests.dashboards.app_support import IDLE, chromium_tab, streamlit_server
from tests.reports.sessions_support import worked_example_sessions


@dataclass(frozen=True)
class CostsApp:
    url: str
    today: datetime


@pytest.fixture
def costs_app(tmp_path: Path) -> Iterator[CostsApp]:
    db_path = tmp_path / "warehouse.duckdb"
    ensure_schema(db_path)
    today = midnight(today_utc())
    worked_example_sessions(db_path, today)
    set_budget(db_path, "carol", "1000", action="warn")
    with streamlit_server({"DATABASE_PATH": str(db_path)}, tmp_path / "streamlit") as url:
        yield CostsApp(url, today)


def metric(page: Page, label: str) -> Locator:
    """The value shown by the metric whose label is exactly `label`."""
    card = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return card.locator('[data-testid="stMetricValue"]')


@pytest.mark.browser
def test_costs_page_in_browser_shows_totals_chart_budget_and_running(
    costs_app: CostsApp, tmp_path: Path
) -> None:
    """The default range (the last 30 days) holds every worked-example session: alice,
    bob (both days), dave and carol, who still runs, so 4 sessions."""
    with chromium_tab(costs_app.url) as page:
        page.wait_for_selector(IDLE)
        page.get_by_role("link", name="Costs", exact=True).click()
        expect(page.get_by_role("heading", name="Costs")).to_be_visible()
        page.wait_for_selector(IDLE)

        expect(metric(page, "Sessions")).to_have_text("4")
        expect(metric(page, "Spend")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
        expect(metric(page, "Billing now")).to_have_text("$1.00/h")  # carol
        expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        expect(chart.locator("canvas, svg").first).to_be_attached()
        expect(page.get_by_role("heading", name="Budgets")).to_be_visible()
        expect(
            page.get_by_role("heading", name="Most expensive sessions billing now")
        ).to_be_visible()
        frames = page.locator('[data-testid="stDataFrame"]')
        expect(frames).to_have_count(2)
        page.screenshot(path=tmp_path / "costs.png", full_page=True)
