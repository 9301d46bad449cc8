import json

import httpx
import pytest

from shopper_pipelines.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderDownError,
    RateLimitedError,
)
from shopper_pipelines.providers.http import RetryingCaller, build_client
from shopper_pipelines.providers.vastai import OFFERS_PATH, VastClient


def _client(handler, *, page_size=1000, attempts=3, key=None):
    transport = httpx.MockTransport(handler)
    http = build_client("http://vast.test", token=key, timeout_s=5, transport=transport)
    caller = RetryingCaller("vastai", http, max_attempts=attempts, sleep=lambda _s: None)
    return VastClient(
        "http://vast.test", key, page_size=page_size, transport=transport, caller=caller
    )


def _paging_market(offers):
    seen_queries = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == OFFERS_PATH
        query = json.loads(request.content)
        seen_queries.append(query)
        after = query.get("id", {}).get("gt", -1)
        page = sorted((o for o in offers if o["id"] > after), key=lambda o: o["id"])
        return httpx.Response(200, json={"offers": page[: query["limit"]]})

    return handler, seen_queries


def test_fetch_offers_pages_through_every_offer(vast_sample):
    offers = [{**vast_sample[0], "id": n} for n in range(1, 26)]
    handler, queries = _paging_market(offers)
    batch = _client(handler, page_size=10).fetch_offers(disk_gb=80)
    assert [o["id"] for o in batch.records] == list(range(1, 26))
    assert batch.requests == 3
    assert [q.get("id") for q in queries] == [None, {"gt": 10}, {"gt": 20}]
    assert queries[0]["allocated_storage"] == 80.0
    assert queries[0]["order"] == [["id", "asc"]]


def test_fetch_offers_429_then_success(vast_sample):
    answers = iter(
        [
            httpx.Response(429, text="API requests too frequent endpoint threshold=2.0"),
            httpx.Response(200, json={"offers": vast_sample}),
        ]
    )
    client = _client(lambda request: next(answers))
    batch = client.fetch_offers(disk_gb=5)
    assert len(batch.records) == 3
    assert batch.retries == 1


def test_fetch_offers_persistent_429_is_rate_limited():
    client = _client(lambda request: httpx.Response(429, text="API requests too frequent"))
    with pytest.raises(RateLimitedError, match="rate limited after 3 attempts"):
        client.fetch_offers(disk_gb=5)


def test_fetch_offers_5xx_exhaustion_is_provider_down():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, text="upstream unavailable")

    with pytest.raises(ProviderDownError, match="gave up after 3 attempts: HTTP 503"):
        _client(handler).fetch_offers(disk_gb=5)
    assert len(calls) == 3


def test_fetch_offers_connection_errors_are_retried_then_provider_down():
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ProviderDownError, match="ConnectError"):
        _client(handler).fetch_offers(disk_gb=5)


def test_fetch_offers_malformed_json_names_the_problem():
    client = _client(lambda request: httpx.Response(200, text='{"offers": [ {"id": 1,'))
    with pytest.raises(MalformedResponseError, match="unreadable JSON"):
        client.fetch_offers(disk_gb=5)


def test_fetch_offers_wrong_shape_is_malformed():
    client = _client(lambda request: httpx.Response(200, json={"results": []}))
    with pytest.raises(MalformedResponseError, match="no 'offers' list"):
        client.fetch_offers(disk_gb=5)


def test_fetch_offers_auth_error_is_not_retried_and_hides_key():
    calls = []

    def handler(request):
        calls.append(request.headers.get("authorization"))
        return httpx.Response(401, json={"success": False, "error": "auth_error"})

    with pytest.raises(ProviderAuthError) as raised:
        _client(handler, key="vast-secret-xyz").fetch_offers(disk_gb=5)
    assert calls == ["Bearer vast-secret-xyz"]
    assert "vast-secret-xyz" not in str(raised.value)


def test_fetch_offers_server_ignoring_id_filter_is_detected(vast_sample):
    offers = [{**vast_sample[0], "id": n} for n in range(1, 11)]
    client = _client(lambda request: httpx.Response(200, json={"offers": offers}), page_size=10)
    with pytest.raises(MalformedResponseError, match="ignored id > 10"):
        client.fetch_offers(disk_gb=5)
