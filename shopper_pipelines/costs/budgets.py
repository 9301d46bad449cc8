"""Monthly budgets per consumer (and one global budget), their status, the provision check.

A budget is a monthly amount in USD, warning thresholds in percent (default 50/80/100)
and what happens at 100 %: `warn` (alerts only), `refuse` (new sessions that would push
the month past the budget are refused before anything is rented) or `stop` (refuse, and
stop the consumer's running sessions once spend reaches the budget). The global budget
is stored under consumer id '*' (consumer ids cannot contain '*'); it covers everyone's
spend together. Months are UTC calendar months.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from shopper_pipelines.costs.billing import cents, month_start
from shopper_pipelines.costs.ledger import running_costs, spend_by_consumer
from shopper_pipelines.errors import BudgetExceededError, InvalidInputError
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

GLOBAL = "*"
ACTIONS = ("warn", "refuse", "stop")
DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_MONTHLY_USD = Decimal("10000000")


@dataclass(frozen=True)
class Budget:
    consumer_id: str
    monthly_usd: Decimal
    thresholds: tuple[int, ...]
    action: str
    created_at: datetime
    updated_at: datetime

    @property
    def is_global(self) -> bool:
        return self.consumer_id == GLOBAL

    def view(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer_id,
            "global": self.is_global,
            "monthly_usd": self.monthly_usd,
            "thresholds": list(self.thresholds),
            "action": self.action,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def parse_thresholds(text: str | None) -> tuple[int, ...]:
    """'50,80,100' -> (50, 80, 100): whole percentages 1-1000, ascending, no repeats."""
    if text is None:
        return DEFAULT_THRESHOLDS
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInputError(
            f"--thresholds takes whole percentages separated by commas, got {text!r}"
        ) from None
    if not values or any(not 1 <= v <= 1000 for v in values):
        raise InvalidInputError(f"--thresholds must each be 1-1000 (percent), got {text!r}")
    if list(values) != sorted(set(values)):
        raise InvalidInputError(f"--thresholds must be ascending without repeats, got {text!r}")
    return values


def parse_monthly(value: str | float | Decimal) -> Decimal:
    try:
        amount = Decimal(str(value).strip().removeprefix("$"))
    except InvalidOperation:
        raise InvalidInputError(f"--monthly must be an amount in USD, got {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_MONTHLY_USD:
        raise InvalidInputError(
            f"--monthly must be more than 0 and at most 10000000, got {value!r}"
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInputError(f"--monthly takes at most 2 decimal places (cents), got {value!r}")
    return amount


def check_consumer(consumer: str) -> str:
    if consumer == GLOBAL:
        return consumer
    if not consumer or len(consumer) > 64 or not all(c.isalnum() or c in "-_." for c in consumer):
        raise InvalidInputError(
            f"CONSUMER takes up to 64 letters, digits, '-', '_' or '.', got {consumer!r}"
        )
    return consumer


def set_budget(
    db: Path,
    consumer: str,
    monthly_usd: str | float | Decimal,
    *,
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS,
    action: str = "warn",
    now: datetime | None = None,
) -> Budget:
    """Create or replace a consumer's budget (consumer '*' is the global one)."""
    check_consumer(consumer)
    amount = parse_monthly(monthly_usd)
    if action not in ACTIONS:
        raise InvalidInputError(f"--action must be warn, refuse or stop, got {action!r}")
    now = now or datetime.now(UTC)
    with connect(db) as con:
        con.execute(
            "INSERT INTO budgets (consumer_id, monthly_usd, thresholds, action, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (consumer_id) DO UPDATE SET"
            " monthly_usd = excluded.monthly_usd, thresholds = excluded.thresholds,"
            " action = excluded.action, updated_at = excluded.updated_at",
            [consumer, amount, list(thresholds), action, now, now],
        )
    found = get_budget(db, consumer)
    assert found is not None
    return found


def _budget(row: tuple[Any, ...]) -> Budget:
    consumer, monthly, thresholds, action, created, updated = row
    return Budget(consumer, Decimal(monthly), tuple(thresholds), action, created, updated)


_SELECT = "SELECT consumer_id, monthly_usd, thresholds, action, created_at, updated_at FROM budgets"


def get_budget(db: Path, consumer: str) -> Budget | None:
    with connect(db, read_only=True) as con:
        row = con.execute(f"{_SELECT} WHERE consumer_id = ?", [consumer]).fetchone()
    return _budget(row) if row else None


