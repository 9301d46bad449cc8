"""The sandbox marketplace as one Starlette app: Vast and TensorDock paths plus `/_sandbox/`.

Route modules each contribute a list of routes. Instances boot after `boot_seconds` and run
real SSH servers on 127.0.0.1; call `close_app` (as `running_sandbox` does) to stop them.
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopper_pipelines.sandbox.faults import FaultQueue
from shopper_pipelines.sandbox.inference_admin import inference_admin_routes
from shopper_pipelines.sandbox.inference_server import InferenceServers
from shopper_pipelines.sandbox.instances import DEFAULT_BOOT_SECONDS, InstanceRegistry
from shopper_pipelines.sandbox.market import DEFAULT_VAST_OFFER_COUNT, Market
from shopper_pipelines.sandbox.routes_admin import admin_routes
from shopper_pipelines.sandbox.routes_instance_admin import instance_admin_routes
from shopper_pipelines.sandbox.routes_tensordock import tensordock_routes
from shopper_pipelines.sandbox.routes_tensordock_instances import (
    LIST_SHAPES,
    tensordock_instance_routes,
)
from shopper_pipelines.sandbox.routes_vast import vast_routes
from shopper_pipelines.sandbox.routes_vast_instances import vast_instance_routes
from shopper_pipelines.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 60.0
SANDBOX_HEADER = (b"x-sandbox", b"1")


class SandboxHeaderMiddleware:
    """Marks every response `X-Sandbox: 1`, so nobody mistakes it for a real provider."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), SANDBOX_HEADER]
            await send(message)

        await self.app(scope, receive, send_marked)


def create_app(
    seed: int = 0,
    *,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
    clock: Callable[[], float] = time.time,
    vast_offer_count: int = DEFAULT_VAST_OFFER_COUNT,
    faults: list[str] | None = None,
    require_token: str | None = None,
    boot_seconds: float = DEFAULT_BOOT_SECONDS,
    key_delay_seconds: float = 0.0,
    workdir: Path | None = None,
    list_shape: int | None = 0,
    inference_speed: float | None = None,
) -> Starlette:
    """Build the sandbox app. `faults` takes CLI strings such as "vastai.offers=429,503"
    or "vastai.create=gone"; `workdir` holds instance folders (default: a new temp dir);
    `list_shape` picks TensorDock's list shape (0-2, None: by seed); `inference_speed`
    speeds up the instances' LLM stand-ins (None: env `SANDBOX_INFERENCE_SPEED`, else 1)."""
    if tick_seconds <= 0:
        raise ValueError(f"tick_seconds must be positive, got {tick_seconds}")
    if list_shape is not None and list_shape not in range(LIST_SHAPES):
        raise ValueError(f"list_shape must be 0, 1, 2 or None, got {list_shape}")
    queue = FaultQueue()
    for spec in faults or []:
        queue.add_spec(spec)
    state = SandboxState(
        market=Market(seed, vast_offer_count=vast_offer_count),
        seed=seed,
        clock=clock,
        tick_seconds=tick_seconds,
        started_at=clock(),
        require_token=require_token,
        faults=queue,
        instances=InstanceRegistry(
            seed,
            boot_seconds=boot_seconds,
            key_delay_seconds=key_delay_seconds,
            workdir=workdir,
            clock=clock,
            inference=InferenceServers(inference_speed, faults=queue),
        ),
        list_shape=list_shape,
    )
    routes = [
        *admin_routes(),
        *instance_admin_routes(),
        *inference_admin_routes(),
        *vast_routes(),
        *vast_instance_routes(),
        *tensordock_routes(),
        *tensordock_instance_routes(),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SandboxHeaderMiddleware)])
    app.state.sandbox = state
    logger.info(
        "sandbox app: seed %d, %d Vast offer slots, tick %.1fs",
        seed,
        vast_offer_count,
        tick_seconds,
    )
    return app


def close_app(app: Starlette) -> None:
    """Stop every instance SSH server and their loop thread; remove a temp workdir."""
    app.state.sandbox.instances.close()
