"""The OpenAI-compatible (vLLM-shaped) stand-in of a sandbox instance, over real HTTP.

Speed 10, as in the Ollama tests: llama3.1:8b on an RTX 4090 streams at 169 x 10 tok/s.
"""

import time
from collections.abc import Iterator
from typing import Any

import asyncssh
import httpx
import orjson
import pytest

from shopper_pipelines.sandbox.server import running_sandbox
from tests.sandbox.conftest import BOOT_SECONDS
from tests.sandbox.test_inference_ollama import Box, rent_running_vast

SPEED = 10.0
MODEL = "llama3.1:8b"


@pytest.fixture(scope="module")
def box(client_key: asyncssh.SSHKey) -> Iterator[Box]:
    with (
        running_sandbox(
            6, vast_offer_count=300, boot_seconds=BOOT_SECONDS, inference_speed=SPEED
        ) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield rent_running_vast(client, client_key, "RTX 4090")


def openai(box: Box) -> httpx.Client:
    return httpx.Client(base_url=f"{box.api}/v1", timeout=30)


def sse(api: httpx.Client, path: str, body: dict[str, Any]) -> tuple[httpx.Headers, list]:
    """(headers, [(arrival time, parsed chunk or "[DONE]")]) of one event stream."""
    with api.stream("POST", path, json={**body, "stream": True}) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = []
        for line in answer.iter_lines():
            if not line:
                continue
            assert line.startswith("data: ")
            data = line.removeprefix("data: ")
            events.append((time.monotonic(), data if data == "[DONE]" else orjson.loads(data)))
        return answer.headers, events


def test_models_lists_what_fits_in_vram(box: Box) -> None:
    """One RTX 4090: llama3.1:8b (6.4 GB) fits, llama3.1:70b (51.6 GB) does not."""
    with openai(box) as api:
        listed = api.get("/models").json()
    assert listed["object"] == "list"
    ids = [model["id"] for model in listed["data"]]
    assert MODEL in ids and "llama3.1:70b" not in ids
    assert all(model["object"] == "model" for model in listed["data"])


def test_chat_stream_with_usage_then_done(box: Box) -> None:
    """200 tokens at 1690 tok/s: about 0.12 s of decoding."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Explain GPUs at length."}],
        "max_tokens": 200,
        "stream_options": {"include_usage": True},
    }
    with openai(box) as api:
        headers, events = sse(api, "/chat/completions", body)
    assert (headers["x-sandbox-rate"], headers["x-sandbox-rate-source"]) == ("169", "published")
    chunks = [chunk for _, chunk in events]
    assert chunks[-1] == "[DONE]"
    *deltas, finish, usage, _ = chunks
    assert deltas[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in deltas)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in deltas)
    assert len(text.split()) == 200
    assert finish["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 200
    assert usage["usage"]["total_tokens"] == 200 + usage["usage"]["prompt_tokens"]
    # The client's own clock: tokens after the first content chunk over the time they took.
    content = [(at, c) for at, c in events[1:] if isinstance(c, dict) and c["choices"]]
    content = [(at, c) for at, c in content if c["choices"][0]["delta"].get("content")]
    later = sum(len(c["choices"][0]["delta"]["content"].split()) for _, c in content[1:])
    seen = later / (content[-1][0] - content[0][0])
    assert 0.6 * 169 * SPEED <= seen <= 1.3 * 169 * SPEED


def test_completions_stream_without_usage_and_non_stream(box: Box) -> None:
    with openai(box) as api:
        _, events = sse(api, "/completions", {"model": MODEL, "prompt": "Once", "max_tokens": 9})
        body = {"model": MODEL, "prompt": "A long story, please.", "max_tokens": 30}
        whole = api.post("/completions", json=body).json()
        again = api.post("/completions", json=body).json()
    chunks = [chunk for _, chunk in events]
    assert chunks[-1] == "[DONE]" and all("usage" not in c for c in chunks[:-1])
    assert all(c["object"] == "text_completion" for c in chunks[:-1])
    assert len("".join(c["choices"][0]["text"] for c in chunks[:-1]).split()) == 9
    assert whole["object"] == "text_completion"
    assert whole["choices"][0]["finish_reason"] == "length"
    assert len(whole["choices"][0]["text"].split()) == 30 == whole["usage"]["completion_tokens"]
    assert "prompt_tokens_details" not in whole["usage"]
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == again["usage"]["prompt_tokens"] > 0


def test_chat_non_stream_answers_a_quality_prompt_briefly(box: Box) -> None:
    question = "What is the capital city of Australia? Answer with the city name only."
    body = {"model": MODEL, "messages": [{"role": "user", "content": question}]}
    with openai(box) as api:
        answer = api.post("/chat/completions", json=body).json()
    assert answer["object"] == "chat.completion"
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert choice["message"]["content"] in ("Canberra", "I am not sure.")
    assert 0 < answer["usage"]["completion_tokens"] < 20


def test_openai_errors_unknown_model_oom_and_bad_body(box: Box) -> None:
    with openai(box) as api:
        nope = {"model": "nope", "messages": [{"role": "user", "content": "x"}]}
        unknown = api.post("/chat/completions", json=nope)
        too_big = api.post("/completions", json={"model": "llama3.1:70b", "prompt": "x"})
        bad = api.post("/completions", json={"model": MODEL})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "The model `nope` does not exist.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }
    }
    assert too_big.status_code == 500
    assert too_big.json()["error"]["message"].startswith("CUDA out of memory. Tried to allocate")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "prompt must be a non-empty string"
    with httpx.Client(base_url=box.api) as plain:
        assert plain.get("/health").status_code == 200
