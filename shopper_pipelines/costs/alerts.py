"""Budget alerts: once per consumer, month and threshold, to the log, the warehouse and an
optional webhook; and which sessions a `stop` budget ends.

An alert is claimed in `budget_alerts` before it is sent (the primary key makes the
claim exactly-once, even with two evaluators racing), then sent, then its channel
results are written back. A webhook that still fails after its in-call retries is
recorded with `delivery: retrying` and re-sent by later checks (the sensor runs every
minute), spaced out (1, 2, 4 ... minutes, at most an hour apart) until it is delivered,
or until 24 hours or 30 tries have passed: then `delivery: gave_up` and one error in the
log. The log line itself is written once. The webhook URL is a secret (it often carries
a token): it never appears in logs, errors or the warehouse.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from shopper_pipelines.costs.billing import cents, usd_text
from shopper_pipelines.costs.budgets import budget_status
from shopper_pipelines.costs.ledger import running_costs
from shopper_pipelines.costs.webhook import post_webhook
from shopper_pipelines.settings import Settings
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

__all__ = ["list_alerts", "post_webhook", "resend_failed", "send_budget_alerts"]

RESEND_FOR = timedelta(hours=24)  # a failed webhook is re-sent for this long after the alert
MAX_WEBHOOK_TRIES = 30  # ... or until this many tries (each with its own retries)
MAX_RESEND_GAP = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=5)


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
            f"{who} spent {usd_text(status['spend_usd'])} of {usd_text(status['monthly_usd'])} "
            f"in {status['month']:%Y-%m} ({status['percent']:.1f}%, threshold {threshold}%)"
        ),
    }


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
            channels: dict[str, Any] = {"log": "ok", "webhook": "off", "delivery": "off"}
            if settings.alert_webhook_url is not None:
                result = _post(settings, payload, sleep)
                channels = _delivered(channels, result, tries=1, now=now)
                if result != "ok":
                    logger.error("budget alert webhook %s; will re-send", result)
            _channels(db, status["consumer"], status["month"], threshold, channels)
            sent.append({**payload, "channels": channels})
    return sent + resend_failed(settings, now, sleep=sleep)


def _post(settings: Settings, payload: dict[str, Any], sleep: Callable[[float], None]) -> str:
    assert settings.alert_webhook_url is not None
    return post_webhook(
        settings.alert_webhook_url.get_secret_value(), payload,
        attempts=settings.alert_webhook_attempts, backoff_s=settings.alert_webhook_backoff_s,
        timeout_s=settings.alert_webhook_timeout_s, sleep=sleep,
    )  # fmt: skip


def _delivered(channels: dict[str, Any], result: str, *, tries: int, now: datetime) -> dict:
    """The channels after a webhook try: delivered, or retrying with when to try next."""
    if result == "ok":
        return {**channels, "webhook": "ok", "delivery": "delivered", "webhook_tries": tries,
                "next_try_at": None}  # fmt: skip
    gap = min(timedelta(minutes=2 ** (tries - 1)), MAX_RESEND_GAP)
    return {**channels, "webhook": result, "delivery": "retrying", "webhook_tries": tries,
            "next_try_at": (now + gap).isoformat()}  # fmt: skip


def _replace_channels(db: Path, row: dict[str, Any], new: dict[str, Any]) -> bool:
    """Compare-and-set: only one of two racing checks wins a re-send."""
    with connect(db) as con:
        won = con.execute(
            "UPDATE budget_alerts SET channels = ? WHERE consumer_id = ? AND month = ?"
            " AND threshold = ? AND channels = ? RETURNING threshold",
            [orjson.dumps(new).decode(), row["consumer"], row["month"], row["threshold"],
             row["channels"]],
        ).fetchall()  # fmt: skip
    return bool(won)


def resend_failed(
    settings: Settings, now: datetime | None = None, *, sleep: Callable[[float], None] = time.sleep
) -> list[dict[str, Any]]:
    """Re-send alerts whose webhook delivery failed, when their next try is due.

    Bounded: after RESEND_FOR or MAX_WEBHOOK_TRIES the alert is marked `gave_up` and one
    error is logged. Returns the alerts re-sent (`resent: True`) or given up (`resent: False`).
    """
    db = settings.database_path
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if settings.alert_webhook_url is None or not db.is_file():
        return []
    out = []
    for row in _retrying(db, now):
        channels = orjson.loads(row["channels"])
        tries = int(channels.get("webhook_tries", 1))
        spent, budget = Decimal(row["spend_usd"]), Decimal(row["budget_usd"])
        percent = round(float(spent / budget * 100), 2)
        status = {"consumer": row["consumer"], "global": row["consumer"] == "*",
                  "month": row["month"], "spend_usd": spent, "monthly_usd": budget,
                  "action": row["action"], "percent": percent}  # fmt: skip
        payload = alert_payload(status, row["threshold"])
        if now - row["sent_at"] >= RESEND_FOR or tries >= MAX_WEBHOOK_TRIES:
            gave_up = {**channels, "delivery": "gave_up", "next_try_at": None}
            if _replace_channels(db, row, gave_up):
                logger.error("budget alert webhook for %s (threshold %s%%, %s) gave up after %s"
                             " tries since %s; last: %s", row["consumer"], row["threshold"],
                             f"{row['month']:%Y-%m}", tries, row["sent_at"],
                             channels.get("webhook"))  # fmt: skip
                out.append({**payload, "channels": gave_up, "resent": False})
            continue
        due = channels.get("next_try_at")
        if due and datetime.fromisoformat(due) > now:
            continue
        lease = (now + CLAIM_LEASE).isoformat()  # a racing check waits; a crash retries later
        claimed = {**channels, "webhook_tries": tries + 1, "next_try_at": lease}
        if not _replace_channels(db, row, claimed):
            continue  # another check is re-sending it
        result = _post(settings, payload, sleep)
        updated = _delivered(claimed, result, tries=tries + 1, now=now)
        _channels(db, row["consumer"], row["month"], row["threshold"], updated)
        if result == "ok":
            logger.info("budget alert webhook for %s (threshold %s%%) delivered on try %s",
                        row["consumer"], row["threshold"], tries + 1)  # fmt: skip
        out.append({**payload, "channels": updated, "resent": True})
    return out


def _retrying(db: Path, now: datetime) -> list[dict[str, Any]]:
    with connect(db, read_only=True) as con:
        cursor = con.execute(
            "SELECT consumer_id AS consumer, month, threshold, sent_at, spend_usd, budget_usd,"
            ' action, channels FROM budget_alerts WHERE channels LIKE \'%"delivery":"retrying"%\''
            " AND sent_at >= ? ORDER BY sent_at, consumer_id, threshold",
            [now - RESEND_FOR - timedelta(days=1)],
        )
        names = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


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
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for alert in out:
        alert["delivery"] = orjson.loads(alert["channels"] or "{}").get("delivery", "off")
    return out


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
