"""The stream parsers on real-shaped Ollama NDJSON and OpenAI-compatible SSE streams.

Lines are fed with the time they were "read" (seconds on a monotonic clock), as the client
does, so time to first token and wall-clock rates are exact here.
"""

import json

import pytest

from benchmark_scripts.errors import (
    BAD_STREAM,
    EMPTY_RESPONSE,
    HTTP_ERROR,
    MODEL_NOT_FOUND,
    OOM,
    BenchError,
)
from benchmark_scripts.streams import (
    DEGENERATE_TPS,
    MISSING_DURATIONS,
    MISSING_TOKEN_COUNTS,
    decode_rate,
    parse_ollama_stream,
    parse_openai_stream,
)

# Shapes as Ollama 0.5 streams /api/chat (content chunks, then the final chunk).
OLLAMA_FINAL = {
    "model": "llama3.1:8b",
    "created_at": "2026-12-04T15:31:07.188398Z",
    "message": {"role": "assistant", "content": ""},
    "done_reason": "stop",
    "done": True,
    "total_duration": 2_176_924_833,
    "load_duration": 13_528_458,
    "prompt_eval_count": 17,
    "prompt_eval_duration": 156_011_000,
    "eval_count": 95,
    "eval_duration": 1_966_203_000,
}


def ollama_chunk(content: str) -> str:
    return json.dumps(
        {
            "model": "llama3.1:8b",
            "created_at": "2026-12-04T15:31:05.602381Z",
            "message": {"role": "assistant", "content": content},
            "done": False,
        }
    )


def timed(lines: list[str], start: float = 10.0, step: float = 0.05) -> list[tuple[float, str]]:
    """Line i read at start + (i + 1) * step."""
    return [(start + (i + 1) * step, line) for i, line in enumerate(lines)]


def test_ollama_chat_stream_uses_nanosecond_durations():
    """eval_count 95 over eval_duration 1_966_203_000 ns = 1.966203 s: 95 / 1.966203 =
    48.316 tokens/s. The first content line is read at 10.05 s for a request sent at
    10.0 s: time to first token 0.05 s; the final chunk is line 4, read at 10.20 s."""
    lines = [ollama_chunk("The"), ollama_chunk(" capital"), ollama_chunk(" is Canberra.")]
    measured = parse_ollama_stream(timed([*lines, json.dumps(OLLAMA_FINAL)]), started=10.0)

    assert measured.text == "The capital is Canberra."
    assert measured.output_tokens == 95
    assert measured.tokens_per_second == pytest.approx(48.316, abs=0.001)
    assert measured.ttft_s == pytest.approx(0.05)
    assert measured.total_s == pytest.approx(0.20)
    assert measured.prompt_tokens == 17
    assert measured.prompt_cached is False
    assert measured.flags == []


def test_ollama_generate_stream_with_context_array():
    """/api/generate puts text in `response` and a token `context` in the final chunk.
    40 tokens in 500_000_000 ns = 0.5 s: 80 tokens/s."""
    chunk = {"model": "mistral:7b", "created_at": "x", "response": "Hi", "done": False}
    final = {
        "model": "mistral:7b",
        "response": "",
        "done": True,
        "context": list(range(3000)),
        "prompt_eval_count": 26,
        "eval_count": 40,
        "eval_duration": 500_000_000,
    }
    measured = parse_ollama_stream(timed([json.dumps(chunk), json.dumps(final)]), started=10.0)
    assert measured.text == "Hi"
    assert measured.tokens_per_second == 80.0


@pytest.mark.parametrize("prompt_eval", [None, 0, 1])
def test_ollama_cached_prompt_is_marked(prompt_eval: int | None):
    """A prompt served from Ollama's cache omits prompt_eval_count or reports 0 or 1."""
    final = {k: v for k, v in OLLAMA_FINAL.items() if not k.startswith("prompt_eval")}
    if prompt_eval is not None:
        final["prompt_eval_count"] = prompt_eval
    measured = parse_ollama_stream(timed([ollama_chunk("Hi"), json.dumps(final)]), started=10.0)
    assert measured.prompt_cached is True
    assert measured.prompt_tokens is None
    assert measured.tokens_per_second == pytest.approx(95 / 1.966203)


def test_ollama_empty_stream_is_empty_response():
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream([], started=10.0)
    assert raised.value.kind == EMPTY_RESPONSE
    assert raised.value.retry_suggested is True


def test_ollama_final_chunk_without_text_is_empty_response():
    final = {**OLLAMA_FINAL, "eval_count": 0, "eval_duration": 0}
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream(timed(["", json.dumps(final)]), started=10.0)
    assert raised.value.kind == EMPTY_RESPONSE


