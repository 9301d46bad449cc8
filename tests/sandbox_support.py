"""Helpers for tests that run the real clients against a real sandbox over HTTP."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def queue_faults(base_url: str, route: str, *responses: dict) -> None:
    """Queue canned responses on one sandbox route, served before normal service."""
    answer = httpx.post(
        f"{base_url}/_sandbox/faults", json={"route": route, "responses": list(responses)}
    )
    answer.raise_for_status()


def advance(base_url: str, ticks: int = 1) -> None:
    httpx.post(f"{base_url}/_sandbox/advance", json={"ticks": ticks}).raise_for_status()


def ingested_settings(db_path: Path, sandbox_url: str, deployment_id: str, **overrides: Any):
    """Settings for end-to-end tests on a seeded sandbox, fast polling, one ingest done."""
    from shopper_pipelines.inventory.service import ingest
    from shopper_pipelines.settings import load_settings

    values = {"readiness_timeout": "20s", "ssh_poll_interval_s": 0.2, "destroy_backoff_s": 0.05}
    settings = load_settings(database_path=db_path, sandbox_url=sandbox_url,
                             deployment_id=deployment_id, **{**values, **overrides})  # fmt: skip
    ingest(settings)
    return settings


@contextmanager
def env_world(tmp_path: Path, monkeypatch: Any, deployment_id: str) -> Iterator[tuple[Any, str]]:
    """A seeded sandbox and a Vast ingest, configured through the environment as a
    Dagster run sees it (its resource reads the settings there): (settings, sandbox URL)."""
    from shopper_pipelines.inventory.service import ingest
    from shopper_pipelines.sandbox.server import running_sandbox
    from shopper_pipelines.settings import get_settings

    with running_sandbox(seed=41, boot_seconds=0.2, workdir=tmp_path / "inst") as url:
        for name, value in {
            "DATABASE_PATH": str(tmp_path / "w.duckdb"), "SANDBOX_URL": url,
            "DEPLOYMENT_ID": deployment_id, "READINESS_TIMEOUT": "20s",
            "SSH_POLL_INTERVAL_S": "0.2", "DESTROY_BACKOFF_S": "0.05",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        ingest(settings, ("vastai",))
        try:
            yield settings, url
        finally:
            get_settings.cache_clear()
