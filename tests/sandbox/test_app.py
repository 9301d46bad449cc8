"""The sandbox over real HTTP on 127.0.0.1: provider paths, admin controls, faults, auth."""

import json
from collections.abc import Iterator

import httpx
import pytest

from shopper_pipelines.sandbox.faults import parse_fault_spec
from shopper_pipelines.sandbox.server import running_sandbox

OFFERS = "/api/v0/bundles/"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with running_sandbox(0, vast_offer_count=800) as url, httpx.Client(base_url=url) as http:
        yield http


def test_app_health_reports_seed_and_tick(client: httpx.Client) -> None:
    response = client.get("/_sandbox/health")
    assert response.json() == {"sandbox": True, "seed": 0, "tick": 0}
    assert response.headers["x-sandbox"] == "1"


def test_app_vast_search_post_and_get_agree(client: httpx.Client) -> None:
    query = {"gpu_name": {"eq": "RTX 4090"}, "order": [["id", "asc"]], "limit": 20}
    posted = client.post(OFFERS, json=query)
    fetched = client.get(OFFERS, params={"q": json.dumps(query)})
    assert posted.status_code == fetched.status_code == 200
    assert posted.headers["x-sandbox"] == "1"
    assert posted.json() == fetched.json()
    assert 0 < len(posted.json()["offers"]) <= 20


def test_app_vast_paging_by_id_sees_every_offer_once(client: httpx.Client) -> None:
    everything = client.post(OFFERS, json={"order": [["id", "asc"]], "limit": 10_000})
    all_ids = [offer["id"] for offer in everything.json()["offers"]]
    seen: list[int] = []
    last = 0
    while page := client.post(
        OFFERS, json={"id": {"gt": last}, "order": [["id", "asc"]], "limit": 300}
    ).json()["offers"]:
        seen.extend(offer["id"] for offer in page)
        last = seen[-1]
    assert seen == all_ids and len(set(seen)) == len(seen)


def test_app_vast_bad_query_is_a_400(client: httpx.Client) -> None:
    response = client.post(OFFERS, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert client.post(OFFERS, json={"limit": -1}).json()["error"] == "invalid_args"


def test_app_tensordock_paths_are_wrapped_in_data(client: httpx.Client) -> None:
    locations = client.get("/api/v2/locations").json()["data"]["locations"]
    hostnodes = client.get("/api/v2/hostnodes").json()["data"]["hostnodes"]
    assert locations and hostnodes
    assert {node["location_id"] for node in hostnodes} == {place["id"] for place in locations}


def test_app_fault_queue_serves_in_order_then_recovers(client: httpx.Client) -> None:
    faults = {
        "route": "vastai.offers",
        "responses": [
            {"status": 429, "body": "API requests too frequent"},
            {"status": 200, "raw": "{not json"},
            {"status": 200, "json": {"offers": []}},
        ],
    }
    assert client.post("/_sandbox/faults", json=faults).status_code == 200
    assert len(client.get("/_sandbox/faults").json()["queued"]["vastai.offers"]) == 3
    first = client.post(OFFERS, json={})
    assert (first.status_code, first.text) == (429, "API requests too frequent")
    assert first.headers["x-sandbox"] == "1"
    assert client.post(OFFERS, json={}).text == "{not json"
    assert client.post(OFFERS, json={}).json() == {"offers": []}
    assert len(client.post(OFFERS, json={}).json()["offers"]) == 64
    assert client.get("/_sandbox/faults").json() == {"queued": {}}


def test_app_fault_queue_clears(client: httpx.Client) -> None:
    client.post(
        "/_sandbox/faults", json={"route": "tensordock.hostnodes", "responses": [{"status": 503}]}
    )
    assert client.delete("/_sandbox/faults").json()["queued"] == {}
    assert client.get("/api/v2/hostnodes").status_code == 200
    bad = client.post("/_sandbox/faults", json={"route": "nowhere", "responses": []})
    assert bad.status_code == 400


def test_app_cli_faults_apply_from_the_start() -> None:
    specs = ["vastai.offers=429,503", "tensordock.locations=malformed"]
    with running_sandbox(1, vast_offer_count=100, faults=specs) as url:
        rate_limited = httpx.post(url + OFFERS, json={})
        assert rate_limited.status_code == 429
        assert rate_limited.text == "API requests too frequent endpoint threshold=2.0"
        assert httpx.post(url + OFFERS, json={}).status_code == 503
        assert httpx.post(url + OFFERS, json={}).status_code == 200
        malformed = httpx.get(url + "/api/v2/locations")
        assert malformed.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            malformed.json()


@pytest.mark.parametrize("spec", ["vastai.offers", "vastai.offers=200", "nowhere=429", "x=teapot"])
def test_faults_cli_spec_rejects_bad_input(spec: str) -> None:
    with pytest.raises(ValueError, match=r"fault|route"):
        parse_fault_spec(spec)


def test_app_require_token_answers_401_without_it() -> None:
    with running_sandbox(0, vast_offer_count=100, require_token="x") as url:
        refused = httpx.post(url + OFFERS, json={})
        assert refused.status_code == 401
        assert refused.json() == {
            "success": False,
            "error": "auth_error",
            "msg": "Invalid user key",
        }
        wrong = httpx.get(url + "/api/v2/locations", headers={"Authorization": "Bearer y"})
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Unauthorized"})
        good = {"Authorization": "Bearer x"}
        assert httpx.post(url + OFFERS, json={}, headers=good).status_code == 200
        assert httpx.get(url + "/api/v2/hostnodes", headers=good).status_code == 200
        assert httpx.get(url + "/_sandbox/health").status_code == 200


def test_app_tick_follows_clock_and_advance() -> None:
    now = [1000.0]
    with running_sandbox(2, vast_offer_count=300, clock=lambda: now[0], tick_seconds=10) as url:
        ids_at_zero = {
            o["id"] for o in httpx.post(url + OFFERS, json={"limit": 999}).json()["offers"]
        }
        now[0] += 25
        assert httpx.get(url + "/_sandbox/health").json()["tick"] == 2
        moved = httpx.post(url + "/_sandbox/advance", json={"ticks": 100})
        assert moved.json()["tick"] == 102
        later = httpx.post(url + OFFERS, json={"limit": 999}).json()["offers"]
        assert ids_at_zero != {offer["id"] for offer in later}
        assert httpx.post(url + "/_sandbox/advance", json={"ticks": -1}).status_code == 400
