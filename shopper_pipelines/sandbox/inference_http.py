"""Request helpers shared by the Ollama and OpenAI stand-in routes."""

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shopper_pipelines.sandbox.inference_engine import Engine, Run

NDJSON_TYPE = "application/x-ndjson"
SSE_TYPE = "text/event-stream"
OLLAMA_VERSION = "0.6.5"


class BadBody(ValueError):
    """The request body is not what the API takes; the message says why."""


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as error:
        raise BadBody(f"invalid JSON body: {error}") from None
    if not isinstance(body, dict):
        raise BadBody("request body must be a JSON object")
    return body


def model_field(body: dict[str, Any], *names: str) -> str:
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise BadBody("model is required")


def max_tokens(value: object, field: str) -> int | None:
    """A max-token option: None for absent; a negative number means no limit (Ollama)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadBody(f"{field} must be an integer, got {value!r}")
    return value


def rate_headers(engine: Engine, run: Run) -> dict[str, str]:
    """What the sandbox streams at, so tests can check the stream against it."""
    return {
        "X-Sandbox-Rate": f"{run.rate.tokens_per_second:g}",
        "X-Sandbox-Rate-Source": run.rate.source,
        "X-Sandbox-Speed": f"{engine.speed:g}",
        "X-Sandbox-Gpu": run.rate.gpu,
    }


def created_at() -> str:
    """Ollama's timestamp: RFC 3339 in UTC with a Z."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def line(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload) + b"\n"


def event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f"data: {data}\n\n".encode()


def json_with(payload: dict[str, Any], headers: dict[str, str], status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")
