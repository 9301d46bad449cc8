"""TensorDock v2 instance paths: create, get (flat), list (three shapes), delete.

Shapes follow providers.md §2.6-2.11: validation errors are a JSON array of
{code, message, path}; "no capacity" is HTTP 200 carrying {"error", "status": 400}.
"""

import logging
import re
from typing import Any

import asyncssh
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.faults import (
    CREATE_BEHAVIOURS,
    CREATE_LEAKS,
    DESTROY_BEHAVIOURS,
    DESTROY_LIES,
    GONE,
    SSH_NEVER_READY,
    STUCK_LOADING,
    register_route,
)
from shopper_pipelines.sandbox.instance_records import tensordock_gpu, tensordock_record
from shopper_pipelines.sandbox.instances import TENSORDOCK
from shopper_pipelines.sandbox.responses import json_response, tensordock_error
from shopper_pipelines.sandbox.state import SandboxState, admit, gate, sandbox_state

logger = logging.getLogger(__name__)

CREATE, DESTROY = "tensordock.create", "tensordock.destroy"
GET, LIST = "tensordock.get", "tensordock.list"
register_route(GET)
register_route(LIST)
register_route(CREATE, CREATE_BEHAVIOURS)
register_route(DESTROY, DESTROY_BEHAVIOURS)

MIN_STORAGE_GB = 100
NO_NODES = "No available nodes found"
LIST_SHAPES = 3
PUBLIC_KEY = re.compile(r"(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*")
# (path under data.attributes, expected JSON type name, Python types)
REQUIRED: tuple[tuple[tuple[str, ...], str, tuple[type, ...]], ...] = (
    (("name",), "string", (str,)),
    (("image",), "string", (str,)),
    (("resources",), "object", (dict,)),
    (("resources", "vcpu_count"), "number", (int, float)),
    (("resources", "ram_gb"), "number", (int, float)),
    (("resources", "storage_gb"), "number", (int, float)),
    (("resources", "gpus"), "object", (dict,)),
)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", str: "string", int: "number", float: "number", list: "array"}
    return names.get(type(value), "object")


def _issue(code: str, message: str, path: list[str]) -> dict[str, Any]:
    return {"code": code, "message": message, "path": path}


def validate(body: object) -> list[dict[str, Any]]:
    """Zod-style issues for a create body; empty when it is well formed."""
    data = body.get("data") if isinstance(body, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attributes, dict):
        where = ["data"] if not isinstance(data, dict) else ["data", "attributes"]
        found = _type_name(attributes if isinstance(data, dict) else data)
        message = "Required" if found == "null" else f"Expected object, received {found}"
        return [_issue("invalid_type", message, where)]
    issues = []
    for path, expected, types in REQUIRED:
        value: Any = attributes
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, bool) or not isinstance(value, types):
            found = _type_name(value)
            message = "Required" if value is None else f"Expected {expected}, received {found}"
            issues.append(_issue("invalid_type", message, ["data", "attributes", *path]))
    storage = (attributes.get("resources") or {}).get("storage_gb")
    if (
        isinstance(storage, int | float)
        and not isinstance(storage, bool)
        and storage < MIN_STORAGE_GB
    ):
        message = f"Number must be greater than or equal to {MIN_STORAGE_GB}"
        path = ["data", "attributes", "resources", "storage_gb"]
        issues.append(_issue("too_small", message, path))
    if not attributes.get("location_id") and not attributes.get("hostnode_id"):
        issues.append(_issue("custom", "location_id or hostnode_id is required", ["data"]))
    if not attributes.get("ssh_key") and not attributes.get("ssh_key_id"):
        message = "An SSH key is required for non-Windows images"
        issues.append(_issue("custom", message, ["data", "attributes", "ssh_key"]))
    return issues


def public_keys(attributes: dict[str, Any]) -> list[bytes]:
    """Key blobs from `ssh_key` and every `cloud_init.runcmd` line."""
    texts = [str(attributes.get("ssh_key") or "")]
    runcmd = (attributes.get("cloud_init") or {}).get("runcmd") or []
    texts += [line if isinstance(line, str) else " ".join(map(str, line)) for line in runcmd]
    blobs: list[bytes] = []
    for match in (m.group(0) for text in texts for m in PUBLIC_KEY.finditer(text)):
        try:
            blob = asyncssh.import_public_key(match).public_data
        except (asyncssh.KeyImportError, ValueError):
            continue
        if blob not in blobs:
            blobs.append(blob)
    return blobs


