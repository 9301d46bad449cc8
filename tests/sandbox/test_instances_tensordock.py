"""TensorDock v2 instances in the sandbox: create, flat get, SSH as user and root, delete."""

import io
from collections.abc import Iterator

import asyncssh
import httpx
import paramiko
import pytest

from shopper_pipelines.sandbox.server import running_sandbox
from tests.sandbox.conftest import (
    BOOT_SECONDS,
    public_line,
    ssh_run,
    tensordock_body,
    tensordock_place,
    wait_for,
)

INSTANCES = "/api/v2/instances"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        running_sandbox(5, vast_offer_count=100, boot_seconds=BOOT_SECONDS) as url,
        httpx.Client(base_url=url) as http,
    ):
        yield http


def _booted(client: httpx.Client, ident: str) -> dict | None:
    record = client.get(f"{INSTANCES}/{ident}").json()
    return record if "ipAddress" in record else None


def _paramiko_run(port: int, key: asyncssh.SSHKey, user: str, command: str) -> str:
    pkey = paramiko.Ed25519Key.from_private_key(
        io.StringIO(key.export_private_key("openssh").decode())
    )
    with paramiko.SSHClient() as ssh:
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        ssh.connect(
            "127.0.0.1", port, username=user, pkey=pkey, look_for_keys=False, allow_agent=False
        )
        _stdin, stdout, _stderr = ssh.exec_command(command)
        return stdout.read().decode()


def test_tensordock_instance_boots_and_serves_user_and_root(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    location_id, v0_name = tensordock_place(client)
    body = tensordock_body(location_id, v0_name, public_line(client_key), name="shopper-td-1")
    created = client.post(INSTANCES, json=body)
    assert created.status_code == 200
    data = created.json()["data"]
    assert (data["type"], data["name"], data["status"]) == (
        "virtualmachine",
        "shopper-td-1",
        "running",
    )
    assert "ipAddress" not in data
    early = client.get(f"{INSTANCES}/{data['id']}").json()
    assert early["id"] == data["id"] and early["status"] == "running"
    assert "ipAddress" not in early and "portForwards" not in early

    record = wait_for(lambda: _booted(client, data["id"]))
    assert record["ipAddress"] == "127.0.0.1" and record["type"] == "virtualmachine"
    [forward] = record["portForwards"]
    assert forward["internal_port"] == 22
    assert record["resources"]["gpus"] == {v0_name: {"count": 1, "v0Name": v0_name}}
    assert record["rateHourly"] > 0
    port = forward["external_port"]
    assert _paramiko_run(port, client_key, "user", "echo $USER $HOME").startswith("user /")
    name = ssh_run(port, client_key, "nvidia-smi -L", user="root").stdout
    assert name.startswith("GPU 0: NVIDIA ") and "(UUID: GPU-" in name

    deleted = client.delete(f"{INSTANCES}/{data['id']}")
    assert deleted.json() == {
        "data": {"type": "success", "attributes": {"message": "Instance deleted successfully"}}
    }
    gone = client.get(f"{INSTANCES}/{data['id']}")
    assert (gone.status_code, gone.json()) == (404, {"error": "Instance not found"})
    assert client.delete(f"{INSTANCES}/{data['id']}").status_code == 404


def test_tensordock_key_from_cloud_init_runcmd_is_authorised(
    client: httpx.Client, client_key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    location_id, v0_name = tensordock_place(client)
    line = public_line(other_key)
    runcmd = [f"mkdir -p /root/.ssh && echo '{line}' >> /root/.ssh/authorized_keys"]
    body = tensordock_body(
        location_id, v0_name, public_line(client_key), cloud_init={"runcmd": runcmd}
    )
    ident = client.post(INSTANCES, json=body).json()["data"]["id"]
    port = wait_for(lambda: _booted(client, ident))["portForwards"][0]["external_port"]
    assert ssh_run(port, other_key, "echo via-runcmd").stdout == "via-runcmd\n"
    assert ssh_run(port, client_key, "echo via-key", user="user").stdout == "via-key\n"
    with pytest.raises(asyncssh.PermissionDenied):
        ssh_run(port, client_key, "true", user="ubuntu")


def test_tensordock_validation_errors_are_an_array(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    location_id, v0_name = tensordock_place(client)
    body = tensordock_body(location_id, v0_name, public_line(client_key))
    del body["data"]["attributes"]["name"]
    missing = client.post(INSTANCES, json=body)
    assert missing.status_code == 400
    assert missing.json() == [
        {"code": "invalid_type", "message": "Required", "path": ["data", "attributes", "name"]}
    ]
    small = tensordock_body(location_id, v0_name, public_line(client_key))
    small["data"]["attributes"]["resources"]["storage_gb"] = 50
    [issue] = client.post(INSTANCES, json=small).json()
    assert issue["code"] == "too_small"
    assert issue["path"] == ["data", "attributes", "resources", "storage_gb"]
    not_json = client.post(INSTANCES, content=b"{")
    assert not_json.status_code == 400 and isinstance(not_json.json(), list)


def test_tensordock_no_capacity_is_http_200_with_an_error(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    location_id, v0_name = tensordock_place(client)
    key = public_line(client_key)
    nowhere = client.post(INSTANCES, json=tensordock_body("no-such-place", v0_name, key))
    assert (nowhere.status_code, nowhere.json()) == (
        200,
        {"error": "No available nodes found", "status": 400},
    )
    too_many = tensordock_body(location_id, v0_name, key)
    too_many["data"]["attributes"]["resources"]["gpus"][v0_name]["count"] = 99
    answer = client.post(INSTANCES, json=too_many)
    assert answer.status_code == 200 and answer.json()["error"] == "No available nodes found"
