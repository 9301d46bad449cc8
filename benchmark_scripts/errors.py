"""Typed benchmark errors, and whether running the benchmark again could help.

Each error ends up in the result's `errors` list as {type, message, phase,
retry_suggested}; the runner on the control side reads `retry_suggested` to decide on a
second attempt, so a wrong "yes" costs a rental.
"""

from __future__ import annotations

import re

SERVER_UNREACHABLE = "server_unreachable"
MODEL_PULL_FAILED = "model_pull_failed"
MODEL_NOT_FOUND = "model_not_found"
OOM = "oom"
TIMEOUT = "timeout"
EMPTY_RESPONSE = "empty_response"
HTTP_ERROR = "http_error"
BAD_STREAM = "bad_stream"
GPU_QUERY_FAILED = "gpu_query_failed"
INTERRUPTED = "interrupted"

ERROR_TYPES = (
    SERVER_UNREACHABLE,
    MODEL_PULL_FAILED,
    MODEL_NOT_FOUND,
    OOM,
    TIMEOUT,
    EMPTY_RESPONSE,
    HTTP_ERROR,
    BAD_STREAM,
    GPU_QUERY_FAILED,
    INTERRUPTED,
)

# A transient failure may pass on a second try; a model that does not fit or does not
# exist, or a node without a working GPU query, will fail the same way again.
RETRY_BY_TYPE = {
    SERVER_UNREACHABLE: True,
    MODEL_PULL_FAILED: True,
    MODEL_NOT_FOUND: False,
    OOM: False,
    TIMEOUT: True,
    EMPTY_RESPONSE: True,
    HTTP_ERROR: True,
    BAD_STREAM: True,
    GPU_QUERY_FAILED: False,
    INTERRUPTED: True,
}

# What Ollama, llama.cpp, vLLM and PyTorch say when the model does not fit.
_OOM_PATTERN = re.compile(
    r"out of memory|requires more (system )?memory|cudamalloc failed|"
    r"insufficient (gpu |system )?memory|not enough memory|\boom\b",
    re.IGNORECASE,
)
MAX_MESSAGE_CHARS = 500


class BenchError(Exception):
    """A failure with its contract type; `retry_suggested` defaults by type."""

    def __init__(self, kind: str, message: str, retry_suggested: bool | None = None) -> None:
        if kind not in ERROR_TYPES:
            raise ValueError(f"error type must be one of {ERROR_TYPES}, got {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = shorten(message)
        self.retry_suggested = RETRY_BY_TYPE[kind] if retry_suggested is None else retry_suggested

    def as_record(self, phase: str) -> dict:
        return {
            "type": self.kind,
            "message": self.message,
            "phase": phase,
            "retry_suggested": self.retry_suggested,
        }


def is_oom_message(message: str) -> bool:
    return bool(_OOM_PATTERN.search(message))


def server_error(message: str, status: int | None = None) -> BenchError:
    """Classify an error the server reported, in a body, a stream line or an HTTP status."""
    shown = f"HTTP {status}: {message}" if status is not None else message
    if is_oom_message(message):
        return BenchError(OOM, shown)
    lowered = message.lower()
    if status == 404 or ("model" in lowered and "not found" in lowered):
        return BenchError(MODEL_NOT_FOUND, shown)
    if status in (408, 504) or "timed out" in lowered or "timeout" in lowered:
        return BenchError(TIMEOUT, shown)
    # 4xx other than 408/429 means the request itself is wrong: it will be wrong again.
    retry = status is None or status >= 500 or status == 429
    return BenchError(HTTP_ERROR, shown, retry_suggested=retry)


def error_text(body: object) -> str | None:
    """The message of an `{"error": ...}` body (Ollama: a string; OpenAI: an object)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if body.get("object") == "error":  # vLLM's own error shape
        return str(body.get("message") or body)
    return None


def shorten(message: str) -> str:
    message = " ".join(message.split())
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."
