"""Sandbox-only instance controls under `/_sandbox/instances`.

* `GET /_sandbox/instances`: every instance ever created, destroyed ones included, with
  its SSH port and host key (OpenSSH line and SHA256 fingerprint) for pinning.
* `GET /_sandbox/instances/{provider}/{id}`: one of them.
* `POST /_sandbox/instances/{provider}/{id}/gpu` {"utilization": 85, "power_w": 300,
  "memory_used_mib": 20000, "temperature_c": 70}: what `nvidia-smi` reports from now on.
* `POST /_sandbox/instances/{provider}/{id}/crash` {"status": "exited"}: the machine dies.
"""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.instances import PROVIDERS, VASTAI, Instance
from shopper_pipelines.sandbox.responses import json_response
from shopper_pipelines.sandbox.state import sandbox_state

GPU_READINGS = {
    "utilization": (0, 100),
    "power_w": (0, 2000),
    "memory_used_mib": (0, 10_000_000),
    "temperature_c": (0, 120),
}
CRASH_STATUSES = {VASTAI: ("exited", "offline", "unknown"), "tensordock": ("stopped", "error")}


def describe(instance: Instance) -> dict[str, Any]:
    """The admin view of one instance."""
    return {
        "provider": instance.provider,
        "id": instance.id,
        "label": instance.label,
        "status": instance.phase(),
        "ssh_host": "127.0.0.1",
        "ssh_port": instance.port,
        "inference_port": instance.inference_port,
        "host_key": instance.host_key_line,
        "host_key_fingerprint": instance.host_key.get_fingerprint("sha256"),
        "users": sorted(instance.users),
        "destroyed": instance.destroyed,
        "authorized_keys": len(instance.keys),
        "gpu": instance.gpu.driver_name,
        "num_gpus": instance.gpu.count,
        "offer_id": instance.offer_id,
        "location_id": instance.location_id,
        "stuck_loading": instance.stuck,
        "ssh_never_ready": instance.refuse_ssh,
        "folder": str(instance.home),
        "created_at": instance.created_at,
    }


def _error(status: int, message: str) -> Response:
    return json_response({"success": False, "error": message}, status)


def _instance(request: Request) -> Instance | Response:
    provider = request.path_params["provider"]
    if provider not in PROVIDERS:
        return _error(404, f"provider must be one of {list(PROVIDERS)}, got {provider!r}")
    instance = sandbox_state(request).instances.find(provider, request.path_params["ident"])
    return instance if instance is not None else _error(404, "no such instance")


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def list_all(request: Request) -> Response:
    instances = sandbox_state(request).instances.everything()
    return json_response({"instances": [describe(instance) for instance in instances]})


async def show(request: Request) -> Response:
    found = _instance(request)
    return found if isinstance(found, Response) else json_response(describe(found))


async def set_gpu(request: Request) -> Response:
    found = _instance(request)
    if isinstance(found, Response):
        return found
    body = await _body(request)
    if body is None or not body or set(body) - set(GPU_READINGS):
        return _error(400, f"body must be an object with some of {sorted(GPU_READINGS)}")
    for name, value in body.items():
        low, high = GPU_READINGS[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            return _error(400, f"{name} must be a number in {low}-{high}, got {value!r}")
    if found.destroyed:
        return _error(409, "instance is destroyed")
    state = sandbox_state(request).instances.set_gpu(found, **body)
    return json_response({"success": True, "gpu": state})


async def crash(request: Request) -> Response:
    found = _instance(request)
    if isinstance(found, Response):
        return found
    allowed = CRASH_STATUSES[found.provider]
    body = await _body(request)
    status = (body or {}).get("status", allowed[0])
    if status not in allowed:
        return _error(400, f"status must be one of {list(allowed)}, got {status!r}")
    if found.destroyed:
        return _error(409, "instance is destroyed")
    await sandbox_state(request).instances.crash(found, status)
    return json_response({"success": True, "instance": describe(found)})


def instance_admin_routes() -> list[Route]:
    base = "/_sandbox/instances/{provider}/{ident}"
    return [
        Route("/_sandbox/instances", list_all, methods=["GET"]),
        Route(base, show, methods=["GET"]),
        Route(f"{base}/gpu", set_gpu, methods=["POST"]),
        Route(f"{base}/crash", crash, methods=["POST"]),
    ]
