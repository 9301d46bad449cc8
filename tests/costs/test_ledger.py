"""The SQL ledger on a real DuckDB file, checked against the pure billing math."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shopper_pipelines.costs.billing import segments_from_prices, total_cost
from shopper_pipelines.costs.ledger import (
    cost_summary,
    daily_costs,
    running_costs,
    session_cost,
    session_costs,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.sessions.models import Status
from tests.costs.ledger_support import Billed, insert

D = Decimal
NOW = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def ledger_db(db_path):
    """Four sessions, by hand:
    a: alice, vastai RTX 4090, Jan 10 09:00-09:45 at $2.40/h             = 1.800000
    b: alice, vastai RTX 4090, Jan 12 10:00-11:00, $1.00 then $1.50 at :20 = 1.333333
    c: bob, tensordock A100, Jan 31 22:30 - still running at NOW (Feb 1 03:00), $1.20/h:
       Jan 31 1.5 h = 1.80; Feb 1 3 h = 3.60                              = 5.400000
    d: bob, never got an instance (failed before create)                  = 0
    Total 8.533333: vastai 3.133333, tensordock 5.40; January 4.933333, February 3.60.
    """
    insert(db_path, [
        Billed("a", "alice", _at(10, 9), [(_at(10, 9), D("2.40"), "on_demand")],
               end=_at(10, 9, 45), gpu_count=4),
        Billed("b", "alice", _at(12, 10), [(_at(12, 10), D("1.00"), "on_demand"),
                                           (_at(12, 10, 20), D("1.50"), "on_demand")],
               end=_at(12, 11)),
        Billed("c", "bob", _at(31, 22, 30), [(_at(31, 22, 30), D("1.20"), "on_demand")],
               provider="tensordock", gpu_model="A100 SXM4 80GB", status=Status.RUNNING),
        Billed("d", "bob", _at(20, 8), [(_at(20, 8), D("0.50"), "on_demand")], end=_at(20, 8, 1),
               status=Status.FAILED, instance_id=None, record_start=False),
    ])  # fmt: skip
    return db_path


def test_summary_totals_by_provider_gpu_and_month(ledger_db):
    summary = cost_summary(ledger_db, period="monthly", now=NOW)
    assert summary["total"]["cost"] == D("8.533333")
    assert summary["total"]["sessions"] == 3  # d never billed
    assert summary["total"]["running"] == 1
    assert summary["total"]["hours"] == pytest.approx(0.75 + 1 + 4.5)
    assert [(r["provider"], r["cost"]) for r in summary["by_provider"]] == [
        ("tensordock", D("5.400000")), ("vastai", D("3.133333"))]  # fmt: skip
    assert [(r["period"], r["cost"]) for r in summary["by_period"]] == [
        (date(2026, 1, 1), D("4.933333")), (date(2026, 2, 1), D("3.600000"))]  # fmt: skip
    assert {r["consumer"]: r["cost"] for r in summary["by_consumer"]} == {
        "alice": D("3.133333"), "bob": D("5.400000")}  # fmt: skip


def test_filters_and_date_clipping(ledger_db):
    """Feb 1 only: c's 3 h on Feb 1 = $3.60; alice has nothing in February."""
    feb = cost_summary(ledger_db, start=date(2026, 2, 1), end=date(2026, 2, 1), now=NOW)
    assert feb["total"]["cost"] == D("3.600000")
    assert feb["total"]["hours"] == pytest.approx(3.0)
    alice = cost_summary(ledger_db, consumer="alice", period="daily", now=NOW)
    assert [(r["period"], r["cost"]) for r in alice["by_period"]] == [
        (date(2026, 1, 10), D("1.800000")), (date(2026, 1, 12), D("1.333333"))]  # fmt: skip
    one = cost_summary(ledger_db, session="b", now=NOW)
    assert one["total"]["cost"] == D("1.333333")


