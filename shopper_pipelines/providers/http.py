"""One transport policy for every marketplace client.

Each client owns one `httpx.Client` with explicit connect/read timeouts. A request is
retried only on 429, 5xx, timeouts and connection errors, with exponential backoff and
jitter, up to `max_attempts` in total; anything else is answered at once. Failures come
back as the typed errors of `shopper_pipelines.errors`, never with a key in the text.

Two options serve the instance side. `accept` names statuses the caller reads itself
(a 404 that means "gone", an error body that names an instance) instead of raising.
`idempotent=False` marks a request that must not run twice (renting): it is retried
only when the provider provably did not act on it, that is after a 429 (refused) or a
failure to connect (never sent); a 5xx or a timeout after sending ends it at once.
"""

import logging
import random
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
import orjson

from shopper_pipelines.errors import (
    BadRequestError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderDownError,
    ProviderError,
    RateLimitedError,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REFUSED_STATUS = 429
# Failures that happen before the request leaves this machine: safe to repeat anything.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_BODY_EXCERPT = 200


def build_client(
    base_url: str,
    *,
    token: str | None,
    timeout_s: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "gpu-shopper/0.1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
        transport=transport,
    )


def excerpt(response: httpx.Response) -> str:
    if "html" in response.headers.get("content-type", ""):
        return f"an HTML error page ({len(response.content)} bytes)"
    text = response.text.strip().replace("\n", " ")
    return text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")


def reason(error: ProviderError) -> str:
    """An error's text without its provider prefix, for wrapping in another error."""
    return str(error).removeprefix(f"{error.provider}: ")


class RetryingCaller:
    """Sends requests for one provider under the retry policy in the module docstring."""

    def __init__(
        self,
        provider: str,
        client: httpx.Client,
        *,
        max_attempts: int,
        sleep: Callable[[float], None] = time.sleep,
        first_backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        self.provider = provider
        self.client = client
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.first_backoff_s = first_backoff_s
        self.retries = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        accept: Collection[int] = (),
        idempotent: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """The first final response, or a typed error; statuses in `accept` come back as-is."""
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                last_problem = f"{type(error).__name__} on {method} {path}"
                if not idempotent and not isinstance(error, _NOT_SENT_ERRORS):
                    raise self._unknown_outcome(method, path, last_problem) from None
            else:
                status = response.status_code
                if status in accept or status not in _RETRY_STATUSES:
                    return response if status in accept else self._check(response, method, path)
                last_problem = f"HTTP {status} on {method} {path}: {excerpt(response)}"
                if not idempotent and status != _REFUSED_STATUS:
                    raise self._unknown_outcome(method, path, last_problem)
                if status == _REFUSED_STATUS and attempt == self.max_attempts:
                    raise RateLimitedError(
                        self.provider,
                        f"rate limited after {attempt} attempts ({last_problem})",
                        status=_REFUSED_STATUS,
                    )
            if attempt < self.max_attempts:
                delay = min(self.first_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
                delay *= 0.5 + random.random()
                self.retries += 1
                logger.warning(
                    "%s: %s; retry %d/%d in %.2fs",
                    self.provider,
                    last_problem,
                    attempt,
                    self.max_attempts - 1,
                    delay,
                )
                self.sleep(delay)
        raise ProviderDownError(
            self.provider, f"gave up after {self.max_attempts} attempts: {last_problem}"
        )

    def _unknown_outcome(self, method: str, path: str, problem: str) -> ProviderDownError:
        return ProviderDownError(
            self.provider,
            f"{problem}; {method} {path} is not idempotent, so it was not retried "
            "and its outcome is unknown",
        )

    def _check(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        status = response.status_code
        if status in (401, 403):
            raise ProviderAuthError(
                self.provider,
                f"credentials rejected (HTTP {status}) on {method} {path}; "
                "check the API key in the environment or .env",
                status=status,
            )
        if status >= 400:
            raise BadRequestError(
                self.provider,
                f"HTTP {status} on {method} {path}: {excerpt(response)}",
                status=status,
            )
        return response

    def get_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return self.parse_json(response, method, path)

    def parse_json(self, response: httpx.Response, method: str, path: str) -> Any:
        """The decoded body, or MalformedResponseError naming the request."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise MalformedResponseError(
                self.provider,
                f"unreadable JSON from {method} {path} (HTTP {response.status_code}): "
                f"{excerpt(response)!r}",
                status=response.status_code,
            ) from None


def json_or_none(response: httpx.Response) -> Any:
    """The decoded body when it is JSON, else None (error bodies are often plain text)."""
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None
