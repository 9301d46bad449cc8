"""Shared fixtures: a clean environment per test and real data on disk."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopper_pipelines.settings import Settings, get_settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
_ENV_VARS = (
    "VASTAI_API_KEY",
    "TENSORDOCK_API_TOKEN",
    "DATABASE_PATH",
    "SANDBOX_URL",
    "VASTAI_URL",
    "TENSORDOCK_URL",
    "LOG_LEVEL",
    "INVENTORY_INTERVAL",
    "OFFER_DISK_GB",
    "HTTP_MAX_ATTEMPTS",
    "HTTP_TIMEOUT_S",
    "APP_HOST",
    "APP_PORT",
    "DAGSTER_HOST",
    "DAGSTER_PORT",
    "DAGSTER_HOME",
    "DEPLOYMENT_ID",
    "HARD_MAX_HOURS",
    "ORPHAN_GRACE",
    "RECONCILE_INTERVAL",
    "LIFECYCLE_INTERVAL",
    "READINESS_TIMEOUT",
    "SSH_POLL_INTERVAL_S",
    "DESTROY_ATTEMPTS",
    "DESTROY_BACKOFF_S",
    "MAX_OFFER_ATTEMPTS",
    "WAREHOUSE_LOCK_TIMEOUT_S",
    "SANDBOX_INFERENCE_SPEED",
    "REPORTS_DIR",
    "BENCHMARK_RESULTS_DIR",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_ATTEMPTS",
    "ALERT_WEBHOOK_BACKOFF_S",
    "ALERT_WEBHOOK_TIMEOUT_S",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No provider keys, no `.env` and no cached settings leak into a test."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(Settings.model_config, "env_file", None)
    monkeypatch.setenv("GPU_SHOPPER_DOTENV", "0")  # inherited by every subprocess we start
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def vast_sample() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "vastai_offers_UIT_DOCS_AGENT.json").read_text())


@pytest.fixture
def tensordock_locations_body() -> dict[str, Any]:
    recorded = json.loads(
        (FIXTURES / "tensordock_v2_locations_instance_cloud-gpu-shopper.json").read_text()
    )
    return next(value for key, value in recorded.items() if key.startswith("GET /api/v2/locations"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return load_settings(database_path=db_path, http_max_attempts=3)


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """A real sandbox marketplace on 127.0.0.1, shared by the session (seed 7)."""
    from shopper_pipelines.sandbox.server import running_sandbox

    with running_sandbox(seed=7) as url:
        yield url


@pytest.fixture
def fresh_sandbox_url() -> Iterator[str]:
    """A sandbox of the test's own, for tests that queue faults or move the clock."""
    from shopper_pipelines.sandbox.server import running_sandbox

    with running_sandbox(seed=11) as url:
        yield url
