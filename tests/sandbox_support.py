"""Helpers for tests that run the real clients against a real sandbox over HTTP."""

import httpx


def queue_faults(base_url: str, route: str, *responses: dict) -> None:
    """Queue canned responses on one sandbox route, served before normal service."""
    answer = httpx.post(
        f"{base_url}/_sandbox/faults", json={"route": route, "responses": list(responses)}
    )
    answer.raise_for_status()


def advance(base_url: str, ticks: int = 1) -> None:
    httpx.post(f"{base_url}/_sandbox/advance", json={"ticks": ticks}).raise_for_status()
