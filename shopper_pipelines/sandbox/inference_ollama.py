"""The Ollama-compatible API of a sandbox instance (the parts benchmark clients use).

`GET /`, `GET /api/version`, `GET /api/tags` (pulled models), `GET /api/ps` (loaded),
`POST /api/pull` (NDJSON progress, well under a second), `POST /api/generate` and
`POST /api/chat`, streamed as NDJSON (`stream` defaults to true) or as one object.
The final chunk carries Ollama's statistics in nanoseconds; for a fully cached prompt it
leaves out `prompt_eval_count` and `prompt_eval_duration`, as Ollama does. An empty prompt
only loads the model (`done_reason: "load"`). Errors are Ollama's `{"error": text}`: 404
for a model that is not pulled (or does not exist), 500 for one that does not fit in VRAM.
"""

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from shopper_pipelines.benchmarks.llm_models import LlmModel, lookup
from shopper_pipelines.sandbox.inference_engine import (
    InferenceError,
    Run,
    StreamBroken,
    footprint_mib,
)
from shopper_pipelines.sandbox.inference_http import (
    NDJSON_TYPE,
    OLLAMA_VERSION,
    BadBody,
    created_at,
    engine_of,
    json_body,
    json_with,
    line,
    max_tokens,
    model_field,
    rate_headers,
)
from shopper_pipelines.sandbox.responses import json_response

PULL_STEPS = 5
PULL_SECONDS = 0.4
BYTES_PER_GB = 1_000_000_000
MIB = 1 << 20
EOF_MESSAGE = "an error was encountered while running the model: unexpected EOF"


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _refusal(error: InferenceError) -> Response:
    if error.kind == "oom":
        return _error(
            500,
            f"model requires more system memory ({error.need_gib:.1f} GiB) than is "
            f"available ({error.have_gib:.1f} GiB)",
        )
    return _error(404, f"model '{error.model}' not found, try pulling it first")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(model: LlmModel) -> dict[str, Any]:
    match = re.match(r"[a-z]+", model.name)
    family = match.group(0) if match else model.name
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": f"{model.params_b:.1f}B",
        "quantization_level": "Q4_K_M",
    }


def _describe(model: LlmModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "size": int(model.size_gb * BYTES_PER_GB),
        "digest": _digest(model.name),
        "details": _details(model),
    }


async def root(request: Request) -> Response:
    return PlainTextResponse("Ollama is running")


async def version(request: Request) -> Response:
    return json_response({"version": OLLAMA_VERSION})


async def tags(request: Request) -> Response:
    engine = engine_of(request)
    models = []
    for name in sorted(engine.pulled):
        model = engine.known(name)
        models.append({**_describe(model), "modified_at": created_at()})
    return json_response({"models": models})


async def ps(request: Request) -> Response:
    engine = engine_of(request)
    loaded = [engine.known(name) for name in engine.loaded]
    models = [
        {**_describe(model), "size_vram": footprint_mib(model) * MIB, "expires_at": created_at()}
        for model in loaded
    ]
    return json_response({"models": models})


async def pull(request: Request) -> Response:
    try:
        body = await json_body(request)
        name = model_field(body, "model", "name")
    except BadBody as error:
        return _error(400, str(error))
    engine = engine_of(request)
    model = lookup(name)
    missing = "pull model manifest: file does not exist"
    if body.get("stream", True) is False:
        if model is None:
            return _error(500, missing)
        await engine.pause(PULL_SECONDS)
        engine.pull(model)
        return json_response({"status": "success"})

    async def progress() -> AsyncIterator[bytes]:
        yield line({"status": "pulling manifest"})
        if model is None:
            yield line({"error": missing})
            return
        total, digest = int(model.size_gb * BYTES_PER_GB), _digest(model.name)
        for step in range(PULL_STEPS + 1):
            status = {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}"}
            yield line({**status, "total": total, "completed": total * step // PULL_STEPS})
            if not await engine.pause(PULL_SECONDS / PULL_STEPS):
                return
        for status in ("verifying sha256 digest", "writing manifest"):
            yield line({"status": status})
        engine.pull(model)
        yield line({"status": "success"})

    return StreamingResponse(progress(), media_type=NDJSON_TYPE)


def _stats(run: Run) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "done": True,
        "done_reason": run.done_reason,
        "total_duration": run.total_ns,
        "load_duration": run.load_ns,
    }
    if not run.cached:
        stats["prompt_eval_count"] = run.prompt_tokens
        stats["prompt_eval_duration"] = run.prompt_eval_ns
    stats["eval_count"] = run.sent
    stats["eval_duration"] = run.eval_ns
    return stats


async def _answer(request: Request, chat: bool) -> Response:
    engine = engine_of(request)
    try:
        body = await json_body(request)
        name = model_field(body, "model")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadBody("options must be an object")
        limit = max_tokens(options.get("num_predict"), "options.num_predict")
        texts = _chat_texts(body) if chat else _generate_texts(body)
    except BadBody as error:
        return _error(400, str(error))
    fault = engine.take_fault()
    if fault is not None and fault.behaviour is None:
        return fault.response()
    if not texts:
        return await _load_only(request, name, chat)
    try:
        run = engine.start(name, texts, limit, need_pull=True, behaviour=fault and fault.behaviour)
    except InferenceError as error:
        return _refusal(error)
    wrap = _chat_piece if chat else _generate_piece
    headers = rate_headers(engine, run)
    if body.get("stream", True) is False:
        try:
            text = "".join([piece async for piece in run.pieces()])
        except StreamBroken:
            return _error(500, EOF_MESSAGE)
        if not run.completed:
            return _error(503, "server shutting down")
        return json_with({**wrap(run, text), **_stats(run)}, headers)

    async def chunks() -> AsyncIterator[bytes]:
        async for piece in run.pieces():
            yield line({**wrap(run, piece), "done": False})
        if run.completed:
            yield line({**wrap(run, ""), **_stats(run)})

    return StreamingResponse(chunks(), media_type=NDJSON_TYPE, headers=headers)


def _generate_texts(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise BadBody("prompt must be a string")
    system = body.get("system")
    if not prompt:
        return []
    return [system, prompt] if isinstance(system, str) and system else [prompt]


def _chat_texts(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise BadBody("messages must be a list")
    texts = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
            raise BadBody("each message must be an object with a string content")
        texts.append(message.get("content", ""))
    return texts


def _generate_piece(run: Run, text: str) -> dict[str, Any]:
    return {"model": run.model.name, "created_at": created_at(), "response": text}


def _chat_piece(run: Run, text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"model": run.model.name, "created_at": created_at(), "message": message}


async def _load_only(request: Request, name: str, chat: bool) -> Response:
    """An empty prompt loads the model and answers at once, as Ollama does."""
    engine = engine_of(request)
    try:
        model = engine.admit(name, need_pull=True)
    except InferenceError as error:
        return _refusal(error)
    await engine.ensure_loaded(model)
    answer = {"message": {"role": "assistant", "content": ""}} if chat else {"response": ""}
    payload = {"model": model.name, "created_at": created_at(), **answer}
    return json_response({**payload, "done": True, "done_reason": "load"})


async def generate(request: Request) -> Response:
    return await _answer(request, chat=False)


async def chat(request: Request) -> Response:
    return await _answer(request, chat=True)


def ollama_routes() -> list[Route]:
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", version, methods=["GET"]),
        Route("/api/tags", tags, methods=["GET"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/pull", pull, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
    ]
