"""Response helpers shared by the sandbox routes: fast JSON and each provider's error shapes."""

from typing import Any

import orjson
from starlette.responses import Response

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html"


def json_response(content: Any, status: int = 200) -> Response:
    """JSON via orjson (10,000 offers serialise in milliseconds)."""
    return Response(orjson.dumps(content), status_code=status, media_type=JSON_TYPE)


def vast_error(status: int, error: str, msg: str) -> Response:
    """Vast's usual error body: {"success": false, "error": code, "msg": text}."""
    return json_response({"success": False, "error": error, "msg": msg}, status)


def tensordock_error(status: int, message: str) -> Response:
    """TensorDock v2's plain error body: {"error": text}."""
    return json_response({"error": message}, status)


# A realistic answer per (provider, status) for faults given only as a number.
_VAST_BODIES: dict[int, tuple[str, str]] = {
    429: (TEXT_TYPE, "API requests too frequent endpoint threshold=2.0"),
    500: (JSON_TYPE, '{"success": false, "error": "server_error", "msg": "Internal error"}'),
    502: (HTML_TYPE, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    503: (HTML_TYPE, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"),
    504: (HTML_TYPE, "<html><body><h1>504 Gateway Time-out</h1></body></html>"),
}
_TENSORDOCK_BODIES: dict[int, tuple[str, str]] = {
    429: (JSON_TYPE, '{"error": "Too many requests, please try again later."}'),
    500: (JSON_TYPE, '{"error": "Internal Server Error"}'),
    502: (HTML_TYPE, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    503: (TEXT_TYPE, "upstream connect error or disconnect/reset before headers"),
    504: (HTML_TYPE, "<html><body><h1>504 Gateway Timeout</h1></body></html>"),
}


def provider_default_body(provider: str, status: int) -> tuple[str, str]:
    """(media type, body) a provider typically sends with `status`."""
    table = _VAST_BODIES if provider == "vastai" else _TENSORDOCK_BODIES
    if status in table:
        return table[status]
    if provider == "vastai":
        body = orjson.dumps({"success": False, "error": "sandbox_fault", "msg": f"error {status}"})
        return JSON_TYPE, body.decode()
    return JSON_TYPE, orjson.dumps({"error": f"HTTP {status}"}).decode()
