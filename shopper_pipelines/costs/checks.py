"""Cost sanity checks behind the Dagster asset checks (plain functions, testable alone).

- no negative cost: no billing price below zero and no ledger row with a negative cost;
- nothing bills past its hard maximum without an alert: a session still billing (or
  billed) more than `GRACE` past its hard maximum must have an alert in its history;
- no stale unconfirmed destroy: a session stopped more than `STALE_DESTROY` ago whose
  destroy is still not confirmed keeps costing money and needs a person.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from shopper_pipelines.costs.ledger import daily_costs
from shopper_pipelines.sessions import store
from shopper_pipelines.warehouse import connect

GRACE = timedelta(minutes=10)
STALE_DESTROY = timedelta(minutes=30)


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def no_negative_costs(db: Path, since: date, now: datetime | None = None) -> CheckOutcome:
    frame = daily_costs(db, since, None, now)
    negative_rows = frame.filter(frame["cost"] < 0).height
    with connect(db, read_only=True) as con:
        row = con.execute("SELECT count(*) FROM session_prices WHERE price_per_hour < 0").fetchone()
    negative_prices = int(row[0]) if row else 0
    passed = negative_rows == 0 and negative_prices == 0
    text = "no negative cost" if passed else (
        f"{negative_rows} ledger rows and {negative_prices} prices are negative"
    )  # fmt: skip
    return CheckOutcome(passed, text, {"negative_rows": negative_rows,
                                       "negative_prices": negative_prices})  # fmt: skip


def past_hard_max_without_alert(db: Path, now: datetime | None = None) -> CheckOutcome:
    now = now or datetime.now(UTC)
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT session_id, hard_max_at FROM session_billing"
            " WHERE coalesce(billing_end, ?) > hard_max_at + ?",
            [now, GRACE],
        ).fetchall()
    silent = []
    for session_id, hard_max_at in rows:
        alerts = [e for e in store.events(db, session_id)
                  if e["kind"] == "alert" and e["occurred_at"] >= hard_max_at]  # fmt: skip
        if not alerts:
            silent.append(session_id)
    text = (
        "no session billed past its hard maximum without an alert"
        if not silent
        else f"{len(silent)} sessions billed past their hard maximum with no alert"
    )
    return CheckOutcome(not silent, text, {"sessions": ", ".join(silent[:20]) or "none",
                                           "past_hard_max": len(rows)})  # fmt: skip


def stale_unconfirmed_destroys(db: Path, now: datetime | None = None) -> CheckOutcome:
    now = now or datetime.now(UTC)
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT session_id FROM session_billing WHERE billing_end IS NULL"
            " AND status IN ('stopping', 'failed') AND coalesce(stopped_at, created_at) < ?"
            " ORDER BY session_id",
            [now - STALE_DESTROY],
        ).fetchall()
    stale = [row[0] for row in rows]
    minutes = int(STALE_DESTROY.total_seconds() // 60)
    text = (
        f"no destroy unconfirmed for more than {minutes} minutes"
        if not stale
        else f"{len(stale)} sessions still billing, destroy unconfirmed for over {minutes} min"
    )
    return CheckOutcome(not stale, text, {"sessions": ", ".join(stale[:20]) or "none"})
