"""Pure billing math: price segments to money, split by UTC day and month.

A session's instance bills continuously (timestamps to the microsecond) from the moment
the provider's create call returned an instance id to its confirmed destruction. Its
prices form segments: each price applies from its own start until the next one (a price
change, a stop billed at the storage rate) or the end.

Rounding rule, shared with the SQL ledger (`costs/ledger.py`) so both agree to the
micro-dollar: a segment is cut at every UTC midnight into pieces, each piece costs
`microseconds x price / 3.6e9` rounded half-up to 6 decimal places, and every total is
a sum of pieces. Cents (half-up) only at presentation (`cents`).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
_US_PER_HOUR = 3_600_000_000
KINDS = ("on_demand", "interruptible_bid", "storage_only")


@dataclass(frozen=True)
class Segment:
    """One price applied over [start, end); `price_per_hour` is for the whole instance."""

    start: datetime
    end: datetime
    price_per_hour: Decimal
    kind: str = "on_demand"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("segment times must be timezone-aware (UTC)")
        if self.end < self.start:
            raise ValueError(f"segment ends {self.end} before it starts {self.start}")
        if self.price_per_hour < 0:
            raise ValueError(f"price per hour must not be negative, got {self.price_per_hour}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Piece:
    """The part of one segment inside one UTC day."""

    day: date
    start: datetime
    end: datetime
    price_per_hour: Decimal
    kind: str
    cost: Decimal  # 6 decimal places

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)


def micro_dollars(microseconds: int, price_per_hour: Decimal) -> int:
    """Cost of `microseconds` at `price_per_hour`, in millionths of a dollar, half-up."""
    price_micro = int((price_per_hour / MICRO).to_integral_value(ROUND_HALF_UP))
    return (microseconds * price_micro + _US_PER_HOUR // 2) // _US_PER_HOUR


def _microseconds(start: datetime, end: datetime) -> int:
    delta = end - start
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def piece_cost(start: datetime, end: datetime, price_per_hour: Decimal) -> Decimal:
    return Decimal(micro_dollars(_microseconds(start, end), price_per_hour)) * MICRO


def pieces(segments: Iterable[Segment]) -> list[Piece]:
    """Every segment cut at UTC midnights, each piece priced (empty pieces dropped)."""
    out = []
    for segment in segments:
        start = segment.start.astimezone(UTC)
        end = segment.end.astimezone(UTC)
        while start < end:
            midnight = datetime.combine(start.date() + timedelta(days=1), time(), UTC)
            stop = min(end, midnight)
            cost = piece_cost(start, stop, segment.price_per_hour)
            out.append(Piece(start.date(), start, stop, segment.price_per_hour, segment.kind, cost))
            start = stop
    return out


def total_cost(segments: Iterable[Segment]) -> Decimal:
    """Total to 6 decimal places (the sum of the day pieces)."""
    return sum((p.cost for p in pieces(segments)), Decimal(0))


def by_day(segments: Iterable[Segment]) -> dict[date, Decimal]:
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for piece in pieces(segments):
        totals[piece.day] += piece.cost
    return dict(sorted(totals.items()))


def by_month(segments: Iterable[Segment]) -> dict[date, Decimal]:
    """Keyed by the first day of each UTC month; the sum of that month's days."""
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for day, cost in by_day(segments).items():
        totals[day.replace(day=1)] += cost
    return dict(sorted(totals.items()))


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent: for showing, never for adding up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def usd_text(value: Decimal) -> str:
    """'$12.35', or 4 decimals below $1 ('$0.0031') so small spend is not shown as $0.00.

    For messages (budgets, alerts). Whole cents stay cents ('$0.30', '$0.00').
    """
    if abs(value) >= 1 or value == cents(value):
        return f"${cents(value)}"
    return f"${value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP)}"


def segments_from_prices(
    prices: Iterable[tuple[datetime, Decimal, str]], end: datetime
) -> list[Segment]:
    """(effective_at, price per hour, kind) rows, in any order, to segments ending at `end`.

    Each price runs until the next one; prices effective at or after `end` are ignored.
    """
    ordered = sorted(prices, key=lambda row: row[0])
    out = []
    for index, (start, price, kind) in enumerate(ordered):
        if start >= end:
            break
        stop = ordered[index + 1][0] if index + 1 < len(ordered) else end
        out.append(Segment(start, min(stop, end), Decimal(price), kind))
    return out


def month_start(moment: datetime | date) -> date:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
