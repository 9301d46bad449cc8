"""Billing math: the issue's worked examples, each computed by hand in its docstring."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shopper_pipelines.costs.billing import (
    Segment,
    by_day,
    by_month,
    cents,
    micro_dollars,
    pieces,
    segments_from_prices,
    total_cost,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_45_minutes_on_a_4_gpu_offer_at_2_40_for_the_whole_instance():
    """The price is for the whole 4-GPU instance (not per GPU):
    45 min = 0.75 h; 0.75 h x $2.40/h = $1.80 (not 4 x $1.80)."""
    segment = Segment(T0, T0 + timedelta(minutes=45), Decimal("2.40"))
    assert total_cost([segment]) == Decimal("1.800000")
    assert cents(total_cost([segment])) == Decimal("1.80")


def test_price_change_at_minute_20():
    """$1.00/h for the first 20 min, then $1.50/h for the remaining 40 min of an hour:
    20/60 x 1.00 = 0.333333 (6 dp, half-up: 0.3333333... -> 0.333333)
    40/60 x 1.50 = 1.000000
    total 1.333333 -> $1.33 at presentation."""
    prices = [(T0, Decimal("1.00"), "on_demand"), (T0 + timedelta(minutes=20), Decimal("1.50"),
              "on_demand")]  # fmt: skip
    segments = segments_from_prices(prices, T0 + timedelta(minutes=60))
    assert [s.end - s.start for s in segments] == [timedelta(minutes=20), timedelta(minutes=40)]
    assert total_cost(segments) == Decimal("1.333333")
    assert cents(total_cost(segments)) == Decimal("1.33")


def test_stop_with_storage_only_billing():
    """Running 2 h at $0.80/h, then stopped with its disk kept for 10 h at the storage
    rate $0.05/h: 2 x 0.80 = 1.60; 10 x 0.05 = 0.50; total $2.10. The stopped hours are
    billed at the storage rate, not the GPU rate (10 x 0.80 = 8.00 would be wrong)."""
    stop = T0 + timedelta(hours=2)
    prices = [(T0, Decimal("0.80"), "on_demand"), (stop, Decimal("0.05"), "storage_only")]
    segments = segments_from_prices(prices, stop + timedelta(hours=10))
    assert [(s.kind, total_cost([s])) for s in segments] == [
        ("on_demand", Decimal("1.600000")),
        ("storage_only", Decimal("0.500000")),
    ]
    assert total_cost(segments) == Decimal("2.100000")


def test_session_spanning_midnight_and_a_month_end_splits_in_utc():
    """Runs 2026-01-31 22:30 UTC to 2026-02-01 01:15 UTC at $1.20/h:
    Jan 31: 22:30-24:00 = 1.5 h x 1.20 = 1.80
    Feb 01: 00:00-01:15 = 1.25 h x 1.20 = 1.50
    total 2.75 h = 3.30; January 1.80, February 1.50."""
    start = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    segment = Segment(start, datetime(2026, 2, 1, 1, 15, tzinfo=UTC), Decimal("1.20"))
    assert by_day([segment]) == {
        date(2026, 1, 31): Decimal("1.8"),
        date(2026, 2, 1): Decimal("1.5"),
    }
    assert by_month([segment]) == {
        date(2026, 1, 1): Decimal("1.8"),
        date(2026, 2, 1): Decimal("1.5"),
    }
    assert total_cost([segment]) == Decimal("3.300000")


def test_a_non_utc_clock_is_split_at_utc_midnight():
    """23:30-00:30 at UTC+2 is 21:30-22:30 UTC: one UTC day, 1 h x $2.00 = $2.00."""
    zone = timezone(timedelta(hours=2))
    segment = Segment(datetime(2026, 5, 1, 23, 30, tzinfo=zone),
                      datetime(2026, 5, 2, 0, 30, tzinfo=zone), Decimal("2.00"))  # fmt: skip
    assert by_day([segment]) == {date(2026, 5, 1): Decimal("2.000000")}


def test_rounding_is_half_up_at_six_places_and_at_cents():
    """1 second at $0.0018/h = 0.0018 / 3600 = 0.0000005 -> half-up 0.000001;
    $0.005 -> $0.01 at presentation (half-up, not banker's 0.00)."""
    assert micro_dollars(1_000_000, Decimal("0.0018")) == 1
    assert cents(Decimal("0.005")) == Decimal("0.01")


def test_pieces_cover_the_segment_exactly():
    """Three days and a bit (2026-06-01 12:00 to 06-04 06:00, 66 h) at $0.36/h:
    pieces 12 h, 24 h, 24 h, 6 h; 66 h x 0.36 = 23.76."""
    segment = Segment(datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 4, 6, tzinfo=UTC),
                      Decimal("0.36"))  # fmt: skip
    cut = pieces([segment])
    assert [p.hours for p in cut] == [12.0, 24.0, 24.0, 6.0]
    assert total_cost([segment]) == Decimal("23.760000")


def test_bad_segments_are_refused():
    with pytest.raises(ValueError, match="before it starts"):
        Segment(T0, T0 - timedelta(seconds=1), Decimal(1))
    with pytest.raises(ValueError, match="negative"):
        Segment(T0, T0, Decimal(-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        Segment(datetime(2026, 1, 1), datetime(2026, 1, 2), Decimal(1))
