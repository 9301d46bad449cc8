"""Helpers for the instance tests: client keys, polling, and real SSH through asyncssh."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncssh
import httpx
import pytest

T = TypeVar("T")
BOOT_SECONDS = 0.2
WAIT_S = 5.0


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="session")
def other_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


def wait_for(probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"nothing after {timeout}s")


@dataclass(frozen=True)
class Ran:
    """What one SSH command gave back, as text."""

    exit_status: int
    stdout: str
    stderr: str


async def _run(port: int, key: asyncssh.SSHKey, user: str, command: str, **kw: Any) -> Ran:
    async with asyncssh.connect(
        "127.0.0.1",
        port,
        username=user,
        client_keys=[key],
        known_hosts=kw.pop("known_hosts", None),
        agent_path=None,
        config=None,
        connect_timeout=5,
    ) as conn:
        done = await conn.run(command, check=False, **kw)
    return Ran(done.exit_status or 0, str(done.stdout or ""), str(done.stderr or ""))


def ssh_run(port: int, key: asyncssh.SSHKey, command: str, user: str = "root", **kw: Any) -> Ran:
    """Run one command over real SSH; returns exit status, stdout and stderr."""
    return asyncio.run(_run(port, key, user, command, **kw))


def vast_offers(client: httpx.Client, limit: int = 1, **query: Any) -> list[dict[str, Any]]:
    """Usable offers (GPUs present, priced), lowest id first."""
    usable = {"num_gpus": {"gte": 1}, "dph_total": {"gt": 0}, "gpu_name": {"neq": None}}
    body = {**usable, **query, "order": [["id", "asc"]], "limit": limit}
    return client.post("/api/v0/bundles/", json=body).json()["offers"]


def vast_offer(client: httpx.Client, gpu_name: str = "RTX 4090") -> dict[str, Any]:
    return vast_offers(client, gpu_name={"eq": gpu_name})[0]


RENT_DISK_GB = 16


def rent_vast(client: httpx.Client, offer_id: int, label: str = "t-1") -> httpx.Response:
    body = {"client_id": "me", "image": "vastai/base-image", "disk": RENT_DISK_GB, "label": label}
    return client.put(f"/api/v0/asks/{offer_id}/", json={**body, "runtype": "ssh_direc"})


def vast_running(client: httpx.Client, ident: int) -> dict[str, Any] | None:
    record = client.get(f"/api/v0/instances/{ident}/").json()["instances"]
    return record if record and record["actual_status"] == "running" else None


def tensordock_body(location_id: str, v0_name: str, key_line: str, **attributes: Any) -> dict:
    resources = {"vcpu_count": 4, "ram_gb": 16, "storage_gb": 100}
    attrs: dict[str, Any] = {
        "name": "t-td",
        "type": "virtualmachine",
        "image": "ubuntu2204",
        "location_id": location_id,
        "resources": {**resources, "gpus": {v0_name: {"count": 1}}},
        "port_forwards": [{"internal_port": 22, "external_port": 20022}],
        "ssh_key": key_line,
    }
    return {"data": {"type": "virtualmachine", "attributes": {**attrs, **attributes}}}


def tensordock_place(client: httpx.Client) -> tuple[str, str]:
    """(location id, v0 name) of some GPU in stock now."""
    for place in client.get("/api/v2/locations").json()["data"]["locations"]:
        for gpu in place["gpus"]:
            if gpu["max_count"] >= 1:
                return place["id"], gpu["v0Name"]
    raise AssertionError("no TensorDock stock")
