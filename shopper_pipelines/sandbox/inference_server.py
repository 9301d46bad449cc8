"""One HTTP server per running sandbox instance: its Ollama and OpenAI stand-ins.

Each server is a small Starlette app under uvicorn, bound to 127.0.0.1 at an ephemeral
port and run on the same background loop as the instance SSH servers (`SshHub`). The
registry starts it when the instance boots, before SSH, so the instance's shell gets
`OLLAMA_HOST=http://127.0.0.1:<port>` and `OPENAI_BASE_URL=http://127.0.0.1:<port>/v1`;
it stops it when the instance is destroyed or crashes (the port then refuses).

`GET /_sandbox/rate?model=M` on the instance's port says what it streams `M` at: the rate,
whether it is published or estimated, the speed factor and the quality-answer accuracy.

Speed factor: `SANDBOX_INFERENCE_SPEED` (a positive number, default 1.0, real time) or
`create_app(inference_speed=...)`; see `inference_engine` for what it scales.
"""

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopper_pipelines.sandbox.faults import FaultQueue
from shopper_pipelines.sandbox.inference_engine import Engine, GpuBox, InferenceError
from shopper_pipelines.sandbox.inference_http import engine_of
from shopper_pipelines.sandbox.inference_ollama import ollama_routes
from shopper_pipelines.sandbox.inference_openai import openai_routes
from shopper_pipelines.sandbox.inference_text import accuracy
from shopper_pipelines.sandbox.responses import json_response

logger = logging.getLogger(__name__)

SPEED_ENV = "SANDBOX_INFERENCE_SPEED"
BIND_HOST = "127.0.0.1"
START_TIMEOUT_S, STOP_TIMEOUT_S = 5.0, 3.0
POLL_S = 0.005


class GpuLike(Protocol):
    """What a server needs to know of an instance's GPUs (`instances.GpuOffer` has it)."""

    @property
    def model(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def vram_mib(self) -> int: ...
    @property
    def max_power_w(self) -> float: ...


def speed_from_env() -> float:
    """`SANDBOX_INFERENCE_SPEED`, or 1.0 when unset; refuses anything but a positive number."""
    raw = os.environ.get(SPEED_ENV, "").strip()
    if not raw:
        return 1.0
    return check_speed(raw, SPEED_ENV)


def check_speed(value: object, field: str = "inference_speed") -> float:
    try:
        speed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        speed = 0.0
    if not (0 < speed < float("inf")):
        raise ValueError(f"{field} must be a positive number, got {value!r}")
    return speed


def inference_env(port: int) -> dict[str, str]:
    """What an instance's shell sees: Ollama's and the OpenAI SDK's own variables."""
    base = f"http://{BIND_HOST}:{port}"
    return {"OLLAMA_HOST": base, "OPENAI_BASE_URL": f"{base}/v1"}


async def rate(request: Request) -> Response:
    engine = engine_of(request)
    name = request.query_params.get("model", "")
    if not name:
        return json_response({"error": "model query parameter is required"}, 400)
    try:
        model = engine.known(name)
    except InferenceError:
        return json_response({"error": f"model {name!r} is not in the catalogue"}, 404)
    found = engine.rate(model)
    return json_response(
        {
            **found.as_dict(),
            "speed": engine.speed,
            "effective_tokens_per_second": round(found.tokens_per_second * engine.speed, 4),
            "accuracy": accuracy(model),
            "pulled": model.name in engine.pulled,
            "loaded": model.name in engine.loaded,
        }
    )


class InstanceServer:
    """One instance's inference server; start and stop it on the hub's loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        app = Starlette(routes=[*ollama_routes(), *openai_routes(), _rate_route()])
        app.state.engine = engine
        self.app = app

    @property
    def serving(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (`port`, or an ephemeral one); returns the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((BIND_HOST, port))
        bound: int = listener.getsockname()[1]
        self.port = bound
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self.engine.stopping.clear()
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[listener]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not server.started and not self._task.done() and loop.time() < deadline:
            await asyncio.sleep(POLL_S)
        if not server.started:
            await self.stop()
            listener.close()
            raise RuntimeError(f"inference server on port {bound} did not start")
        return bound

    async def stop(self) -> None:
        """Close the port at once and end every stream (clients see it cut short)."""
        self.engine.stopping.set()
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        # uvicorn's own shutdown waits a tick or two; a dying machine does not.
        server.should_exit = server.force_exit = True
        for listener in getattr(server, "servers", []):
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        task.cancel()
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_S)
        except (asyncio.CancelledError, TimeoutError):
            pass
        except Exception as error:  # a dying server must not stop a destroy
            logger.debug("sandbox inference server on %s ended: %s", self.port, error)


def _rate_route() -> Route:
    return Route("/_sandbox/rate", rate, methods=["GET"])


class InferenceServers:
    """Makes the inference server of each instance; holds the speed and the fault queue."""

    def __init__(self, speed: float | None = None, faults: FaultQueue | None = None) -> None:
        self.speed = speed_from_env() if speed is None else check_speed(speed)
        self.faults = faults if faults is not None else FaultQueue()

    def server_for(self, gpu: GpuLike, update_gpu: Callable[..., object]) -> InstanceServer:
        """A server (not started) for an instance with `gpu`; `update_gpu(**readings)`
        writes what its `nvidia-smi` reports."""
        box = GpuBox(gpu.model, gpu.count, gpu.vram_mib, gpu.max_power_w)
        engine = Engine(box, speed=self.speed, update_gpu=update_gpu, faults=self.faults)
        return InstanceServer(engine)


async def set_serving(server: InstanceServer, serving: bool) -> int | None:
    """Stop (`serving` False: the port refuses, like a dead `ollama serve`) or restart the
    server on its old port; returns the port it serves on, or None. Run on the hub loop."""
    if serving and not server.serving:
        await server.start(server.port or 0)
    elif not serving and server.serving:
        await server.stop()
    return server.port if server.serving else None
