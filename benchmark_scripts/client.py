"""HTTP to the inference server (Ollama or OpenAI-compatible) with `http.client` only.

One connection per request (threads of a concurrency sweep never share one), a deadline
per request (`--request-timeout`, applied to every socket read and to the whole stream),
and every failure turned into a typed `BenchError`. No retries here: a failed request is
recorded as such and the phase moves on; only waiting for the server polls.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from .errors import (
    BAD_STREAM,
    MODEL_NOT_FOUND,
    MODEL_PULL_FAILED,
    OOM,
    SERVER_UNREACHABLE,
    TIMEOUT,
    BenchError,
    error_text,
    server_error,
)
from .streams import Measurement, parse_ollama_stream, parse_openai_stream
from .urls import OLLAMA, OPENAI, same_ollama_model

MAX_LINE_BYTES = 4 * 1024 * 1024  # an /api/generate final chunk carries a context array
MAX_ERROR_BODY_BYTES = 64 * 1024
POLL_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 5.0
PULL_IDLE_TIMEOUT_S = 600.0  # a pull may stall this long between progress lines
MIN_LOAD_TIMEOUT_S = 300.0  # loading a large model from disk can take minutes
KEEP_ALIVE = "30m"  # keep the model loaded between phases
SHOWN_MODELS = 10
_TIMEOUTS = (TimeoutError, socket.timeout)  # distinct classes before Python 3.10


class Server:
    """One inference server: readiness, the model, and streamed prompts."""

    def __init__(self, runtime: str, base_url: str, request_timeout: float) -> None:
        self.runtime = runtime
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout
        self._stream_options = True  # dropped if the server rejects it
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")

    # --- transport ---------------------------------------------------------------------

    def _open(
        self, method: str, path: str, body: dict | None, timeout: float
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = factory(self._host, self._port, timeout=timeout)
        headers = {"Accept": "application/json, application/x-ndjson, text/event-stream"}
        api_key = os.environ.get("OPENAI_API_KEY") if self.runtime == OPENAI else None
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self._prefix + path, body=data, headers=headers)
            return conn, conn.getresponse()
        except _TIMEOUTS:
            conn.close()
            raise BenchError(TIMEOUT, f"{method} {path}: no answer in {timeout:.0f} s") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise BenchError(
                SERVER_UNREACHABLE, f"{method} {self.base_url}{path}: {exc!r}"
            ) from None

    def _json(self, method: str, path: str, timeout: float, body: dict | None = None) -> object:
        conn, response = self._open(method, path, body, timeout)
        try:
            if response.status >= 400:
                raise _status_error(response)
            try:
                return json.loads(response.read(MAX_LINE_BYTES))
            except ValueError:
                raise BenchError(BAD_STREAM, f"{path}: the answer is not JSON") from None
        finally:
            conn.close()

    # --- readiness and the model -------------------------------------------------------

    def wait_ready(self, wait_s: float, log: Callable[[str], None]) -> None:
        """Poll until the server answers; SERVER_UNREACHABLE after `wait_s` seconds."""
        path = "/api/version" if self.runtime == OLLAMA else "/models"
        deadline = time.monotonic() + wait_s
        log(f"waiting up to {wait_s:g} s for {self.runtime} at {self.base_url}")
        while True:
            remaining = deadline - time.monotonic()
            try:
                self._json("GET", path, max(0.1, min(PROBE_TIMEOUT_S, remaining)))
                return
            except BenchError as exc:
                if exc.kind != SERVER_UNREACHABLE and path == "/api/version":
                    path = "/api/tags"  # an Ollama-alike without /api/version
                problem = exc.message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(
                    SERVER_UNREACHABLE, f"no answer within {wait_s:g} s; last: {problem}"
                )
            time.sleep(min(POLL_INTERVAL_S, remaining))

    def ensure_model(self, model: str, pull: bool, log: Callable[[str], None]) -> bool:
        """Make sure the server has the model; True when it had to be pulled."""
        if self.runtime == OPENAI:
            body = self._json("GET", "/models", self.request_timeout)
            data = body.get("data") if isinstance(body, dict) else None
            ids = [str(m.get("id")) for m in data or [] if isinstance(m, dict)]
            if model not in ids:
                raise BenchError(
                    MODEL_NOT_FOUND, f"{model!r} is not served; /models lists {ids[:SHOWN_MODELS]}"
                )
            return False
        body = self._json("GET", "/api/tags", self.request_timeout)
        listed = body.get("models") if isinstance(body, dict) else None
        names = {
            str(m.get(key))
            for m in listed or []
            if isinstance(m, dict)
            for key in ("name", "model")
            if m.get(key)
        }
        if any(same_ollama_model(model, name) for name in names):
            return False
        if not pull:
            raise BenchError(MODEL_NOT_FOUND, f"{model!r} is not on the server (--no-pull)")
        self._pull(model, log)
        return True

    def load_model(self, model: str, log: Callable[[str], None]) -> float | None:
        """Ask Ollama to load the model now (an empty generate request), so load time and
        a model too big for the GPU show up here, not in the first measured request.
        Seconds it took, or None where the server has no such call (then the first
        request loads it). An out-of-memory answer raises."""
        if self.runtime != OLLAMA:
            return None
        started = time.monotonic()
        timeout = max(self.request_timeout, MIN_LOAD_TIMEOUT_S)
        try:
            self._json("POST", "/api/generate", timeout, {"model": model, "keep_alive": KEEP_ALIVE})
        except BenchError as exc:
            if exc.kind in (OOM, SERVER_UNREACHABLE):
                raise
            log(f"could not preload {model} ({exc.kind}: {exc.message}); the first request will")
            return None
        seconds = time.monotonic() - started
        log(f"{model} loaded in {seconds:.1f} s")
        return seconds

    def _pull(self, model: str, log: Callable[[str], None]) -> None:
        log(f"pulling {model}")
        try:
            conn, response = self._open(
                "POST",
                "/api/pull",
                {"model": model, "name": model, "stream": True},
                PULL_IDLE_TIMEOUT_S,
            )
        except BenchError as exc:
            raise BenchError(MODEL_PULL_FAILED, exc.message) from None
        try:
            if response.status >= 400:
                raise _pull_error(_status_error(response).message)
            shown = ""
            deadline = float("inf")  # progress lines keep coming; each read has its timeout
            for _, line in _timed_lines(conn, response, deadline, PULL_IDLE_TIMEOUT_S):
                if not line.strip():
                    continue
                try:
                    status = json.loads(line)
                except ValueError:
                    raise _pull_error(f"not JSON: {line[:80]!r}") from None
                message = error_text(status)
                if message is not None:
                    raise _pull_error(message)
                text = str(status.get("status", "")) if isinstance(status, dict) else ""
                if text == "success":
                    log(f"pulled {model}")
                    return
                if text and text != shown:  # one line per step or layer, not per progress
                    shown = text
                    log(f"pull: {text}")
            raise _pull_error("the pull stream ended without status 'success'")
        except BenchError as exc:
            raise exc if exc.kind == MODEL_PULL_FAILED else _pull_error(exc.message) from None
        finally:
            conn.close()

    # --- prompts -----------------------------------------------------------------------

    def run_prompt(
        self, model: str, prompt: str, max_tokens: int, temperature: float | None = None
    ) -> Measurement:
        """Stream one chat completion and measure it; raises BenchError on failure."""
        messages = [{"role": "user", "content": prompt}]
        if self.runtime == OLLAMA:
            options: dict = {"num_predict": max_tokens}
            if temperature is not None:
                options["temperature"] = temperature
            body = {"model": model, "messages": messages, "stream": True, "options": options}
            return self._stream("/api/chat", body, parse_ollama_stream)
        body = {"model": model, "messages": messages, "stream": True, "max_tokens": max_tokens}
        if temperature is not None:
            body["temperature"] = temperature
        if self._stream_options:
            body["stream_options"] = {"include_usage": True}
        try:
            return self._stream("/chat/completions", body, parse_openai_stream)
        except BenchError as exc:
            if not (self._stream_options and "stream_options" in exc.message):
                raise
            self._stream_options = False  # an older server: count chunks instead
            body.pop("stream_options")
            return self._stream("/chat/completions", body, parse_openai_stream)

    def _stream(
        self,
        path: str,
        body: dict,
        parse: Callable[[Iterator[tuple[float, str]], float], Measurement],
    ) -> Measurement:
        started = time.monotonic()
        deadline = started + self.request_timeout
        conn, response = self._open("POST", path, body, self.request_timeout)
        try:
            if response.status >= 400:
                raise _status_error(response)
            return parse(_timed_lines(conn, response, deadline, self.request_timeout), started)
        finally:
            conn.close()


def _timed_lines(
    conn: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    deadline: float,
    read_timeout: float,
) -> Iterator[tuple[float, str]]:
    """Lines of a streamed body with the monotonic time each was read."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError(TIMEOUT, "the stream ran past the request timeout")
        if conn.sock is not None:  # None once the server said "Connection: close": then
            # each read keeps the connection's own timeout and the deadline applies per line
            conn.sock.settimeout(max(0.05, min(read_timeout, remaining)))
        try:
            raw = response.readline(MAX_LINE_BYTES)
        except _TIMEOUTS:
            raise BenchError(TIMEOUT, f"no data for {read_timeout:g} s mid-stream") from None
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(BAD_STREAM, f"the connection broke mid-stream: {exc!r}") from None
        if not raw:
            return
        yield time.monotonic(), raw.decode("utf-8", "replace")


def _status_error(response: http.client.HTTPResponse) -> BenchError:
    """An HTTP error status, classified by the message in its body."""
    try:
        raw = response.read(MAX_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        message = error_text(json.loads(text)) or text
    except ValueError:
        message = text
    return server_error(message or response.reason or "no message", response.status)


def _pull_error(message: str) -> BenchError:
    """A failed pull; retrying helps unless the model name does not exist at all."""
    lowered = message.lower()
    permanent = "does not exist" in lowered or "not found" in lowered
    return BenchError(MODEL_PULL_FAILED, message, retry_suggested=not permanent)
