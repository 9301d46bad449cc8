"""Fixtures for the app's tests: a warehouse filled by a real ingest from the sandbox."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.settings import load_settings


@pytest.fixture(scope="session")
def sandbox_warehouse(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file holding one full ingest of both providers from the sandbox."""
    db_path = tmp_path_factory.mktemp("shop") / "warehouse.duckdb"
    settings = load_settings(
        database_path=db_path,
        sandbox_url=sandbox_url,
        vastai_api_key=None,
        tensordock_api_token=None,
        _env_file=None,
    )
    outcomes = ingest(settings)
    statuses = {outcome.snapshot.provider: outcome.snapshot.status for outcome in outcomes}
    assert set(statuses.values()) == {"ok"}, statuses
    return db_path


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The test's environment (cleaned by tests/conftest.py), with an empty st.cache_data.

    The cache lives in the process, so it would otherwise carry results between AppTests.
    """
    st.cache_data.clear()
    yield monkeypatch
    st.cache_data.clear()
