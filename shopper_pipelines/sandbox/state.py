"""What one sandbox app holds between requests: market, clock, faults and instances."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from shopper_pipelines.sandbox.faults import FaultQueue
from shopper_pipelines.sandbox.instances import InstanceRegistry
from shopper_pipelines.sandbox.market import Market
from shopper_pipelines.sandbox.responses import tensordock_error, vast_error

BEARER_PREFIX = "Bearer "


@dataclass
class SandboxState:
    """Shared by every route of one app; reach it with `sandbox_state(request)`."""

    market: Market
    seed: int
    clock: Callable[[], float]
    tick_seconds: float
    started_at: float
    require_token: str | None = None
    faults: FaultQueue = field(default_factory=FaultQueue)
    instances: InstanceRegistry = field(default_factory=InstanceRegistry)
    list_shape: int | None = 0  # TensorDock list shape 0-2; None: seed % 3
    advanced_ticks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tick(self) -> int:
        """Whole ticks since start on the app's clock, plus any advanced by hand."""
        elapsed = max(self.clock() - self.started_at, 0.0)
        return int(elapsed // self.tick_seconds) + self.advanced_ticks

    def advance(self, ticks: int) -> int:
        with self._lock:
            self.advanced_ticks += ticks
        return self.tick()


def sandbox_state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[len(BEARER_PREFIX) :] if header.startswith(BEARER_PREFIX) else None


def gate(request: Request, route: str) -> Response | None:
    """A queued fault or an auth refusal for this request, or None to serve it normally.

    Faults imitate the provider's edge (rate limiter, proxy), so they come before auth.
    """
    refusal, _behaviour = admit(request, route)
    return refusal


def admit(request: Request, route: str) -> tuple[Response | None, str | None]:
    """Like `gate`, for routes that take behaviour faults: (refusal, behaviour or None)."""
    state = sandbox_state(request)
    fault = state.faults.pop(route)
    if fault is not None and fault.behaviour is None:
        return fault.response(), None
    return _auth_refusal(request, route), fault.behaviour if fault is not None else None


def _auth_refusal(request: Request, route: str) -> Response | None:
    state = sandbox_state(request)
    if state.require_token is None:
        return None
    if route.startswith("vastai."):
        # Vast still honours the older ?api_key= form (providers.md §1.2).
        if state.require_token in (_bearer(request), request.query_params.get("api_key")):
            return None
        return vast_error(401, "auth_error", "Invalid user key")
    if _bearer(request) == state.require_token:
        return None
    return tensordock_error(401, "Unauthorized")
