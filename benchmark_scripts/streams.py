"""Parsers for the two streaming wire formats, from timed lines to one measurement.

Both take `(monotonic_time, line)` pairs, the time the line was read, so the timing is
measured by the caller's clock and the parsers are pure (tests feed recorded streams).

- Ollama (`/api/chat`, `/api/generate`): NDJSON. Content chunks, then a final chunk with
  `done: true` and counts and durations in NANOSECONDS. Decode rate is `eval_count /
  eval_duration`; a prompt served from the cache omits `prompt_eval_count` or reports 0/1.
- OpenAI-compatible (vLLM, llama.cpp, TGI): SSE `data: {...}` lines with
  `choices[0].delta.content` (chat) or `choices[0].text` (completions), an optional usage
  chunk (asked for with `stream_options.include_usage`), and `data: [DONE]`. The decode
  rate is measured here: tokens after the first over the time from first to last content.

A value that cannot be measured is None, with a flag saying why; never 0 or infinity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import BAD_STREAM, EMPTY_RESPONSE, BenchError, error_text, server_error

NS_PER_S = 1_000_000_000
MAX_PLAUSIBLE_TPS = 20_000.0  # far above any single-stream decode rate seen on one GPU
SHOWN_LINE_CHARS = 80

MISSING_TOKEN_COUNTS = "missing_token_counts"  # noqa: S105 (a flag name, no secret)
MISSING_DURATIONS = "missing_durations"  # Ollama gave no eval_duration: wall clock used
DEGENERATE_TPS = "degenerate_tps"  # zero duration, no tokens, or an absurd rate


@dataclass
class Measurement:
    """One streamed request, as far as it could be measured."""

    text: str = ""
    ttft_s: float | None = None
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    prompt_cached: bool | None = None
    tokens_per_second: float | None = None
    total_s: float | None = None
    flags: list[str] = field(default_factory=list)


def decode_rate(tokens: int | None, seconds: float | None) -> tuple[float | None, str | None]:
    """tokens/seconds, or (None, flag) when either side makes the rate meaningless."""
    if tokens is None or seconds is None:
        return None, None
    if tokens <= 0 or seconds <= 0:
        return None, DEGENERATE_TPS
    rate = tokens / seconds
    if not math.isfinite(rate) or rate > MAX_PLAUSIBLE_TPS:
        return None, DEGENERATE_TPS
    return rate, None


def _count(source: object, key: str) -> int | None:
    """A non-negative integer field, else None (missing, null, text, negative)."""
    if not isinstance(source, dict):
        return None
    value = source.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _load(line: str) -> dict:
    try:
        chunk = json.loads(line)
    except ValueError:
        raise BenchError(BAD_STREAM, f"not JSON: {line[:SHOWN_LINE_CHARS]!r}") from None
    if not isinstance(chunk, dict):
        raise BenchError(BAD_STREAM, f"not a JSON object: {line[:SHOWN_LINE_CHARS]!r}")
    message = error_text(chunk)
    if message is not None:
        raise server_error(message)
    return chunk


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_ollama_stream(lines: Iterable[tuple[float, str]], started: float) -> Measurement:
    """Measure an Ollama NDJSON stream that began (request sent) at `started`."""
    parts: list[str] = []
    chunks = 0
    first: float | None = None
    last: float | None = None
    final: dict | None = None
    last_read: float | None = None
    for read_at, raw in lines:
        line = raw.strip()
        if not line:
            continue
        chunk = _load(line)
        message = chunk.get("message")
        if isinstance(message, dict):  # /api/chat
            content, thinking = _text(message.get("content")), _text(message.get("thinking"))
        else:  # /api/generate
            content, thinking = _text(chunk.get("response")), _text(chunk.get("thinking"))
        if content or thinking:
            chunks += 1
            first = read_at if first is None else first
            last = read_at
            parts.append(content)
        if chunk.get("done") is True:
            final = chunk
            last_read = read_at
            break
    if first is None or last is None:
        raise BenchError(EMPTY_RESPONSE, "the stream held no generated text")
    if final is None or last_read is None:
        raise BenchError(BAD_STREAM, "the stream ended before its final chunk (done: true)")

    measured = Measurement(text="".join(parts), ttft_s=first - started, total_s=last_read - started)
    measured.output_tokens = _count(final, "eval_count")
    if measured.output_tokens is None:
        measured.output_tokens = chunks  # Ollama sends about one token per chunk
        measured.flags.append(MISSING_TOKEN_COUNTS)
    eval_ns = _count(final, "eval_duration")
    if eval_ns is not None:
        rate, flag = decode_rate(measured.output_tokens, eval_ns / NS_PER_S)
    else:
        measured.flags.append(MISSING_DURATIONS)
        rate, flag = decode_rate(measured.output_tokens - 1, last - first)
    measured.tokens_per_second = rate
    if flag:
        measured.flags.append(flag)
    prompt_count = _count(final, "prompt_eval_count")
    measured.prompt_cached = prompt_count is None or prompt_count <= 1
    measured.prompt_tokens = None if measured.prompt_cached else prompt_count
    return measured


def parse_openai_stream(lines: Iterable[tuple[float, str]], started: float) -> Measurement:
    """Measure an OpenAI-compatible SSE stream that began (request sent) at `started`."""
    parts: list[str] = []
    chunks = 0
    first: float | None = None
    last: float | None = None
    usage: dict | None = None
    finished = done = False
    end = started
    for read_at, raw in lines:
        line = raw.strip()
        if not line or line.startswith(":"):  # blank separators and keep-alive comments
            continue
        if line.startswith("data:"):
            payload = line[len("data:") :].strip()
        elif line.startswith("{"):  # a plain JSON body (usually an error) instead of SSE
            payload = line
        else:  # event:, id:, retry: fields
            continue
        end = read_at
        if payload == "[DONE]":
            done = True
            break
        chunk = _load(payload)
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(choice, dict):
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            content = _text(delta.get("content")) or _text(choice.get("text"))
            reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
            if content or reasoning:
                chunks += 1
                first = read_at if first is None else first
                last = read_at
                parts.append(content)
            finished = finished or bool(choice.get("finish_reason"))
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
    if first is None or last is None:
        raise BenchError(EMPTY_RESPONSE, "the stream held no generated text")
    if not (done or finished):
        raise BenchError(BAD_STREAM, "the stream ended before [DONE] or a finish_reason")

    measured = Measurement(text="".join(parts), ttft_s=first - started, total_s=end - started)
    measured.output_tokens = _count(usage, "completion_tokens")
    if measured.output_tokens is None:
        measured.output_tokens = chunks
        measured.flags.append(MISSING_TOKEN_COUNTS)
    rate, flag = decode_rate(measured.output_tokens - 1, last - first)
    measured.tokens_per_second = rate
    if flag:
        measured.flags.append(flag)
    if usage is not None:
        prompt_count = _count(usage, "prompt_tokens")
        measured.prompt_tokens = prompt_count or None
        cached = _count(usage.get("prompt_tokens_details"), "cached_tokens")
        measured.prompt_cached = bool(cached) if cached is not None else False
    return measured
