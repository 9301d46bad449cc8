"""The OpenAI-compatible API of a sandbox instance, shaped like vLLM's.

`GET /health`, `GET /v1/models`, `POST /v1/chat/completions` and `POST /v1/completions`,
streamed as server-sent events (`data: {...}` chunks with `choices[0].delta.content` or
`choices[0].text`, a usage chunk when `stream_options.include_usage` is true, then
`data: [DONE]`) or answered as one object. Like a vLLM server started with its model,
no pull is needed: `/v1/models` lists every catalogue model that fits in the instance's
VRAM (plus any pulled through the Ollama API); the first request loads it. Errors use
OpenAI's `{"error": {"message", "type", "param", "code"}}`: 404 for an unknown model, 500
with a CUDA out-of-memory message for one that does not fit.
"""

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from shopper_pipelines.benchmarks.llm_models import LLM_MODELS
from shopper_pipelines.sandbox.inference_engine import (
    InferenceError,
    Run,
    StreamBroken,
    footprint_mib,
)
from shopper_pipelines.sandbox.inference_http import (
    SSE_TYPE,
    BadBody,
    engine_of,
    event,
    json_body,
    json_with,
    max_tokens,
    model_field,
    rate_headers,
)
from shopper_pipelines.sandbox.responses import json_response

OWNER = "sandbox"


def _error(status: int, message: str, kind: str, param: str | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return json_response(body, status)


def _refusal(error: InferenceError) -> Response:
    if error.kind == "oom":
        message = (
            f"CUDA out of memory. Tried to allocate {error.need_gib:.2f} GiB. GPU 0 has a "
            f"total capacity of {error.have_gib:.2f} GiB."
        )
        return _error(500, message, "InternalServerError")
    return _error(404, f"The model `{error.model}` does not exist.", "NotFoundError", "model")


async def health(request: Request) -> Response:
    return Response(status_code=200)


async def models(request: Request) -> Response:
    engine = engine_of(request)
    fits = {
        name for name, model in LLM_MODELS.items() if footprint_mib(model) <= engine.gpu.total_mib
    }
    created = int(time.time())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": OWNER, "root": name}
        for name in sorted(fits | set(engine.pulled))
    ]
    return json_response({"object": "list", "data": data})


def _texts(body: dict[str, Any], chat: bool) -> list[str]:
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadBody("messages must be a non-empty list")
        texts = []
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str):
                raise BadBody("each message must be an object with a string content")
            texts.append(content)
        return texts
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise BadBody("prompt must be a non-empty string")
    return [prompt]


def _usage(run: Run) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.sent,
        "total_tokens": run.prompt_tokens + run.sent,
    }
    if run.cached:
        usage["prompt_tokens_details"] = {"cached_tokens": run.prompt_tokens}
    return usage


async def _complete(request: Request, chat: bool) -> Response:
    engine = engine_of(request)
    try:
        body = await json_body(request)
        name = model_field(body, "model")
        limit = max_tokens(body.get("max_completion_tokens", body.get("max_tokens")), "max_tokens")
        texts = _texts(body, chat)
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise BadBody("stream_options must be an object")
    except BadBody as error:
        return _error(400, str(error), "BadRequestError")
    fault = engine.take_fault()
    if fault is not None and fault.behaviour is None:
        return fault.response()
    try:
        run = engine.start(name, texts, limit, need_pull=False, behaviour=fault and fault.behaviour)
    except InferenceError as error:
        return _refusal(error)
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{secrets.token_hex(12)}"
    base = {
        "id": ident,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": run.model.name,
    }
    headers = rate_headers(engine, run)
    if not body.get("stream", False):
        try:
            text = "".join([piece async for piece in run.pieces()])
        except StreamBroken:
            return _error(500, "EngineCore encountered an issue.", "InternalServerError")
        if not run.completed:
            return _error(503, "server shutting down", "ServiceUnavailableError")
        content = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        choice = {"index": 0, **content, "logprobs": None, "finish_reason": run.done_reason}
        whole = {**base, "object": "chat.completion" if chat else "text_completion"}
        return json_with({**whole, "choices": [choice], "usage": _usage(run)}, headers)

    def chunk(piece: str | None, finish: str | None, role: bool = False) -> bytes:
        if chat:
            delta: dict[str, Any] = {} if piece is None else {"content": piece}
            if role:
                delta = {"role": "assistant", "content": ""}
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"index": 0, "text": piece or ""}
        return event({**base, "choices": [{**choice, "logprobs": None, "finish_reason": finish}]})

    async def stream() -> AsyncIterator[bytes]:
        if chat:
            yield chunk(None, None, role=True)
        async for piece in run.pieces():
            yield chunk(piece, None)
        if not run.completed:
            return
        yield chunk(None, run.done_reason)
        if options.get("include_usage"):
            yield event({**base, "choices": [], "usage": _usage(run)})
        yield event("[DONE]")

    return StreamingResponse(stream(), media_type=SSE_TYPE, headers=headers)


async def chat_completions(request: Request) -> Response:
    return await _complete(request, chat=True)


async def completions(request: Request) -> Response:
    return await _complete(request, chat=False)


def openai_routes() -> list[Route]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
    ]