def _capacity(state: SandboxState, attributes: dict[str, Any]) -> tuple[dict, str] | None:
    """(the location's GPU entry, location id) if the request fits now, else None."""
    gpus = attributes["resources"]["gpus"]
    if len(gpus) != 1:
        return None
    ((model, wanted),) = gpus.items()
    count = wanted.get("count", 1) if isinstance(wanted, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return None
    tick = state.tick()
    location_id = attributes.get("location_id")
    if not location_id:
        nodes = state.market.tensordock_hostnodes(tick)
        node = next((n for n in nodes if n["id"] == attributes.get("hostnode_id")), None)
        location_id = node["location_id"] if node else None
    place = next(
        (p for p in state.market.tensordock_locations(tick) if p["id"] == location_id), None
    )
    entry = next((g for g in place["gpus"] if g["v0Name"] == model), None) if place else None
    if entry is None or place is None:
        return None
    free = entry["max_count"] - state.instances.rented_gpus(place["id"], model)
    return (entry, place["id"]) if count <= free else None


def _rate(entry: dict[str, Any], count: int, resources: dict[str, Any]) -> float:
    pricing = entry["pricing"]
    return round(
        entry["price_per_hr"] * count
        + pricing["per_vcpu_hr"] * resources["vcpu_count"]
        + pricing["per_gb_ram_hr"] * resources["ram_gb"]
        + pricing["per_gb_storage_hr"] * resources["storage_gb"],
        4,
    )


async def create_instance(request: Request) -> Response:
    refusal, behaviour = admit(request, CREATE)
    if refusal is not None:
        return refusal
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    issues = validate(body)
    if issues:
        return json_response(issues, 400)
    assert isinstance(body, dict)
    attributes: dict[str, Any] = body["data"]["attributes"]
    state = sandbox_state(request)
    fit = None if behaviour == GONE else await run_in_threadpool(_capacity, state, attributes)
    if fit is None:
        return json_response({"error": NO_NODES, "status": 400})
    entry, location_id = fit
    resources = attributes["resources"]
    ((model, wanted),) = resources["gpus"].items()
    count = wanted.get("count", 1)
    gpu = tensordock_gpu(
        state.seed, model, entry["displayName"], count, _rate(entry, count, resources)
    )
    details = {"resources": resources, "image": attributes["image"]}
    details["port_forwards"] = attributes.get("port_forwards") or []
    instance = state.instances.create(
        TENSORDOCK,
        attributes["name"],
        gpu,
        details,
        users=("user", "root"),
        stuck=behaviour == STUCK_LOADING,
        refuse_ssh=behaviour == SSH_NEVER_READY,
        location_id=location_id,
    )
    state.instances.authorise(instance, public_keys(attributes))
    if behaviour == CREATE_LEAKS:
        return tensordock_error(500, "Internal Server Error")
    created = {"type": "virtualmachine", "id": instance.id, "name": instance.label}
    return json_response({"data": {**created, "status": "running"}})


async def get_instance(request: Request) -> Response:
    refusal = gate(request, GET)
    if refusal is not None:
        return refusal
    instance = sandbox_state(request).instances.get(TENSORDOCK, request.path_params["ident"])
    if instance is None:
        return tensordock_error(404, "Instance not found")
    return json_response(tensordock_record(instance))


async def list_instances(request: Request) -> Response:
    refusal = gate(request, LIST)
    if refusal is not None:
        return refusal
    state = sandbox_state(request)
    items = [tensordock_record(instance) for instance in state.instances.live(TENSORDOCK)]
    shape = state.list_shape if state.list_shape is not None else state.seed % LIST_SHAPES
    if shape == 1:
        return json_response({"data": {"instances": items}})
    if shape == 2:
        return json_response({"data": {"attributes": {"instances": items}}})
    return json_response({"data": items})


async def delete_instance(request: Request) -> Response:
    refusal, behaviour = admit(request, DESTROY)
    if refusal is not None:
        return refusal
    instances = sandbox_state(request).instances
    instance = instances.get(TENSORDOCK, request.path_params["ident"])
    if instance is None:
        return tensordock_error(404, "Instance not found")
    if behaviour == DESTROY_LIES:
        logger.info("sandbox tensordock delete of %s answers success but keeps it", instance.id)
    else:
        await instances.destroy(instance)
    message = {"message": "Instance deleted successfully"}
    return json_response({"data": {"type": "success", "attributes": message}})


def tensordock_instance_routes() -> list[Route]:
    return [
        Route("/api/v2/instances", create_instance, methods=["POST"]),
        Route("/api/v2/instances", list_instances, methods=["GET"]),
        Route("/api/v2/instances/{ident}", get_instance, methods=["GET"]),
        Route("/api/v2/instances/{ident}", delete_instance, methods=["DELETE"]),
    ]
