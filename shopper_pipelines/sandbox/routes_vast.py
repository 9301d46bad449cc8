"""Vast.ai offer search: `POST /api/v0/bundles/` and `GET /api/v0/bundles/?q=<json>`."""

import logging
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.responses import json_response, vast_error
from shopper_pipelines.sandbox.state import gate, sandbox_state
from shopper_pipelines.sandbox.vast_query import QueryError, parse_query, run_query

logger = logging.getLogger(__name__)

OFFERS_ROUTE = "vastai.offers"


def _search(request: Request, raw_query: Any) -> list[dict[str, Any]]:
    state = sandbox_state(request)
    query = parse_query(raw_query)
    tick = state.tick()
    # An offer rented in this sandbox is no longer listed.
    rented = state.instances.rented_offer_ids()
    listed = state.market.vast_offers(tick)
    offers = run_query([o for o in listed if o["id"] not in rented] if rented else listed, query)
    logger.debug("sandbox vast search at tick %d: %d offers", tick, len(offers))
    return offers


async def _answer(request: Request, body: bytes | str) -> Response:
    try:
        raw_query = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return vast_error(400, "invalid_request", "query is not valid JSON")
    try:
        offers = await run_in_threadpool(_search, request, raw_query)
    except QueryError as error:
        return vast_error(400, "invalid_args", str(error))
    return json_response({"offers": offers})


async def search_offers_post(request: Request) -> Response:
    refusal = gate(request, OFFERS_ROUTE)
    if refusal is not None:
        return refusal
    return await _answer(request, await request.body())


async def search_offers_get(request: Request) -> Response:
    refusal = gate(request, OFFERS_ROUTE)
    if refusal is not None:
        return refusal
    return await _answer(request, request.query_params.get("q", ""))


def vast_routes() -> list[Route]:
    return [
        Route("/api/v0/bundles/", search_offers_post, methods=["POST"]),
        Route("/api/v0/bundles/", search_offers_get, methods=["GET"]),
    ]
