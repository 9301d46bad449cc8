"""Listing instances: Vast v1 pages with tokens, TensorDock's three list shapes."""

import httpx
import pytest

from shopper_pipelines.sandbox.app import create_app
from shopper_pipelines.sandbox.server import running_sandbox
from tests.sandbox.conftest import rent_vast, tensordock_body, tensordock_place, vast_offers

SLOW_BOOT = 60.0  # these tests never need SSH, so no server starts
LIST_V1 = "/api/v1/instances/"


def test_vast_list_v1_pages_with_tokens() -> None:
    with running_sandbox(6, vast_offer_count=300, boot_seconds=SLOW_BOOT) as url:
        client = httpx.Client(base_url=url)
        offers = vast_offers(client, 30)
        created = [
            rent_vast(client, o["id"], label=f"l-{i % 2}").json()["new_contract"]
            for i, o in enumerate(offers)
        ]
        first = client.get(LIST_V1).json()
        assert first["success"] and len(first["instances"]) == first["instances_found"] == 25
        assert first["total_instances"] == 30 and first["label_counts"] == {"l-0": 15, "l-1": 15}
        second = client.get(LIST_V1, params={"after_token": first["next_token"]}).json()
        assert second["next_token"] is None and len(second["instances"]) == 5
        seen = [row["id"] for row in first["instances"] + second["instances"]]
        assert seen == sorted(created)

        small, pages = client.get(LIST_V1, params={"limit": 10}).json(), 1
        while small["next_token"]:
            small = client.get(
                LIST_V1, params={"limit": 10, "after_token": small["next_token"]}
            ).json()
            pages += 1
        assert pages == 3
        assert len(client.get(LIST_V1, params={"limit": 99}).json()["instances"]) == 25
        assert len(client.get(LIST_V1, params={"limit": 0}).json()["instances"]) == 5
        filtered = client.get(LIST_V1, params={"select_filters": '{"label": {"eq": "l-1"}}'})
        assert filtered.json()["total_instances"] == 15
        bad = client.get(LIST_V1, params={"after_token": "not-a-token"})
        assert (bad.status_code, bad.json()) == (
            400,
            {"success": False, "error": "invalid_token", "msg": bad.json()["msg"]},
        )
        assert client.get("/api/v0/instances/").status_code == 410
        client.close()


@pytest.mark.parametrize(
    ("shape", "path"),
    [(0, ("data",)), (1, ("data", "instances")), (2, ("data", "attributes", "instances"))],
)
def test_tensordock_list_has_each_real_shape(shape: int, path: tuple[str, ...]) -> None:
    with running_sandbox(8, vast_offer_count=100, boot_seconds=SLOW_BOOT, list_shape=shape) as url:
        client = httpx.Client(base_url=url)
        location_id, v0_name = tensordock_place(client)
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSbzU4k0wP7rVHk6X1wWqvKDXkMPXu7UeIJj3l0JEEZ"
        body = tensordock_body(location_id, v0_name, key, name="listed-1")
        ident = client.post("/api/v2/instances", json=body).json()["data"]["id"]
        listed = client.get("/api/v2/instances").json()
        for part in path:
            listed = listed[part]
        assert [(item["id"], item["name"], item["status"]) for item in listed] == [
            (ident, "listed-1", "running")
        ]
        client.close()


def test_tensordock_list_shape_follows_the_seed_when_unset() -> None:
    with pytest.raises(ValueError, match="list_shape"):
        create_app(0, list_shape=3)
    with running_sandbox(4, vast_offer_count=100, list_shape=None) as url:
        assert httpx.get(url + "/api/v2/instances").json() == {"data": {"instances": []}}
