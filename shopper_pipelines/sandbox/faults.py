"""Queued fault responses: each route serves its queue in order, then normal service resumes.

CLI form, one string per route: `"vastai.offers=429,429,503"`,
`"tensordock.locations=malformed"`. An item is an HTTP status (4xx/5xx, served with the
provider's usual body for it) or `malformed` (200 with a body that is not JSON).
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
MALFORMED = "malformed"
MALFORMED_BODY = '{"offers": [{"id": 1, '
ERROR_STATUS_RANGE = range(400, 600)


def register_route(route: str) -> None:
    """Let faults be queued for a route added by a later module ("vastai.create", ...)."""
    KNOWN_ROUTES.add(route)


@dataclass(frozen=True)
class Fault:
    """One queued answer: status, media type and exact body text."""

    status: int
    media_type: str
    body: str

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=self.media_type)

    def describe(self) -> dict[str, object]:
        return {"status": self.status, "media_type": self.media_type, "body": self.body}


def _provider(route: str) -> str:
    return route.split(".", 1)[0]


def _check_route(route: str) -> None:
    if route not in KNOWN_ROUTES:
        raise ValueError(f"unknown fault route {route!r}; known: {sorted(KNOWN_ROUTES)}")


def fault_from_item(route: str, item: dict[str, object]) -> Fault:
    """An admin-API item: {"status", and one of "body" (text), "raw" (text), "json"}."""
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
    faults = []
    for item in (part.strip() for part in items.split(",")):
        if item == MALFORMED:
            faults.append(Fault(200, JSON_TYPE, MALFORMED_BODY))
        elif item.isdigit() and int(item) in ERROR_STATUS_RANGE:
            faults.append(fault_from_item(route, {"status": int(item)}))
        else:
            raise ValueError(f"fault item must be a 4xx/5xx status or 'malformed', got {item!r}")
    return route, faults


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
