"""The provider's reported price, checked against the price the user was shown.

Right after create, provisioning reads the instance back from the provider (the first
poll of its readiness loop, so no extra round trip) and hands the reported hourly price
here. We bill at the provider's price when it reports one: it replaces the offer's price
at the billing start (same `effective_at`, source 'provider'). A difference beyond
`PRICE_TOLERANCE` (relative) is an alert on the session's history and a log warning, so
the user learns that the bill will not match the shop window.
"""

import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from shopper_pipelines.sessions import store

logger = logging.getLogger(__name__)
MICRO = Decimal("0.000001")

PRICE_TOLERANCE = Decimal("0.01")  # 1 %


def check_provider_price(db: Path, session_id: str, reported: float | None) -> str | None:
    """Record the provider's price for the session's billing start; return an alert text
    when it differs from the shown price by more than the tolerance, else None.

    Does nothing when billing has not started, the provider reported no price, or the
    provider's price is already recorded (a retried poll).
    """
    points = store.prices(db, session_id)
    if reported is None or not points or points[0].source == "provider":
        return None
    first = points[0]
    shown = Decimal(str(first.price_per_hour))
    billed = Decimal(str(reported))
    point = store.PricePoint(
        first.effective_at, billed, first.kind, "provider", note=f"offer showed ${shown}/h"
    )
    differs = abs(billed - shown) > PRICE_TOLERANCE * shown
    if not differs:
        store.record(db, session_id, f"provider bills ${billed:.4f}/h, as shown", price=point)
        return None
    change = f"{(billed - shown) / shown * 100:+.1f}%" if shown else "shown $0"
    message = (
        f"provider bills ${billed:.4f}/h but the offer showed ${shown:.4f}/h ({change}); "
        "billing at the provider's price"
    )
    logger.warning("session %s: %s", session_id, message)
    store.record(
        db, session_id, message, kind="alert", price=point,
        detail={"shown_price_per_hour": str(shown), "provider_price_per_hour": str(billed)},
    )  # fmt: skip
    return message


def note_price_change(
    db: Path,
    session_id: str,
    price_per_hour: float | Decimal,
    at: datetime,
    *,
    kind: str = "on_demand",
    source: str = "provider",
) -> bool:
    """A new price applies from `at` on (a provider repricing, a new bid, storage-only
    billing while stopped): record it unless it is already the price in force then.
    Returns whether a price point was added. Nothing happens before billing started."""
    points = [p for p in store.prices(db, session_id) if p.effective_at <= at]
    if not points:
        return False
    current = points[-1]
    # Stored as DECIMAL(12, 6): compare at that precision, or every poll is a "change".
    price = Decimal(str(price_per_hour)).quantize(MICRO)
    if Decimal(str(current.price_per_hour)) == price and current.kind == kind:
        return False
    store.record(
        db, session_id, f"price now ${price:.4f}/h ({kind}, {source}) from {at:%Y-%m-%d %H:%M} UTC",
        price=store.PricePoint(at, price, kind, source),
    )  # fmt: skip
    return True


def adopt_billing(
    db: Path,
    session_id: str,
    *,
    provider_created_at: datetime | None,
    provider_price: float | None,
) -> bool:
    """Billing start for an instance adopted by label (its create answer was lost): the
    provider's creation time when it reports one, else the session's own creation, at
    the provider's price when known, else the shown one. Says which on the session's
    history. No-op (False) when billing already started."""
    if store.prices(db, session_id):
        return False
    session = store.require_session(db, session_id)
    start = provider_created_at or session.created_at
    whence = "the provider's created_at" if provider_created_at else "the session's created_at"
    price = provider_price if provider_price is not None else session.price_per_hour
    source = "provider" if provider_price is not None else "offer"
    note = f"adopted by label: billing from {whence}"
    store.record(db, session_id, f"{note} at ${Decimal(str(price)):.4f}/h",
                 price=store.PricePoint(start, price, "on_demand", source, note=note))  # fmt: skip
    return True
