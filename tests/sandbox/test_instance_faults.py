"""Instance faults: offer gone, leaking create, lying destroy, stuck boots, SSH never ready."""

import socket
import threading
import time
from collections.abc import Iterator

import asyncssh
import httpx
import pytest

from shopper_pipelines.sandbox.faults import parse_fault_spec
from shopper_pipelines.sandbox.server import running_sandbox
from tests.sandbox.conftest import (
    BOOT_SECONDS,
    public_line,
    rent_vast,
    ssh_run,
    tensordock_body,
    tensordock_place,
    vast_offers,
    vast_running,
    wait_for,
)
from tests.sandbox_support import queue_faults

TD = "/api/v2/instances"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with (
        running_sandbox(9, vast_offer_count=200, boot_seconds=BOOT_SECONDS) as url,
        httpx.Client(base_url=url) as http,
    ):
        yield http


def _vast_labels(client: httpx.Client) -> list[str]:
    return [row["label"] for row in client.get("/api/v1/instances/").json()["instances"]]


def _td(client: httpx.Client, key: asyncssh.SSHKey, name: str) -> httpx.Response:
    location_id, v0_name = tensordock_place(client)
    return client.post(TD, json=tensordock_body(location_id, v0_name, public_line(key), name=name))


def test_fault_gone_answers_each_providers_gone(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    queue_faults(str(client.base_url), "vastai.create", {"behaviour": "gone"})
    strings = {"route": "tensordock.create", "responses": ["gone"]}
    assert client.post("/_sandbox/faults", json=strings).status_code == 200
    offer_id = vast_offers(client)[0]["id"]
    gone = rent_vast(client, offer_id)
    assert gone.status_code == 404 and "no_such_ask" in gone.json()["msg"]
    assert gone.json()["ask_id"] == offer_id
    td = _td(client, client_key, "td-gone")
    assert (td.status_code, td.json()) == (
        200,
        {"error": "No available nodes found", "status": 400},
    )
    assert rent_vast(client, offer_id).status_code == 200
    assert client.get("/_sandbox/faults").json() == {"queued": {}}


def test_fault_create_leaks_leaves_a_listed_instance(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    queue_faults(str(client.base_url), "vastai.create", {"behaviour": "create-leaks"})
    queue_faults(str(client.base_url), "tensordock.create", {"behaviour": "create-leaks"})
    leaked = rent_vast(client, vast_offers(client)[0]["id"], label="shopper-leak")
    assert leaked.status_code == 500
    body = leaked.json()
    assert body["success"] is False and body["error"] == "internal"
    assert isinstance(body["new_contract"], int) and "shopper-leak" in _vast_labels(client)
    td = _td(client, client_key, "td-leak")
    assert td.status_code == 500 and "id" not in td.json()
    assert [item["name"] for item in client.get(TD).json()["data"]] == ["td-leak"]


def test_fault_destroy_lies_keeps_the_instance(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    ident = rent_vast(client, vast_offers(client)[0]["id"], label="kept").json()["new_contract"]
    td_id = _td(client, client_key, "td-kept").json()["data"]["id"]
    queue_faults(str(client.base_url), "vastai.destroy", {"behaviour": "destroy-lies"})
    queue_faults(str(client.base_url), "tensordock.destroy", {"behaviour": "destroy-lies"})
    assert client.delete(f"/api/v0/instances/{ident}/").json() == {"success": True}
    assert client.get(f"/api/v0/instances/{ident}/").json()["instances"]["label"] == "kept"
    assert client.delete(f"{TD}/{td_id}").status_code == 200
    assert client.get(f"{TD}/{td_id}").json()["name"] == "td-kept"
    assert client.delete(f"/api/v0/instances/{ident}/").json() == {"success": True}
    assert client.get(f"/api/v0/instances/{ident}/").json() == {"instances": None}


def test_fault_stuck_loading_never_boots(client: httpx.Client, client_key: asyncssh.SSHKey) -> None:
    queue_faults(str(client.base_url), "vastai.create", {"behaviour": "stuck-loading"})
    queue_faults(str(client.base_url), "tensordock.create", {"behaviour": "stuck-loading"})
    ident = rent_vast(client, vast_offers(client)[0]["id"]).json()["new_contract"]
    td_id = _td(client, client_key, "td-stuck").json()["data"]["id"]
    time.sleep(BOOT_SECONDS * 3)
    record = client.get(f"/api/v0/instances/{ident}/").json()["instances"]
    assert (record["actual_status"], record["ports"], record["ssh_port"]) == ("loading", None, None)
    td = client.get(f"{TD}/{td_id}").json()
    assert td["status"] == "running" and "ipAddress" not in td


def test_fault_ssh_never_ready_refuses_every_key(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    queue_faults(str(client.base_url), "vastai.create", {"behaviour": "ssh-never-ready"})
    ident = rent_vast(client, vast_offers(client)[0]["id"]).json()["new_contract"]
    client.post(f"/api/v0/instances/{ident}/ssh/", json={"ssh_key": public_line(client_key)})
    record = wait_for(lambda: vast_running(client, ident))
    assert record["ports"]["22/tcp"][0]["HostPort"] == str(record["ssh_port"])
    with pytest.raises(asyncssh.PermissionDenied):
        ssh_run(record["ssh_port"], client_key, "true")


def test_fault_status_items_on_instance_routes(client: httpx.Client) -> None:
    queue_faults(str(client.base_url), "vastai.list", {"status": 500})
    queue_faults(str(client.base_url), "tensordock.list", {"status": 500})
    queue_faults(str(client.base_url), "vastai.get", {"status": 429})
    assert client.get("/api/v1/instances/").status_code == 500
    assert client.get(TD).status_code == 500
    assert client.get("/api/v0/instances/1/").status_code == 429
    assert client.get("/api/v1/instances/").json()["instances"] == []
    refused = client.post(
        "/_sandbox/faults", json={"route": "vastai.list", "responses": ["destroy-lies"]}
    )
    assert refused.status_code == 400


def test_fault_cli_specs_mix_statuses_and_behaviours() -> None:
    route, faults = parse_fault_spec("vastai.create=gone,429,create-leaks")
    assert route == "vastai.create"
    assert [(f.behaviour, f.status) for f in faults] == [
        ("gone", 0),
        (None, 429),
        ("create-leaks", 0),
    ]
    with pytest.raises(ValueError, match="does not apply"):
        parse_fault_spec("vastai.destroy=gone")
    with running_sandbox(1, vast_offer_count=100, faults=["vastai.create=gone"]) as url:
        offer_id = vast_offers(httpx.Client(base_url=url))[0]["id"]
        assert httpx.put(f"{url}/api/v0/asks/{offer_id}/", json={"image": "x"}).status_code == 404


def test_crash_and_shutdown_close_every_port(client_key: asyncssh.SSHKey) -> None:
    with running_sandbox(2, vast_offer_count=100, boot_seconds=BOOT_SECONDS) as url:
        client = httpx.Client(base_url=url)
        idents = [rent_vast(client, o["id"]).json()["new_contract"] for o in vast_offers(client, 2)]
        ports = [wait_for(lambda i=i: vast_running(client, i))["ssh_port"] for i in idents]
        ident = idents[1]
        crashed = client.post(
            f"/_sandbox/instances/vastai/{ident}/crash", json={"status": "exited"}
        )
        assert crashed.json()["instance"]["status"] == "crashed"
        record = client.get(f"/api/v0/instances/{ident}/").json()["instances"]
        assert (record["actual_status"], record["ports"]) == ("exited", None)
        assert _closed(ports[1])
        client.close()
    assert all(_closed(port) for port in ports)
    assert not [t for t in threading.enumerate() if t.name == "sandbox-ssh"]


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_fault_cli_specs_accept_route_only_inference_behaviours() -> None:
    """Bug: `--fault inference.generate=stream-stalls` was refused because the CLI parser
    knew only the behaviours shared by every route, not those of one route."""
    route, faults = parse_fault_spec("inference.generate=stream-stalls,503")
    assert route == "inference.generate"
    assert [(f.behaviour, f.status) for f in faults] == [("stream-stalls", 0), (None, 503)]
    with pytest.raises(ValueError, match="behaviour"):
        parse_fault_spec("vastai.offers=stream-stalls")
