"""What live sessions are committed to: the part of a budget's projection not spent yet.

Both the budget status (`budgets list`, alerts) and the provision and extend checks use
this one function, so what the check refuses is what the status shows.
"""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from shopper_pipelines.costs.billing import piece_cost
from shopper_pipelines.costs.ledger import running_costs
from shopper_pipelines.warehouse import connect


def committed(db: Path, now: datetime) -> dict[str, tuple[Decimal, int]]:
    """Per consumer: what its live sessions will still cost until their reservations end
    (at their current price), and how many sessions that is.

    Billing sessions come from the ledger (`running_costs`); sessions requested but not
    rented yet (pending or provisioning, no instance) count at their offer price from
    now to their expiry, so two requests made back to back cannot both slip under a
    budget.
    """
    ahead: dict[str, tuple[Decimal, int]] = {}

    def add(consumer: str, amount: Decimal) -> None:
        total, count = ahead.get(consumer, (Decimal(0), 0))
        ahead[consumer] = (total + amount, count + 1)

    for running in running_costs(db, now):
        add(running["consumer"], running["projected_cost"] - running["cost"])
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT consumer_id, price_per_hour, expires_at FROM sessions"
            " WHERE status IN ('pending', 'provisioning') AND instance_id IS NULL"
            " AND session_id NOT IN (SELECT session_id FROM session_prices)",
        ).fetchall()
    for consumer, price, expires in rows:
        add(consumer, piece_cost(now, max(expires, now), Decimal(str(price))))
    return ahead