def test_running_session_accrues_to_now(ledger_db):
    """c at $1.20/h: 4.5 h by 03:00 = 5.40; one hour later 5.5 h = 6.60. Its reservation
    (12 h from Jan 31 22:30) ends Feb 1 10:30: 7.5 h more at 1.20 = 9.00 -> projected 14.40."""
    later = cost_summary(ledger_db, consumer="bob", now=NOW + timedelta(hours=1))
    assert later["total"]["cost"] == D("6.600000")
    [running] = running_costs(ledger_db, NOW)
    assert running["session_id"] == "c" and running["cost"] == D("5.400000")
    assert running["projected_cost"] == D("14.400000")


def test_sql_agrees_with_the_pure_math(ledger_db):
    """The ledger's SQL and costs/billing.py cut and round the same way."""
    prices = [(_at(12, 10), D("1.00"), "on_demand"), (_at(12, 10, 20), D("1.50"), "on_demand")]
    by_math = total_cost(segments_from_prices(prices, _at(12, 11)))
    assert cost_summary(ledger_db, session="b", now=NOW)["total"]["cost"] == by_math
    bill = session_cost(ledger_db, "b", now=NOW)
    assert bill["cost"] == by_math
    assert [s["cost"] for s in bill["segments"]] == [D("0.333333"), D("1.000000")]


def test_session_cost_of_a_session_that_never_had_an_instance(ledger_db):
    bill = session_cost(ledger_db, "d", now=NOW)
    assert bill["cost"] == 0 and bill["segments"] == [] and not bill["accruing"]


def test_adopted_session_without_recorded_start_bills_from_creation(db_path):
    """Adopted by label, no billing start: from created_at (10:00) to 12:00 at $0.50 = 1.00,
    and the bill says where its start came from."""
    insert(db_path, [Billed("e", "carol", _at(5, 10), [(_at(5, 10), D("0.50"), "on_demand")],
                            end=_at(5, 12), record_start=False)])  # fmt: skip
    bill = session_cost(db_path, "e", now=NOW)
    assert bill["cost"] == D("1.000000")
    assert "no recorded start" in bill["billing_start_source"]


def test_daily_costs_frame(ledger_db):
    frame = daily_costs(ledger_db, date(2026, 1, 31), date(2026, 2, 1), now=NOW)
    assert frame.columns == ["day", "consumer", "provider", "gpu_model", "cost", "hours"]
    assert frame.select("day", "cost").rows() == [(date(2026, 1, 31), 1.8), (date(2026, 2, 1), 3.6)]


def test_bad_ranges_name_the_flags(ledger_db):
    with pytest.raises(InvalidInputError, match="--start 2026-02-02 is after --end 2026-02-01"):
        cost_summary(ledger_db, start=date(2026, 2, 2), end=date(2026, 2, 1))
    with pytest.raises(InvalidInputError, match="--period must be daily or monthly, got 'weekly'"):
        cost_summary(ledger_db, period="weekly")
    with pytest.raises(InvalidInputError, match="no session with id 'nope'"):
        session_cost(ledger_db, "nope")


def test_session_costs_ranks_sessions_inside_the_range(ledger_db):
    """Jan 31 only: c billed 1.5 h x 1.20 = 1.80 that day; a and b nothing."""
    assert [(r["session_id"], r["cost"], r["accruing"]) for r in
            session_costs(ledger_db, date(2026, 1, 31), date(2026, 1, 31), now=NOW)] == [
        ("c", D("1.800000"), True)]  # fmt: skip
    ranked = session_costs(ledger_db, None, None, now=NOW, limit=2)
    assert [r["session_id"] for r in ranked] == ["c", "a"]  # 5.40, 1.80 (b 1.33 cut by limit)


def test_an_unconfirmed_destroy_keeps_accruing(db_path):
    """Destroy asked at 10:30 but never confirmed (failed, no terminated_at): the instance
    may still run, so it bills on: 10:00 to 13:00 = 3 h x $0.40 = $1.20."""
    insert(db_path, [Billed("f", "demo", _at(5, 10), [(_at(5, 10), D("0.40"), "on_demand")],
                            status=Status.FAILED)])  # fmt: skip
    bill = session_cost(db_path, "f", now=_at(5, 13))
    assert bill["accruing"] and bill["cost"] == D("1.200000")