def test_ollama_error_line_mid_stream_is_classified_as_oom():
    error = {"error": "llama runner process has terminated: cudaMalloc failed: out of memory"}
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream(timed([ollama_chunk("The"), json.dumps(error)]), started=10.0)
    assert raised.value.kind == OOM
    assert raised.value.retry_suggested is False


def test_ollama_model_not_found_error_line():
    error = {"error": "model 'llama9:70b' not found, try pulling it first"}
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream(timed([json.dumps(error)]), started=10.0)
    assert raised.value.kind == MODEL_NOT_FOUND


def test_ollama_truncated_line_is_bad_stream():
    broken = json.dumps(OLLAMA_FINAL)[:57]
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream(timed([ollama_chunk("The"), broken]), started=10.0)
    assert raised.value.kind == BAD_STREAM
    assert "not JSON" in raised.value.message


def test_ollama_stream_cut_before_final_chunk_is_bad_stream():
    with pytest.raises(BenchError) as raised:
        parse_ollama_stream(timed([ollama_chunk("The"), ollama_chunk(" end")]), started=10.0)
    assert raised.value.kind == BAD_STREAM
    assert "done" in raised.value.message


def test_ollama_zero_eval_duration_is_degenerate_not_infinite():
    final = {**OLLAMA_FINAL, "eval_duration": 0}
    measured = parse_ollama_stream(timed([ollama_chunk("Hi"), json.dumps(final)]), started=10.0)
    assert measured.tokens_per_second is None
    assert DEGENERATE_TPS in measured.flags


def test_ollama_absurd_rate_is_degenerate():
    """500 tokens in 1_000 ns would be 500 million tokens/s."""
    final = {**OLLAMA_FINAL, "eval_count": 500, "eval_duration": 1_000}
    measured = parse_ollama_stream(timed([ollama_chunk("Hi"), json.dumps(final)]), started=10.0)
    assert measured.tokens_per_second is None
    assert DEGENERATE_TPS in measured.flags


def test_ollama_missing_counts_fall_back_to_chunks_and_wall_clock():
    """No eval_count or eval_duration: 3 content chunks read at 10.05, 10.10, 10.15 s are
    3 tokens; 2 tokens after the first over 0.10 s = 20 tokens/s."""
    final = {"model": "llama3.1:8b", "message": {"content": ""}, "done": True}
    chunks = [ollama_chunk("a"), ollama_chunk("b"), ollama_chunk("c"), json.dumps(final)]
    measured = parse_ollama_stream(timed(chunks), started=10.0)
    assert measured.output_tokens == 3
    assert measured.tokens_per_second == pytest.approx(20.0)
    assert MISSING_TOKEN_COUNTS in measured.flags
    assert MISSING_DURATIONS in measured.flags


def test_ollama_thinking_chunks_count_for_first_token():
    """A reasoning model streams `message.thinking` before any content."""
    thinking = json.dumps({"message": {"role": "assistant", "content": "", "thinking": "Hm"}})
    lines = [thinking, ollama_chunk("391"), json.dumps(OLLAMA_FINAL)]
    measured = parse_ollama_stream(timed(lines), started=10.0)
    assert measured.ttft_s == pytest.approx(0.05)
    assert measured.text == "391"


# OpenAI-compatible SSE, as vLLM streams /v1/chat/completions.
def sse(payload: dict) -> str:
    return "data: " + json.dumps(payload)


def openai_chunk(content: str | None, finish: str | None = None, role: bool = False) -> str:
    delta: dict = {"content": content}
    if role:
        delta["role"] = "assistant"
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return sse({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]})


def usage_line(completion_tokens: int) -> str:
    usage = {"prompt_tokens": 12, "completion_tokens": completion_tokens, "total_tokens": 53}
    return sse({"id": "chatcmpl-1", "choices": [], "usage": usage})


USAGE = usage_line(41)


def test_openai_stream_with_usage():
    """The role chunk (empty content) at 10.05 s is not the first token; content arrives
    at 10.15, 10.25 and 10.35 s (blank separator lines between events), the finish chunk
    at 10.45 s. usage says 41 completion tokens: 40 after the first over 10.35 - 10.15 =
    0.20 s = 200 tokens/s."""
    lines = [
        openai_chunk("", role=True),
        "",
        openai_chunk("The"),
        "",
        openai_chunk(" answer"),
        "",
        openai_chunk(" is 55."),
        "",
        openai_chunk(None, finish="length"),
        "",
        USAGE,
        "",
        "data: [DONE]",
    ]
    measured = parse_openai_stream(timed(lines), started=10.0)
    assert measured.text == "The answer is 55."
    assert measured.ttft_s == pytest.approx(0.15)
    assert measured.output_tokens == 41
    assert measured.tokens_per_second == pytest.approx(200.0)
    assert measured.prompt_tokens == 12
    assert measured.prompt_cached is False
    assert measured.total_s == pytest.approx(0.65)
    assert measured.flags == []


