"""Sandbox-only controls under `/_sandbox/`: health, moving time, and the fault queue."""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.faults import fault_from_item
from shopper_pipelines.sandbox.responses import json_response
from shopper_pipelines.sandbox.state import sandbox_state


def _bad_request(message: str) -> Response:
    return json_response({"success": False, "error": "invalid_args", "msg": message}, 400)


async def _json_body(request: Request) -> Any:
    body = await request.body()
    return orjson.loads(body) if body else {}


async def health(request: Request) -> Response:
    state = sandbox_state(request)
    return json_response({"sandbox": True, "seed": state.seed, "tick": state.tick()})


async def advance(request: Request) -> Response:
    try:
        ticks = (await _json_body(request)).get("ticks", 1)
    except (orjson.JSONDecodeError, AttributeError):
        return _bad_request('body must be {"ticks": n}')
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 0:
        return _bad_request(f"ticks must be a non-negative integer, got {ticks!r}")
    return json_response({"sandbox": True, "tick": sandbox_state(request).advance(ticks)})


async def queue_faults(request: Request) -> Response:
    try:
        body = await _json_body(request)
        route, items = body["route"], body["responses"]
        if not isinstance(items, list):
            raise TypeError("responses must be a list")
        faults = [fault_from_item(route, item) for item in items]
        sandbox_state(request).faults.add(route, faults)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
        return _bad_request(f'body must be {{"route": ..., "responses": [...]}}: {error}')
    return json_response({"success": True, "queued": sandbox_state(request).faults.snapshot()})


async def list_faults(request: Request) -> Response:
    return json_response({"queued": sandbox_state(request).faults.snapshot()})


async def clear_faults(request: Request) -> Response:
    sandbox_state(request).faults.clear()
    return json_response({"success": True, "queued": {}})


def admin_routes() -> list[Route]:
    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/advance", advance, methods=["POST"]),
        Route("/_sandbox/faults", queue_faults, methods=["POST"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
    ]