def list_budgets(db: Path) -> list[Budget]:
    """Every budget, the global one first."""
    if not db.is_file():
        return []
    with connect(db, read_only=True) as con:
        rows = con.execute(f"{_SELECT} ORDER BY consumer_id <> '*', consumer_id").fetchall()
    return [_budget(row) for row in rows]


def delete_budget(db: Path, consumer: str) -> Budget:
    check_consumer(consumer)
    found = get_budget(db, consumer) if db.is_file() else None
    if found is None:
        raise InvalidInputError(f"CONSUMER {consumer!r} has no budget")
    with connect(db) as con:
        con.execute("DELETE FROM budgets WHERE consumer_id = ?", [consumer])
    return found


def _sent(db: Path, month: date) -> dict[str, set[int]]:
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT consumer_id, threshold FROM budget_alerts WHERE month = ?", [month]
        ).fetchall()
    sent: dict[str, set[int]] = {}
    for consumer, threshold in rows:
        sent.setdefault(consumer, set()).add(int(threshold))
    return sent


def budget_status(db: Path, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each budget with this month's spend so far, projection, percent and thresholds.

    `projected_usd` adds what running sessions will cost until their reservations end at
    their current price. `crossed` are the thresholds spend has reached; `alerted` those
    already alerted this month; `state` is ok, warning (a threshold below 100 crossed)
    or exceeded (100 % reached).
    """
    budgets = list_budgets(db)
    if not budgets:
        return []
    now = (now or datetime.now(UTC)).astimezone(UTC)
    month = month_start(now)
    spend = spend_by_consumer(db, month, now)
    ahead: dict[str, Decimal] = {}
    for running in running_costs(db, now):
        ahead[running["consumer"]] = ahead.get(running["consumer"], Decimal(0)) + (
            running["projected_cost"] - running["cost"]
        )
    sent = _sent(db, month)
    out = []
    for budget in budgets:
        if budget.is_global:
            spent, coming = sum(spend.values(), Decimal(0)), sum(ahead.values(), Decimal(0))
        else:
            spent = spend.get(budget.consumer_id, Decimal(0))
            coming = ahead.get(budget.consumer_id, Decimal(0))
        percent = float(spent / budget.monthly_usd * 100)
        crossed = [t for t in budget.thresholds if percent >= t]
        state = "exceeded" if percent >= 100 else ("warning" if crossed else "ok")
        out.append({
            **budget.view(), "month": month, "spend_usd": spent, "projected_usd": spent + coming,
            "percent": round(percent, 2), "crossed": crossed,
            "alerted": sorted(sent.get(budget.consumer_id, set())), "state": state,
        })  # fmt: skip
    return out


def check_provision(
    db: Path,
    consumer: str,
    price_per_hour: float | Decimal,
    hours: int,
    now: datetime | None = None,
) -> None:
    """Refuse a new session that would take its consumer (or everyone) past a budget.

    Projected cost = price x reservation hours. A `refuse` or `stop` budget raises
    BudgetExceededError when this month's spend so far plus the projection exceeds it;
    a `warn` budget only logs. Called before the session row is written or anything is
    rented.
    """
    budgets = {b.consumer_id: b for b in list_budgets(db)}
    applying = [b for key in (consumer, GLOBAL) if (b := budgets.get(key))]
    if not applying:
        return
    now = (now or datetime.now(UTC)).astimezone(UTC)
    month = month_start(now)
    spend = spend_by_consumer(db, month, now)
    price = Decimal(str(price_per_hour))
    projected = price * hours
    for budget in applying:
        spent = sum(spend.values(), Decimal(0)) if budget.is_global else spend.get(consumer, 0)
        spent = Decimal(spent)
        if spent + projected <= budget.monthly_usd:
            continue
        whose = "the global budget" if budget.is_global else f"{consumer}'s budget"
        message = (
            f"{whose} for {month:%Y-%m} would be exceeded: spent ${cents(spent)} so far, "
            f"this session's projected cost ${cents(projected)} (${price:.3f}/h x {hours} h), "
            f"monthly budget ${cents(budget.monthly_usd)} (action {budget.action})"
        )
        if budget.action == "warn":
            logger.warning("budget: %s; renting anyway (action warn)", message)
            continue
        raise BudgetExceededError(f"{message}; nothing was rented")