def test_openai_stream_without_usage_counts_chunks():
    """No usage chunk: 4 content chunks at 10.05..10.20 s count as 4 tokens, 3 after the
    first over 0.15 s = 20 tokens/s, flagged."""
    lines = [openai_chunk(word) for word in ("a", "b", "c", "d")]
    lines += [openai_chunk(None, finish="stop"), "data: [DONE]"]
    measured = parse_openai_stream(timed(lines), started=10.0)
    assert measured.output_tokens == 4
    assert measured.tokens_per_second == pytest.approx(20.0)
    assert MISSING_TOKEN_COUNTS in measured.flags
    assert measured.prompt_cached is None


def test_openai_completions_text_and_cached_prompt_tokens():
    """/v1/completions streams choices[0].text; vLLM reports cached prompt tokens."""
    text = [sse({"choices": [{"index": 0, "text": t, "finish_reason": None}]}) for t in "ab"]
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 16},
    }
    lines = [*text, sse({"choices": [], "usage": usage}), "data: [DONE]"]
    measured = parse_openai_stream(timed(lines), started=10.0)
    assert measured.text == "ab"
    assert measured.prompt_cached is True
    assert measured.tokens_per_second == pytest.approx(1 / 0.05)


def test_openai_keepalive_comments_and_event_fields_are_skipped():
    lines = [": ping", "event: message", openai_chunk("Hi", finish="stop"), "data: [DONE]"]
    measured = parse_openai_stream(timed(lines), started=10.0)
    assert measured.text == "Hi"
    assert measured.ttft_s == pytest.approx(0.15)


def test_openai_single_token_rate_is_degenerate():
    """One token: no interval to divide by, so no rate (not infinity)."""
    lines = [openai_chunk("Hi", finish="stop"), usage_line(1), "data: [DONE]"]
    measured = parse_openai_stream(timed(lines), started=10.0)
    assert measured.output_tokens == 1
    assert measured.tokens_per_second is None
    assert DEGENERATE_TPS in measured.flags


def test_openai_only_empty_choices_is_empty_response():
    lines = [sse({"choices": []}), USAGE, "data: [DONE]"]
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed(lines), started=10.0)
    assert raised.value.kind == EMPTY_RESPONSE


def test_openai_done_only_is_empty_response():
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed(["data: [DONE]"]), started=10.0)
    assert raised.value.kind == EMPTY_RESPONSE


def test_openai_error_event_mid_stream():
    error = {"error": {"message": "CUDA out of memory. Tried to allocate 2.00 GiB", "code": 500}}
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed([openai_chunk("a"), sse(error)]), started=10.0)
    assert raised.value.kind == OOM


def test_openai_plain_error_body_instead_of_stream():
    """vLLM's own error shape, sent as a JSON body where the stream should be."""
    body = {"object": "error", "message": "max_tokens must be at least 1", "code": 400}
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed([json.dumps(body)]), started=10.0)
    assert raised.value.kind == HTTP_ERROR


def test_openai_broken_json_is_bad_stream():
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed([openai_chunk("a"), 'data: {"choices": [{"del']), 10.0)
    assert raised.value.kind == BAD_STREAM


def test_openai_stream_cut_before_done_is_bad_stream():
    with pytest.raises(BenchError) as raised:
        parse_openai_stream(timed([openai_chunk("a"), openai_chunk("b")]), started=10.0)
    assert raised.value.kind == BAD_STREAM


@pytest.mark.parametrize(
    ("tokens", "seconds", "rate", "flag"),
    [
        (40, 0.5, 80.0, None),
        (None, 0.5, None, None),
        (40, None, None, None),
        (40, 0.0, None, DEGENERATE_TPS),
        (0, 0.5, None, DEGENERATE_TPS),
        (40, -1.0, None, DEGENERATE_TPS),
        (40_000, 1.0, None, DEGENERATE_TPS),
    ],
)
def test_decode_rate(tokens, seconds, rate, flag):
    assert decode_rate(tokens, seconds) == (rate, flag)
