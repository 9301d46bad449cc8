"""Vast.ai instance paths: rent (`PUT /asks/{id}/`), keys, get, list v1, destroy, templates.

Shapes follow providers.md §1.6-1.12; behaviour faults are described in `faults`.
"""

import base64
import binascii
import logging
import secrets
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
from shopper_pipelines.sandbox.instance_records import vast_gpu, vast_record
from shopper_pipelines.sandbox.instances import VASTAI
from shopper_pipelines.sandbox.responses import json_response, vast_error
from shopper_pipelines.sandbox.state import SandboxState, admit, gate, sandbox_state
from shopper_pipelines.sandbox.vast_pricing import price_fields
from shopper_pipelines.sandbox.vast_templates import (
    TEMPLATES,
    FilterError,
    check_filters,
    find_template,
    matches,
    template_env,
)

logger = logging.getLogger(__name__)

CREATE, DESTROY, GET, LIST = "vastai.create", "vastai.destroy", "vastai.get", "vastai.list"
ATTACH_KEY, TEMPLATES_ROUTE = "vastai.attach_key", "vastai.templates"
for _route in (GET, LIST, ATTACH_KEY, TEMPLATES_ROUTE):
    register_route(_route)
register_route(CREATE, CREATE_BEHAVIOURS)
register_route(DESTROY, DESTROY_BEHAVIOURS)

PAGE_MAX, PAGE_FOR_NON_POSITIVE = 25, 5
LABEL_MAX = 256
MIN_DISK_GB = 8
TOKEN_PREFIX = b"sandbox-after:"


def _no_such_ask(offer_id: int) -> Response:
    msg = f"error 404/3603: no_such_ask Instance type by id {offer_id} is not available."
    body = {"success": False, "error": "invalid_args", "msg": msg, "ask_id": offer_id}
    return json_response(body, 404)


def _no_such_instance(ident: int) -> Response:
    return vast_error(404, "no_such_instance", f"error 404/3607: no_such_instance {ident}")


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _listed_offer(state: SandboxState, offer_id: int) -> dict[str, Any] | None:
    if offer_id in state.instances.rented_offer_ids():
        return None
    offers = state.market.vast_offers(state.tick())
    return next((offer for offer in offers if offer["id"] == offer_id), None)


def _create_details(body: dict[str, Any]) -> dict[str, Any] | str:
    """What the rent body asks for, or a message saying what is wrong with it."""
    details: dict[str, Any] = {"env": {}}
    hash_id = body.get("template_hash_id")
    if hash_id is not None:
        template = find_template(str(hash_id))
        if template is None:
            return f"template_hash_id {hash_id!r} does not match any template"
        details["image"] = f"{template['image']}:{template['tag']}"
        details |= {"template_id": template["id"], "template_hash_id": hash_id}
        details |= {"template_name": template["name"], "runtype": template["runtype"]}
        details |= {"disk": template["recommended_disk_space"], "onstart": template["onstart"]}
        details["env"] = template_env(template)
    elif not body.get("image"):
        return "image or template_hash_id is required"
    env = body.get("env") or {}
    if not isinstance(env, dict):
        return f"env must be an object, got {type(env).__name__}"
    details["env"] = {**details["env"], **env}
    for key in ("image", "onstart", "runtype", "disk"):
        if body.get(key) is not None:
            details[key] = body[key]
    details.setdefault("runtype", "ssh")
    details.setdefault("disk", 10.0)
    disk = details["disk"]
    if isinstance(disk, bool) or not isinstance(disk, int | float) or disk < MIN_DISK_GB:
        return f"disk must be a number of GB, at least {MIN_DISK_GB}, got {disk!r}"
    return details


async def create_instance(request: Request) -> Response:
    refusal, behaviour = admit(request, CREATE)
    if refusal is not None:
        return refusal
    offer_id: int = request.path_params["offer_id"]
    body = await _json_object(request)
    if body is None:
        return vast_error(400, "invalid_request", "request body must be a JSON object")
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > LABEL_MAX):
        return vast_error(400, "label_too_long", f"label must be text of at most {LABEL_MAX}")
    details = _create_details(body)
    if isinstance(details, str):
        return vast_error(400, "invalid_args", f"error 400/3467: Invalid args: {details}")
    state = sandbox_state(request)
    offer = None if behaviour == GONE else await run_in_threadpool(_listed_offer, state, offer_id)
    if offer is None:
        return _no_such_ask(offer_id)
    # Vast bills the disk the renter asked for, not the listing's default allocation.
    offer = {**offer, **price_fields(offer, float(details["disk"]))}
    details["offer"] = offer
    instance = state.instances.create(
        VASTAI,
        label,
        vast_gpu(offer),
        details,
        users=("root",),
        stuck=behaviour == STUCK_LOADING,
        refuse_ssh=behaviour == SSH_NEVER_READY,
        offer_id=offer_id,
    )
    if behaviour == CREATE_LEAKS:
        leaked = {"success": False, "error": "internal", "msg": "error 500: internal error"}
        return json_response({**leaked, "new_contract": instance.id}, 500)
    api_key = secrets.token_hex(32)
    return json_response(
        {"success": True, "new_contract": instance.id, "instance_api_key": api_key}
    )


