"""POST a budget alert to the webhook, retrying what may pass, never showing its URL.

The webhook URL is a secret (it often carries a token): the result text never contains
it, and httpx's request log lines get it replaced.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _HideWebhookUrls(logging.Filter):
    """httpx logs every request's full URL at INFO: hide webhook URLs (they are secrets)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets and isinstance(record.args, tuple):
            record.args = tuple(
                "<alert webhook>" if any(s in str(arg) for s in self.secrets) else arg
                for arg in record.args
            )
        return True


_hide = _HideWebhookUrls()
logging.getLogger("httpx").addFilter(_hide)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int,
    backoff_s: float,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST JSON; retry 5xx/429/timeouts/connection errors with backoff. 'ok' or why not.

    The result never contains the URL.
    """
    last = "not sent"
    _hide.secrets.add(url)
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                answer = client.post(url, json=payload)
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as error:
                last = f"connection failed ({type(error).__name__})"
            else:
                if answer.is_success:
                    return "ok"
                last = f"HTTP {answer.status_code}"
                if answer.status_code not in RETRY_STATUSES:
                    return f"failed: {last} (not retried)"
            if attempt < attempts:
                sleep(backoff_s * 2 ** (attempt - 1))
    return f"failed: {last} after {attempts} attempt(s)"
