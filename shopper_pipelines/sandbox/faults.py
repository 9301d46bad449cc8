"""Queued fault responses: each route serves its queue in order, then normal service resumes.

CLI form, one string per route: `"vastai.offers=429,429,503"`,
`"tensordock.locations=malformed"`. An item is an HTTP status (4xx/5xx, served with the
provider's usual body for it) or `malformed` (200 with a body that is not JSON).

Instance routes also take *behaviour* items, which change what the handler does rather
than replacing its answer (`--fault vastai.create=gone,429`,
`--fault tensordock.destroy=destroy-lies`):

* `gone` (create routes): the offer is gone at rent; the provider's gone answer.
* `create-leaks` (create routes): create answers 500, yet the instance exists (Vast's
  error body still carries `new_contract`; TensorDock's carries no id).
* `stuck-loading` (create routes): the instance never boots, never gets a port or IP.
* `ssh-never-ready` (create routes): it boots and shows a port, but SSH refuses every key.
* `destroy-lies` (destroy routes): destroy answers success and the instance stays.

The admin API takes the same items as `{"behaviour": "gone"}` or as plain strings.
"""

import logging
import threading
from collections import deque
from dataclasses import dataclass

import orjson
from starlette.responses import Response

from shopper_pipelines.sandbox.responses import JSON_TYPE, TEXT_TYPE, provider_default_body

logger = logging.getLogger(__name__)

# Routes that consult the queue; later route modules add theirs with `register_route`.
KNOWN_ROUTES: set[str] = {"vastai.offers", "tensordock.locations", "tensordock.hostnodes"}
# Behaviour items each route accepts (see the module docstring).
ROUTE_BEHAVIOURS: dict[str, frozenset[str]] = {}
GONE, CREATE_LEAKS, DESTROY_LIES = "gone", "create-leaks", "destroy-lies"
STUCK_LOADING, SSH_NEVER_READY = "stuck-loading", "ssh-never-ready"
CREATE_BEHAVIOURS = frozenset({GONE, CREATE_LEAKS, STUCK_LOADING, SSH_NEVER_READY})
DESTROY_BEHAVIOURS = frozenset({DESTROY_LIES})
ALL_BEHAVIOURS = CREATE_BEHAVIOURS | DESTROY_BEHAVIOURS
MALFORMED = "malformed"
MALFORMED_BODY = '{"offers": [{"id": 1, '
ERROR_STATUS_RANGE = range(400, 600)


def register_route(route: str, behaviours: frozenset[str] = frozenset()) -> None:
    """Let faults be queued for a route added by a later module ("vastai.create", ...)."""
    KNOWN_ROUTES.add(route)
    if behaviours:
        ROUTE_BEHAVIOURS[route] = ROUTE_BEHAVIOURS.get(route, frozenset()) | behaviours


@dataclass(frozen=True)
class Fault:
    """One queued answer (status, media type, exact body) or a behaviour for the handler."""

    status: int
    media_type: str
    body: str
    behaviour: str | None = None

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=self.media_type)

    def describe(self) -> dict[str, object]:
        if self.behaviour is not None:
            return {"behaviour": self.behaviour}
        return {"status": self.status, "media_type": self.media_type, "body": self.body}


def behaviour_fault(route: str, behaviour: str) -> Fault:
    """A behaviour item, checked against what `route` supports."""
    if behaviour not in ROUTE_BEHAVIOURS.get(route, frozenset()):
        allowed = sorted(ROUTE_BEHAVIOURS.get(route, frozenset()))
        raise ValueError(f"fault {behaviour!r} does not apply to {route}; it takes {allowed}")
    return Fault(0, "", "", behaviour=behaviour)


def _provider(route: str) -> str:
    return route.split(".", 1)[0]


def _check_route(route: str) -> None:
    if route not in KNOWN_ROUTES:
        raise ValueError(f"unknown fault route {route!r}; known: {sorted(KNOWN_ROUTES)}")


def fault_from_item(route: str, item: dict[str, object] | str) -> Fault:
    """An admin-API item: {"status", and one of "body" (text), "raw" (text), "json"},
    {"behaviour": name}, or a CLI item string ("429", "malformed", "gone")."""
    _check_route(route)
    if isinstance(item, str):
        return _parse_item(route, item.strip())
    if "behaviour" in item:
        return behaviour_fault(route, str(item["behaviour"]))
    status = item.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
        raise ValueError(f"fault status must be an HTTP status, got {status!r}")
    if "json" in item:
        return Fault(status, JSON_TYPE, orjson.dumps(item["json"]).decode())
    if "raw" in item:
        return Fault(status, JSON_TYPE, str(item["raw"]))
    if "body" in item:
        return Fault(status, TEXT_TYPE, str(item["body"]))
    if status < ERROR_STATUS_RANGE.start:
        raise ValueError(f"a {status} fault needs a 'json', 'raw' or 'body' to send")
    media_type, body = provider_default_body(_provider(route), status)
    return Fault(status, media_type, body)


def parse_fault_spec(spec: str) -> tuple[str, list[Fault]]:
    """`"vastai.offers=429,503"` -> ("vastai.offers", [Fault(429...), Fault(503...)])."""
    route, sep, items = spec.partition("=")
    route = route.strip()
    if not sep or not items.strip():
        raise ValueError(f"fault must look like 'route=429,503' or 'route=malformed', got {spec!r}")
    _check_route(route)
    return route, [_parse_item(route, part.strip()) for part in items.split(",")]


def _parse_item(route: str, item: str) -> Fault:
    if item == MALFORMED:
        return Fault(200, JSON_TYPE, MALFORMED_BODY)
    if item.isdigit() and int(item) in ERROR_STATUS_RANGE:
        return fault_from_item(route, {"status": int(item)})
    if item in ALL_BEHAVIOURS or item in ROUTE_BEHAVIOURS.get(route, frozenset()):
        return behaviour_fault(route, item)
    raise ValueError(
        f"fault item must be a 4xx/5xx status, 'malformed' or a behaviour, got {item!r}"
    )


class FaultQueue:
    """Per-route FIFO of fault responses; safe to use from several threads."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, route: str, faults: list[Fault]) -> None:
        _check_route(route)
        with self._lock:
            self._queues.setdefault(route, deque()).extend(faults)
        logger.info("sandbox faults queued for %s: %d", route, len(faults))

    def add_spec(self, spec: str) -> None:
        self.add(*parse_fault_spec(spec))

    def pop(self, route: str) -> Fault | None:
        """The next fault for `route`, or None when normal service applies."""
        with self._lock:
            queue = self._queues.get(route)
            return queue.popleft() if queue else None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        with self._lock:
            return {
                route: [fault.describe() for fault in queue]
                for route, queue in self._queues.items()
                if queue
            }
