"""Helpers for tests that run the real clients against a real sandbox over HTTP."""

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
