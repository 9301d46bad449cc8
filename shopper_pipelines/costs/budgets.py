"""Monthly budgets per consumer (and one global budget), their status, the provision check.

A budget is a monthly amount in USD, warning thresholds in percent (default 50/80/100)
and what happens at 100 %: `warn` (alerts only), `refuse` (new sessions that would push
the month past the budget are refused before anything is rented) or `stop` (refuse, and
stop the consumer's running sessions once spend reaches the budget). The global budget
is stored under consumer id '*' (consumer ids cannot contain '*'); it covers everyone's
spend together. Months are UTC calendar months.
"""

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from shopper_pipelines.costs.billing import month_start, usd_text
from shopper_pipelines.costs.committed import committed
from shopper_pipelines.costs.ledger import spend_by_consumer
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
    monthly_usd: str | float | Decimal | None = None,
    *,
    thresholds: tuple[int, ...] | None = None,
    action: str | None = None,
    now: datetime | None = None,
) -> Budget:
    """Create a consumer's budget or change an existing one (consumer '*' is the global one).

    What is not given (None) keeps the existing budget's value, so changing thresholds
    never silently resets the action; a new budget needs `monthly_usd` and takes the
    defaults (thresholds 50/80/100, action warn).
    """
    check_consumer(consumer)
    if action is not None and action not in ACTIONS:
        raise InvalidInputError(f"--action must be warn, refuse or stop, got {action!r}")
    existing = get_budget(db, consumer) if db.is_file() else None
    if monthly_usd is not None:
        amount = parse_monthly(monthly_usd)
    elif existing is not None:
        amount = existing.monthly_usd
    else:
        raise InvalidInputError(
            f"--monthly is required for a new budget ({consumer!r} has none), e.g. --monthly 100"
        )
    if thresholds is None:
        thresholds = existing.thresholds if existing else DEFAULT_THRESHOLDS
    if action is None:
        action = existing.action if existing else "warn"
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

    `projected_usd` adds what live sessions are committed to until their reservations
    end at their current price (`committed`). `crossed` are the thresholds spend has
    reached; `alerted` those already alerted this month; `state` is `exceeded` (100 %
    reached), `over (projected)` (spend is under the budget but the projection is over
    it), `warning` (a threshold below 100 crossed) or `ok`.
    """
    budgets = list_budgets(db)
    if not budgets:
        return []
    now = (now or datetime.now(UTC)).astimezone(UTC)
    month = month_start(now)
    spend = spend_by_consumer(db, month, now)
    ahead = committed(db, now)
    sent = _sent(db, month)
    out = []
    for budget in budgets:
        spent, coming, _ = _parts(budget, spend, ahead)
        percent = float(spent / budget.monthly_usd * 100)
        crossed = [t for t in budget.thresholds if percent >= t]
        if percent >= 100:
            state = "exceeded"
        elif spent + coming > budget.monthly_usd:
            state = "over (projected)"
        else:
            state = "warning" if crossed else "ok"
        out.append({
            **budget.view(), "month": month, "spend_usd": spent, "projected_usd": spent + coming,
            "percent": round(percent, 2), "crossed": crossed,
            "alerted": sorted(sent.get(budget.consumer_id, set())), "state": state,
        })  # fmt: skip
    return out


def _parts(
    budget: Budget, spend: dict[str, Decimal], ahead: dict[str, tuple[Decimal, int]]
) -> tuple[Decimal, Decimal, int]:
    """(spent this month, committed by live sessions, how many) for one budget."""
    if budget.is_global:
        spent = sum(spend.values(), Decimal(0))
        coming = sum((a for a, _ in ahead.values()), Decimal(0))
        return spent, coming, sum(n for _, n in ahead.values())
    coming, count = ahead.get(budget.consumer_id, (Decimal(0), 0))
    return Decimal(spend.get(budget.consumer_id, Decimal(0))), coming, count


def _check_spend(
    db: Path, consumer: str, added: Decimal, what: str, outcome: str, now: datetime | None
) -> None:
    """Raise BudgetExceededError when spend so far + what live sessions are committed to
    + `added` exceeds the consumer's (or the global) refusing budget; `warn` only logs."""
    budgets = {b.consumer_id: b for b in list_budgets(db)}
    applying = [b for key in (consumer, GLOBAL) if (b := budgets.get(key))]
    if not applying:
        return
    now = (now or datetime.now(UTC)).astimezone(UTC)
    month = month_start(now)
    spend = spend_by_consumer(db, month, now)
    ahead = committed(db, now)
    for budget in applying:
        spent, coming, count = _parts(budget, spend, ahead)
        total = spent + coming + added
        if total <= budget.monthly_usd:
            continue
        whose = "the global budget" if budget.is_global else f"{consumer}'s budget"
        live = "session" if count == 1 else "sessions"
        message = (
            f"{whose} for {month:%Y-%m} would be exceeded: spent {usd_text(spent)} so far"
            f" + {usd_text(coming)} committed by {count} live {live} until their"
            f" reservations end + {what} = {usd_text(total)}, over the monthly budget"
            f" {usd_text(budget.monthly_usd)} (action {budget.action})"
        )
        if budget.action == "warn":
            logger.warning("budget: %s; going ahead anyway (action warn)", message)
            continue
        raise BudgetExceededError(f"{message}; {outcome}")


