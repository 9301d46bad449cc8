"""Vast instances in the sandbox over real HTTP, reached over real SSH on 127.0.0.1."""

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sandbox.vast_pricing import price_fields
from tests.sandbox.conftest import (
    BOOT_SECONDS,
    RENT_DISK_GB,
    public_line,
    rent_vast,
    ssh_run,
    vast_offer,
    vast_offers,
    vast_running,
    wait_for,
)

QUERY = (
    "nvidia-smi --query-gpu=name,memory.total,utilization.gpu,power.draw,driver_version"
    " --format=csv,noheader,nounits"
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        running_sandbox(3, vast_offer_count=300, boot_seconds=BOOT_SECONDS) as url,
        httpx.Client(base_url=url) as http,
    ):
        yield http


def _running_instance(client: httpx.Client, key: asyncssh.SSHKey, **query: Any) -> dict:
    offer = vast_offers(client, **query)[0]
    ident = rent_vast(client, offer["id"]).json()["new_contract"]
    client.post(f"/api/v0/instances/{ident}/ssh/", json={"ssh_key": public_line(key)})
    return wait_for(lambda: vast_running(client, ident))


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_vast_instance_boots_serves_ssh_and_is_destroyed(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    offer = vast_offer(client)
    created = rent_vast(client, offer["id"], label="shopper-abc-1")
    assert created.status_code == 200
    assert created.json()["success"] is True and created.json()["instance_api_key"]
    ident = created.json()["new_contract"]
    assert isinstance(ident, int)
    attached = client.post(
        f"/api/v0/instances/{ident}/ssh/", json={"ssh_key": public_line(client_key)}
    )
    assert attached.json() == {"success": True}
    early = client.get(f"/api/v0/instances/{ident}/", params={"owner": "me"}).json()["instances"]
    assert early["actual_status"] in (None, "loading") and early["ports"] is None
    assert wait_for(
        lambda: (
            client.get(f"/api/v0/instances/{ident}/").json()["instances"]["actual_status"]
            == "loading"
        )
    )

    record = wait_for(lambda: vast_running(client, ident))
    port = record["ssh_port"]
    assert record["ports"] == {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    assert (record["label"], record["public_ipaddr"], record["ssh_host"]) == (
        "shopper-abc-1",
        "127.0.0.1",
        "127.0.0.1",
    )
    # Priced for the disk asked for at create (rent_vast's), as Vast bills it.
    billed = price_fields(offer, float(RENT_DISK_GB))["dph_total"]
    assert record["dph_total"] == billed and record["gpu_name"] == "RTX 4090"
    assert record["machine_id"] == offer["machine_id"] and record["start_date"] > 0

    result = ssh_run(port, client_key, QUERY)
    assert result.exit_status == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == offer["num_gpus"]
    name, memory, utilization, _power, driver = lines[0].split(", ")
    assert name == "NVIDIA GeForce RTX 4090"
    assert (int(memory), int(utilization), driver) == (offer["gpu_ram"], 0, offer["driver_version"])
    table = ssh_run(port, client_key, "nvidia-smi").stdout
    assert f"CUDA Version: {offer['cuda_max_good']:.1f}" in table

    assert client.delete(f"/api/v0/instances/{ident}/").json() == {"success": True}
    assert client.get(f"/api/v0/instances/{ident}/").json() == {"instances": None}
    assert not _port_open(port)
    gone = client.delete(f"/api/v0/instances/{ident}/")
    assert (gone.status_code, gone.json()["error"]) == (404, "no_such_instance")


def test_vast_ssh_passes_exit_status_streams_and_stdin(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    port = _running_instance(client, client_key)["ssh_port"]
    result = ssh_run(port, client_key, "echo out; echo err >&2; cat; pwd; exit 7", input="fed\n")
    assert result.exit_status == 7
    out = result.stdout.splitlines()
    assert out[:2] == ["out", "fed"] and out[2].endswith("/home")
    assert result.stderr == "err\n"
    assert ssh_run(port, client_key, 'test "$HOME" = "$(pwd)" && echo $USER').stdout == "root\n"


def test_vast_ssh_refuses_other_keys_and_users(
    client: httpx.Client, client_key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    port = _running_instance(client, client_key)["ssh_port"]
    with pytest.raises(asyncssh.PermissionDenied):
        ssh_run(port, other_key, "true")
    with pytest.raises(asyncssh.PermissionDenied):
        ssh_run(port, client_key, "true", user="user")


def test_vast_host_key_is_pinnable_and_differs_per_instance(
    client: httpx.Client, client_key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    first = _running_instance(client, client_key)
    second = _running_instance(client, client_key)
    admin = {i["id"]: i for i in client.get("/_sandbox/instances").json()["instances"]}
    first_key, second_key = admin[first["id"]]["host_key"], admin[second["id"]]["host_key"]
    assert first_key != second_key and admin[first["id"]]["ssh_port"] == first["ssh_port"]
    pinned = ([asyncssh.import_public_key(first_key)], [], [])
    ok = ssh_run(first["ssh_port"], client_key, "echo pinned", known_hosts=pinned)
    assert ok.stdout == "pinned\n"
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        ssh_run(second["ssh_port"], client_key, "true", known_hosts=pinned)


async def _sftp_round_trip(port: int, key: asyncssh.SSHKey, local: Path) -> list[str]:
    async with (
        asyncssh.connect(
            "127.0.0.1", port, username="root", client_keys=[key], known_hosts=None
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        await sftp.mkdir("data")
        await sftp.put(str(local / "up.txt"), "data/up.txt")
        await sftp.get("data/up.txt", str(local / "down.txt"))
        await sftp.put(str(local / "up.txt"), "../../escape.txt")
        return sorted(await sftp.listdir("/"))


def test_vast_sftp_stays_inside_the_instance_folder(
    client: httpx.Client, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    record = _running_instance(client, client_key)
    (tmp_path / "up.txt").write_text("weights\n")
    listing = asyncio.run(_sftp_round_trip(record["ssh_port"], client_key, tmp_path))
    assert (tmp_path / "down.txt").read_text() == "weights\n"
    assert "escape.txt" in listing and "data" in listing
    admin = client.get(f"/_sandbox/instances/vastai/{record['id']}").json()
    home = Path(admin["folder"])
    assert (home / "data" / "up.txt").read_text() == "weights\n"
    assert (home / "escape.txt").exists()
    assert not (home.parent / "escape.txt").exists()
    assert not (home.parent.parent / "escape.txt").exists()
    seen = ssh_run(record["ssh_port"], client_key, "cat data/up.txt").stdout
    assert seen == "weights\n"


def test_vast_admin_gpu_reading_shows_in_nvidia_smi(
    client: httpx.Client, client_key: asyncssh.SSHKey
) -> None:
    record = _running_instance(client, client_key)
    path = f"/_sandbox/instances/vastai/{record['id']}/gpu"
    assert client.post(path, json={"utilization": 85, "power_w": 300}).json()["success"]
    fields = "utilization.gpu,power.draw,temperature.gpu,memory.used"
    output = ssh_run(
        record["ssh_port"], client_key, f"nvidia-smi --query-gpu={fields} --format=csv"
    )
    header, first = output.stdout.splitlines()[:2]
    assert header == "utilization.gpu [%], power.draw [W], temperature.gpu, memory.used [MiB]"
    assert first.startswith("85 %, 300.00 W, ")
    assert client.post(path, json={"utilization": 101}).status_code == 400
    assert client.post(path, json={"colour": 1}).status_code == 400


def test_vast_rented_or_unknown_offer_is_no_such_ask(client: httpx.Client) -> None:
    offer = vast_offers(client, gpu_name={"eq": "RTX 3090"})[0]
    assert rent_vast(client, offer["id"]).status_code == 200
    again = rent_vast(client, offer["id"])
    assert again.status_code == 404
    assert again.json() == {
        "success": False,
        "error": "invalid_args",
        "msg": f"error 404/3603: no_such_ask Instance type by id {offer['id']} is not available.",
        "ask_id": offer["id"],
    }
    listed = [o["id"] for o in vast_offers(client, 500, gpu_name={"eq": "RTX 3090"})]
    assert offer["id"] not in listed
    assert rent_vast(client, 123).json()["msg"].startswith("error 404/3603: no_such_ask")


def test_vast_create_checks_its_body(client: httpx.Client) -> None:
    offer_id = vast_offers(client, 3)[-1]["id"]
    no_image = client.put(f"/api/v0/asks/{offer_id}/", json={"client_id": "me", "disk": 16})
    assert (no_image.status_code, no_image.json()["error"]) == (400, "invalid_args")
    not_json = client.put(f"/api/v0/asks/{offer_id}/", content=b"{")
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_request")
    bad_key = client.post("/api/v0/instances/1/ssh/", json={"ssh_key": "ssh-ed25519 AAAA"})
    assert bad_key.status_code == 404


def test_vast_templates_filter_and_rent_by_hash(client: httpx.Client) -> None:
    everything = client.get("/api/v0/template/").json()
    assert everything["success"] and everything["templates_found"] == len(everything["templates"])
    ollama = next(t for t in everything["templates"] if t["name"] == "Ollama")
    assert len(ollama["hash_id"]) == 32 and ollama["use_ssh"] is True
    found = client.get(
        "/api/v0/template/",
        params={"select_filters": f'{{"hash_id": {{"eq": "{ollama["hash_id"]}"}}}}'},
    ).json()
    assert [t["id"] for t in found["templates"]] == [ollama["id"]]
    offer_id = vast_offers(client, 4)[-1]["id"]
    body = {"client_id": "me", "template_hash_id": ollama["hash_id"], "label": "tpl"}
    ident = client.put(f"/api/v0/asks/{offer_id}/", json=body).json()["new_contract"]
    record = client.get(f"/api/v0/instances/{ident}/").json()["instances"]
    assert record["image_uuid"] == f"{ollama['image']}:{ollama['tag']}"
    assert ["OLLAMA_HOST", "0.0.0.0:11434"] in record["extra_env"]
    assert record["template_hash_id"] == ollama["hash_id"]


def test_vast_attached_key_works_after_the_key_delay(client_key: asyncssh.SSHKey) -> None:
    with running_sandbox(4, vast_offer_count=100, boot_seconds=0.0, key_delay_seconds=0.6) as url:
        http = httpx.Client(base_url=url)
        ident = rent_vast(http, vast_offers(http)[0]["id"]).json()["new_contract"]
        http.post(f"/api/v0/instances/{ident}/ssh/", json={"ssh_key": public_line(client_key)})
        port = wait_for(lambda: vast_running(http, ident))["ssh_port"]
        with pytest.raises(asyncssh.PermissionDenied):
            ssh_run(port, client_key, "true")
        assert wait_for(lambda: _logs_in(port, client_key))
        http.close()


def _logs_in(port: int, key: asyncssh.SSHKey) -> bool:
    try:
        return ssh_run(port, key, "true").exit_status == 0
    except asyncssh.PermissionDenied:
        return False
