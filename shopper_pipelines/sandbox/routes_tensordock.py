"""TensorDock v2 catalogue: `GET /api/v2/locations` and `GET /api/v2/hostnodes`."""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.responses import json_response
from shopper_pipelines.sandbox.state import gate, sandbox_state

LOCATIONS_ROUTE = "tensordock.locations"
HOSTNODES_ROUTE = "tensordock.hostnodes"


async def list_locations(request: Request) -> Response:
    refusal = gate(request, LOCATIONS_ROUTE)
    if refusal is not None:
        return refusal
    state = sandbox_state(request)
    locations = await run_in_threadpool(state.market.tensordock_locations, state.tick())
    return json_response({"data": {"locations": locations}})


async def list_hostnodes(request: Request) -> Response:
    refusal = gate(request, HOSTNODES_ROUTE)
    if refusal is not None:
        return refusal
    state = sandbox_state(request)
    hostnodes = await run_in_threadpool(state.market.tensordock_hostnodes, state.tick())
    return json_response({"data": {"hostnodes": hostnodes}})


def tensordock_routes() -> list[Route]:
    return [
        Route("/api/v2/locations", list_locations, methods=["GET"]),
        Route("/api/v2/hostnodes", list_hostnodes, methods=["GET"]),
    ]
