"""Warehouses with benchmark results for the Benchmarks page and the Shop's $/M sort."""

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from shopper_pipelines.benchmarks.reference import ensure_published
from shopper_pipelines.benchmarks.store import load_result_file
from tests.dashboards.app_support import APP_PATH

RUN_TIMEOUT_S = 60
FIXTURES = Path(__file__).resolve().parents[1] / "benchmarks" / "fixtures"
# A good 20 s Ollama run of llama3.1:8b on one RTX 4090: 169.07 tokens/s, TTFT p50 23 ms.
MEASURED_RESULT = FIXTURES / "benchmark_llama3.1-8b_20261204T160211Z.json"
MEASURED_TPS = 169.07
MEASURED_PRICE = 0.40
MODEL = "llama3.1:8b"
# llama3.1:8b rows of data/reference/published_benchmarks.csv: tokens/s is the mean of
# tps_low and tps_high, $/h the mean of the price's low and high.
PUBLISHED_LLAMA = {
    "RTX 4090": (0.41, 169.0),  # tensordock, $0.38-0.44
    "RTX 3090": (0.08, 145.0),  # vastai
    "RTX A6000": (0.40, 122.0),  # tensordock
    "RTX 5060 Ti": (0.065, 83.0),  # vastai, $0.06-0.07
}


def warehouse_with_results(source: Path, folder: Path, *, measured: bool = True) -> Path:
    """A copy of an ingested warehouse with the published rows and, if asked, the
    measured RTX 4090 result loaded at `MEASURED_PRICE` on vastai."""
    db_path = folder / "warehouse.duckdb"
    shutil.copy(source, db_path)
    ensure_published(db_path)
    if measured:
        outcome = load_result_file(
            db_path, MEASURED_RESULT, provider="vastai", price_per_hour=MEASURED_PRICE
        )
        assert outcome.outcome == "stored", outcome
        assert json.loads(MEASURED_RESULT.read_text())["summary"]["tokens_per_second"] == (
            MEASURED_TPS
        )
    return db_path


def run_app(monkeypatch: pytest.MonkeyPatch, db_path: Path, page: str | None = None) -> AppTest:
    """The app on `db_path`, switched to `page` (e.g. 'pages/benchmarks.py') if given."""
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    app = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [item.message for item in app.exception]
    return app


def per_million(price: float, tps: float) -> float:
    """$ per million tokens, written out: price ÷ (tokens/s × 3600) × 1,000,000."""
    return price / (tps * 3600) * 1_000_000
