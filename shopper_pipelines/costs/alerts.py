"""Budget alerts: once per consumer, month and threshold, to the log, the warehouse and an
optional webhook; and which sessions a `stop` budget ends.

An alert is claimed in `budget_alerts` before it is sent (the primary key makes the
claim exactly-once, even with two evaluators racing), then sent, then its channel
results are written back. A webhook that still fails after its retries is recorded as
failed and not resent: the log line and the row stand. The webhook URL is a secret
(it often carries a token): it never appears in logs, errors or the warehouse.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from shopper_pipelines.costs.billing import cents
from shopper_pipelines.costs.budgets import budget_status
from shopper_pipelines.costs.ledger import running_costs
from shopper_pipelines.settings import Settings
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

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
STOPPABLE = ("provisioning", "running")


def alert_payload(status: dict[str, Any], threshold: int) -> dict[str, Any]:
    """What the webhook receives (money as strings to the cent)."""
    who = "everyone (global budget)" if status["global"] else status["consumer"]
    return {
        "type": "budget_threshold",
        "consumer": status["consumer"],
        "global": status["global"],
        "month": f"{status['month']:%Y-%m}",
        "threshold": threshold,
        "percent": status["percent"],
        "spend_usd": str(cents(status["spend_usd"])),
        "budget_usd": str(cents(status["monthly_usd"])),
        "action": status["action"],
        "message": (
            f"{who} spent ${cents(status['spend_usd'])} of ${cents(status['monthly_usd'])} "
            f"in {status['month']:%Y-%m} ({status['percent']:.1f}%, threshold {threshold}%)"
        ),
    }


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


def _claim(db: Path, status: dict[str, Any], threshold: int, now: datetime) -> bool:
    with connect(db) as con:
        claimed = con.execute(
            "INSERT INTO budget_alerts (consumer_id, month, threshold, sent_at, spend_usd,"
            " budget_usd, action) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            " RETURNING threshold",
            [status["consumer"], status["month"], threshold, now, status["spend_usd"],
             status["monthly_usd"], status["action"]],
        ).fetchall()  # fmt: skip
    return bool(claimed)


def _channels(db: Path, consumer: str, month: date, threshold: int, channels: dict) -> None:
    with connect(db) as con:
        con.execute(
            "UPDATE budget_alerts SET channels = ? WHERE consumer_id = ? AND month = ?"
            " AND threshold = ?",
            [orjson.dumps(channels).decode(), consumer, month, threshold],
        )


def send_budget_alerts(
    settings: Settings,
    now: datetime | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    statuses: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Alert every threshold crossed this month and not alerted yet; return what was sent."""
    db = settings.database_path
    now = (now or datetime.now(UTC)).astimezone(UTC)
    statuses = budget_status(db, now) if statuses is None else statuses
    sent = []
    for status in statuses:
        for threshold in status["crossed"]:
            if threshold in status["alerted"] or not _claim(db, status, threshold, now):
                continue
            payload = alert_payload(status, threshold)
            logger.warning("BUDGET ALERT: %s; action %s", payload["message"], status["action"])
            channels = {"log": "ok", "webhook": "off"}
            if settings.alert_webhook_url is not None:
                channels["webhook"] = post_webhook(
                    settings.alert_webhook_url.get_secret_value(), payload,
                    attempts=settings.alert_webhook_attempts,
                    backoff_s=settings.alert_webhook_backoff_s,
                    timeout_s=settings.alert_webhook_timeout_s, sleep=sleep,
                )  # fmt: skip
                if channels["webhook"] != "ok":
                    logger.error("budget alert webhook %s", channels["webhook"])
            _channels(db, status["consumer"], status["month"], threshold, channels)
            sent.append({**payload, "channels": channels})
    return sent


def list_alerts(db: Path, month: date | None = None) -> list[dict[str, Any]]:
    """Alerts recorded (newest first), optionally for one month (its first day)."""
    if not db.is_file():
        return []
    where, params = ("WHERE month = ?", [month]) if month else ("", [])
    with connect(db, read_only=True) as con:
        cursor = con.execute(
            "SELECT consumer_id AS consumer, month, threshold, sent_at, spend_usd, budget_usd,"
            f" action, channels FROM budget_alerts {where} ORDER BY sent_at DESC, threshold",
            params,
        )
        names = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


def sessions_to_stop(
    db: Path, now: datetime | None = None, statuses: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Running sessions whose consumer's `stop` budget (or a global one) is used up.

    Each: session_id, consumer, budget (whose budget: a consumer or '*'), month.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    statuses = budget_status(db, now) if statuses is None else statuses
    over = [s for s in statuses if s["action"] == "stop" and s["percent"] >= 100]
    if not over:
        return []
    everyone = next((s for s in over if s["global"]), None)
    by_consumer = {s["consumer"]: s for s in over if not s["global"]}
    out = []
    for running in running_costs(db, now):
        if running["status"] not in STOPPABLE:
            continue
        status = by_consumer.get(running["consumer"]) or everyone
        if status is not None:
            out.append({"session_id": running["session_id"], "consumer": running["consumer"],
                        "budget": status["consumer"], "month": status["month"]})  # fmt: skip
    return out


def stop_over_budget(settings: Settings, now: datetime | None = None) -> list[str]:
    """Without Dagster (CLI, tests): stop those sessions now through verified destroy."""
    from shopper_pipelines.sessions import lifecycle  # sessions imports costs: import late

    stopped = []
    for due in sessions_to_stop(settings.database_path, now):
        lifecycle.stop_for(settings, lifecycle.StopReason(due["session_id"], STOP_REASON))
        stopped.append(due["session_id"])
    return stopped


STOP_REASON = "monthly budget exceeded"
