import httpx
import pytest

from shopper_pipelines.errors import BadRequestError, MalformedResponseError, ProviderDownError
from shopper_pipelines.providers.http import RetryingCaller, build_client
from shopper_pipelines.providers.tensordock import TensorDockClient


def _client(handler, attempts=3):
    transport = httpx.MockTransport(handler)
    http = build_client("http://td.test/api/v2", token="td-token", timeout_s=5, transport=transport)
    caller = RetryingCaller("tensordock", http, max_attempts=attempts, sleep=lambda _s: None)
    return TensorDockClient("http://td.test/api/v2", "td-token", caller=caller)


def test_fetch_offers_flattens_locations_real_sample(tensordock_locations_body):
    def handler(request):
        assert request.url.path == "/api/v2/locations"
        assert request.headers["authorization"] == "Bearer td-token"
        return httpx.Response(200, json=tensordock_locations_body)

    batch = _client(handler).fetch_offers(disk_gb=100)
    assert len(batch.records) == 1
    record = batch.records[0]
    assert record["location"]["city"] == "Chubbuck"
    assert "gpus" not in record["location"]
    assert record["gpu"]["v0Name"] == "geforcertx4090-pcie-24gb"


def test_fetch_offers_error_under_http_200_is_bad_request():
    client = _client(
        lambda request: httpx.Response(200, json={"error": "Hostnode unavailable", "status": 400})
    )
    with pytest.raises(BadRequestError, match="2xx with an error: Hostnode unavailable"):
        client.fetch_offers(disk_gb=100)


def test_fetch_offers_503_then_success(tensordock_locations_body):
    answers = iter([httpx.Response(503), httpx.Response(200, json=tensordock_locations_body)])
    batch = _client(lambda request: next(answers)).fetch_offers(disk_gb=100)
    assert len(batch.records) == 1
    assert batch.retries == 1


def test_fetch_offers_5xx_exhaustion():
    with pytest.raises(ProviderDownError, match="HTTP 502"):
        _client(lambda request: httpx.Response(502, text="bad gateway")).fetch_offers(disk_gb=1)


def test_fetch_offers_missing_data_is_malformed():
    with pytest.raises(MalformedResponseError, match=r"no data\.locations"):
        _client(lambda request: httpx.Response(200, json={"locations": []})).fetch_offers(
            disk_gb=100
        )


def test_fetch_offers_accepts_data_as_bare_list(tensordock_locations_body):
    locations = tensordock_locations_body["data"]["locations"]
    batch = _client(lambda request: httpx.Response(200, json={"data": locations})).fetch_offers(
        disk_gb=100
    )
    assert len(batch.records) == 1
