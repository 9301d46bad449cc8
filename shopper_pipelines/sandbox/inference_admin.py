"""Sandbox-only controls of the instances' inference servers, under `/_sandbox/inference`.

* `GET /_sandbox/inference`: the speed factor and, per instance, its inference port, GPU
  and pulled/loaded models.
* `GET /_sandbox/inference/rate?gpu=RTX 4090&model=llama3.1:8b[&vram_mib=24564]`: the
  decode rate for any GPU and model, and whether it is published or estimated.
* `POST /_sandbox/inference/{provider}/{id}` `{"serving": false}`: the instance's server
  goes down (its port refuses connections, like a dead `ollama serve`); `true` brings it
  back on the same port.

Faults for generation requests queue on route `inference.generate` through
`POST /_sandbox/faults`: statuses (`{"status": 500}`) or behaviours
(`{"behaviour": "stream-stalls" | "stream-breaks" | "empty-response"}`).
"""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.benchmarks.llm_models import lookup
from shopper_pipelines.sandbox.inference_rates import rate_for
from shopper_pipelines.sandbox.inference_server import set_serving
from shopper_pipelines.sandbox.instances import PROVIDERS, Instance
from shopper_pipelines.sandbox.responses import json_response
from shopper_pipelines.sandbox.state import sandbox_state


def _error(status: int, message: str) -> Response:
    return json_response({"success": False, "error": message}, status)


def _describe(instance: Instance) -> dict[str, Any]:
    server = instance.inference
    engine = server.engine if server is not None else None
    return {
        "provider": instance.provider,
        "id": instance.id,
        "status": instance.phase(),
        "gpu": instance.gpu.model,
        "inference_port": instance.inference_port,
        "pulled": sorted(engine.pulled) if engine is not None else [],
        "loaded": list(engine.loaded) if engine is not None else [],
    }


async def overview(request: Request) -> Response:
    state = sandbox_state(request)
    instances = [i for i in state.instances.everything() if not i.destroyed]
    return json_response(
        {
            "speed": state.instances.inference.speed,
            "instances": [_describe(instance) for instance in instances],
        }
    )


async def rate(request: Request) -> Response:
    gpu = request.query_params.get("gpu", "").strip()
    name = request.query_params.get("model", "").strip()
    vram = request.query_params.get("vram_mib", "").strip()
    if not gpu:
        return _error(400, "gpu query parameter is required, e.g. gpu=RTX 4090")
    model = lookup(name)
    if model is None:
        return _error(404, f"model must be a catalogue model, got {name!r}")
    if vram and not vram.isdigit():
        return _error(400, f"vram_mib must be a whole number of MiB, got {vram!r}")
    found = rate_for(gpu, model, int(vram) if vram else None)
    speed = sandbox_state(request).instances.inference.speed
    return json_response({**found.as_dict(), "speed": speed})


async def serving(request: Request) -> Response:
    provider = request.path_params["provider"]
    if provider not in PROVIDERS:
        return _error(404, f"provider must be one of {list(PROVIDERS)}, got {provider!r}")
    registry = sandbox_state(request).instances
    instance = registry.get(provider, request.path_params["ident"])
    if instance is None:
        return _error(404, "no such instance")
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        body = None
    wanted = body.get("serving") if isinstance(body, dict) else None
    if not isinstance(wanted, bool):
        return _error(400, f'body must be {{"serving": true|false}}, got {body!r}')
    server = instance.inference
    if server is None:
        return _error(409, f"instance is {instance.phase()}, not running")
    port = await registry.on_hub(set_serving(server, wanted))
    return json_response({"success": True, "instance": _describe(instance), "port": port})


def inference_admin_routes() -> list[Route]:
    return [
        Route("/_sandbox/inference", overview, methods=["GET"]),
        Route("/_sandbox/inference/rate", rate, methods=["GET"]),
        Route("/_sandbox/inference/{provider}/{ident}", serving, methods=["POST"]),
    ]