def check_provision(
    db: Path,
    consumer: str,
    price_per_hour: float | Decimal,
    hours: int,
    now: datetime | None = None,
) -> None:
    """Refuse a new session that would take its consumer (or everyone) past a budget.

    The check adds this month's spend so far, what the consumer's (for the global
    budget: everyone's) live sessions are committed to until their reservations end
    (the projection `budget_status` shows) and this session's projected cost (price x
    reservation hours). A `refuse` or `stop` budget raises BudgetExceededError when the
    sum exceeds it; a `warn` budget only logs. Called before the session row is written
    or anything is rented.
    """
    price = Decimal(str(price_per_hour))
    projected = price * hours
    what = f"this session's projected cost {usd_text(projected)} (${price:.3f}/h x {hours} h)"
    _check_spend(db, consumer, projected, what, "nothing was rented", now)


def check_failover(
    db: Path,
    consumer: str,
    session_id: str,
    price_increase_per_hour: float | Decimal,
    hours: int,
    now: datetime | None = None,
) -> None:
    """Refuse falling over to a dearer offer when the difference would pass a budget.

    The session is already committed at its first offer's price; only the increase over
    its reservation is new. Raises BudgetExceededError; that offer is not rented.
    """
    increase = Decimal(str(price_increase_per_hour))
    added = increase * hours
    what = (f"falling over to an offer ${increase:.3f}/h dearer for {session_id}'s"
            f" {hours} h {usd_text(added)}")  # fmt: skip
    _check_spend(db, consumer, added, what, "that offer was not rented", now)


@contextmanager
def provision_lock(db: Path) -> Iterator[None]:
    """Serialise budget check and session insert across processes: two provisions started
    at once would otherwise both pass a check that only one of them fits under."""
    lock_path = db.with_name(f"{db.name}.budget-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_extend(
    db: Path,
    consumer: str,
    session_id: str,
    price_per_hour: float | Decimal,
    hours: int,
    now: datetime | None = None,
) -> None:
    """Refuse extending a session when the added hours' cost would pass a refusing budget.

    The session's current reservation is already in the committed part; only the added
    hours (at its current price) are new. Raises BudgetExceededError, nothing changed.
    """
    price = Decimal(str(price_per_hour))
    added = price * hours
    what = f"extending {session_id} by {hours} h {usd_text(added)} (${price:.3f}/h x {hours} h)"
    _check_spend(db, consumer, added, what, f"{session_id} was not extended", now)