async def attach_key(request: Request) -> Response:
    refusal = gate(request, ATTACH_KEY)
    if refusal is not None:
        return refusal
    ident: int = request.path_params["instance_id"]
    instances = sandbox_state(request).instances
    instance = instances.get(VASTAI, ident)
    if instance is None:
        return _no_such_instance(ident)
    body = await _json_object(request)
    text = body.get("ssh_key") if body else None
    try:
        key = asyncssh.import_public_key(str(text or "").strip())
    except (asyncssh.KeyImportError, ValueError):
        return vast_error(400, "invalid_args", "ssh_key must be an OpenSSH public key")
    instances.authorise(instance, [key.public_data])
    return json_response({"success": True})


async def get_instance(request: Request) -> Response:
    refusal = gate(request, GET)
    if refusal is not None:
        return refusal
    instance = sandbox_state(request).instances.get(VASTAI, request.path_params["instance_id"])
    return json_response({"instances": vast_record(instance) if instance else None})


def _decode_token(token: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token.encode() + b"==")
    except (binascii.Error, ValueError):
        return None
    digits = raw.removeprefix(TOKEN_PREFIX)
    return int(digits) if raw.startswith(TOKEN_PREFIX) and digits.isdigit() else None


def _encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(TOKEN_PREFIX + str(last_id).encode()).decode().rstrip("=")


async def list_instances(request: Request) -> Response:
    refusal = gate(request, LIST)
    if refusal is not None:
        return refusal
    params = request.query_params
    try:
        limit = int(params.get("limit", PAGE_MAX))
        filters = check_filters(orjson.loads(params.get("select_filters", "{}")))
    except (ValueError, FilterError, orjson.JSONDecodeError) as error:
        return vast_error(400, "invalid_args", f"error 400/3467: Invalid args: {error}")
    limit = PAGE_FOR_NON_POSITIVE if limit <= 0 else min(limit, PAGE_MAX)
    after = 0
    if params.get("after_token"):
        decoded = _decode_token(params["after_token"])
        if decoded is None:
            return vast_error(400, "invalid_token", "after_token is not a valid token")
        after = decoded
    rows = [vast_record(i) for i in sandbox_state(request).instances.live(VASTAI)]
    rows = sorted((row for row in rows if matches(row, filters)), key=lambda row: row["id"])
    remaining = [row for row in rows if row["id"] > after]
    page = remaining[:limit]
    more = len(remaining) > limit
    label_counts: dict[str, int] = {}
    for row in rows:
        label_counts[row["label"] or ""] = label_counts.get(row["label"] or "", 0) + 1
    return json_response(
        {
            "success": True,
            "instances": page,
            "instances_found": len(page),
            "total_instances": len(rows),
            "label_counts": label_counts,
            "next_token": _encode_token(page[-1]["id"]) if more else None,
        }
    )


async def list_instances_v0(request: Request) -> Response:
    return vast_error(410, "deprecated_endpoint", "GET /api/v0/instances/ is gone; use /api/v1/")


async def destroy_instance(request: Request) -> Response:
    refusal, behaviour = admit(request, DESTROY)
    if refusal is not None:
        return refusal
    ident: int = request.path_params["instance_id"]
    instances = sandbox_state(request).instances
    instance = instances.get(VASTAI, ident)
    if instance is None:
        return _no_such_instance(ident)
    if behaviour == DESTROY_LIES:
        logger.info("sandbox vast destroy of %d answers success but keeps it", ident)
    else:
        await instances.destroy(instance)
    return json_response({"success": True})


async def search_templates(request: Request) -> Response:
    refusal = gate(request, TEMPLATES_ROUTE)
    if refusal is not None:
        return refusal
    try:
        filters = check_filters(orjson.loads(request.query_params.get("select_filters", "{}")))
    except (FilterError, orjson.JSONDecodeError) as error:
        return vast_error(400, "invalid_args", f"select_filters: {error}")
    found = [dict(template) for template in TEMPLATES if matches(template, filters)]
    return json_response({"success": True, "templates_found": len(found), "templates": found})


def vast_instance_routes() -> list[Route]:
    return [
        Route("/api/v0/asks/{offer_id:int}/", create_instance, methods=["PUT"]),
        Route("/api/v0/instances/{instance_id:int}/ssh/", attach_key, methods=["POST"]),
        Route("/api/v0/instances/{instance_id:int}/", get_instance, methods=["GET"]),
        Route("/api/v0/instances/{instance_id:int}/", destroy_instance, methods=["DELETE"]),
        Route("/api/v0/instances/", list_instances_v0, methods=["GET"]),
        Route("/api/v1/instances/", list_instances, methods=["GET"]),
        Route("/api/v0/template/", search_templates, methods=["GET"]),
    ]
