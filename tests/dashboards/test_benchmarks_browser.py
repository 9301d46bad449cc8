"""The Benchmarks page in a real browser: `streamlit run` in a subprocess, driven by Chromium.

`chromium_tab` fails the test if the page asks for anything off loopback (the chart's
Vega runtime, fonts and data must all come from the app itself).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboards.app_support import IDLE, chromium_tab, streamlit_server
from tests.dashboards.bench_support import MODEL, warehouse_with_results

SCREENSHOT_COPY = Path("/tmp/benchmarks.png")


@pytest.fixture(scope="module")
def app_url(sandbox_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a sandbox ingest with published and measured results, for this module."""
    db_path = warehouse_with_results(sandbox_warehouse, tmp_path_factory.mktemp("bench-browser"))
    workdir = tmp_path_factory.mktemp("streamlit")
    with streamlit_server({"DATABASE_PATH": str(db_path)}, workdir) as url:
        yield url


@pytest.mark.browser
def test_benchmarks_in_browser_shows_leaderboard_chart_and_advice(
    app_url: str, tmp_path: Path
) -> None:
    with chromium_tab(app_url) as page:
        page.wait_for_selector(IDLE)
        page.get_by_role("link", name="Benchmarks").click()
        expect(page).to_have_url(f"{app_url}/benchmarks")
        expect(page.get_by_role("heading", name="Benchmarks", level=1)).to_be_visible()
        page.wait_for_selector(IDLE)
        expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
        tables = page.locator('[data-testid="stDataFrame"]')
        expect(tables.first).to_be_visible()
        expect(tables).to_have_count(3)  # leaderboard, recommendation, live offers
        expect(page.get_by_text("Rows marked 'published (reference)'")).to_be_visible()

        chart = page.locator('[data-testid="stVegaLiteChart"]')
        expect(chart).to_have_count(1)
        drawn = chart.locator("canvas, svg.marks")
        expect(drawn.first).to_be_visible()
        box = drawn.first.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        expect(page.get_by_text("Cost frontier (green)")).to_be_visible()
        expect(page.get_by_text(f"For {MODEL}, rent")).to_be_visible()

        page.screenshot(path=tmp_path / "benchmarks.png", full_page=True)
        page.screenshot(path=SCREENSHOT_COPY, full_page=True)
