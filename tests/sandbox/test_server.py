"""Loopback-only serving and the background `running_sandbox` helper."""

import time

import httpx
import pytest

from shopper_pipelines.sandbox.server import check_loopback, running_sandbox, serve


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_serve_refuses_non_loopback_host(host: str) -> None:
    with pytest.raises(ValueError, match="loopback") as raised:
        serve(host=host, port=0)
    assert repr(host) in str(raised.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_serve_check_accepts_loopback(host: str) -> None:
    check_loopback(host)


def test_running_sandbox_starts_fast_and_stops() -> None:
    started = time.perf_counter()
    with running_sandbox(4, vast_offer_count=200) as url:
        elapsed = time.perf_counter() - started
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/_sandbox/health").json()["seed"] == 4
    assert elapsed < 1.0
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/_sandbox/health", timeout=0.5)
