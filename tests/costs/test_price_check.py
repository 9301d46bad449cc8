"""The provider's reported price against the shown one, on a real warehouse file."""

from datetime import UTC, datetime
from decimal import Decimal

from shopper_pipelines.costs.ledger import session_cost
from shopper_pipelines.costs.price_check import (
    adopt_billing,
    check_provider_price,
    note_price_change,
)
from shopper_pipelines.sessions import store
from tests.costs.ledger_support import Billed, insert

T = datetime(2026, 4, 1, 10, tzinfo=UTC)


def _session(db, price="2.00"):
    insert(db, [Billed("s1", "demo", T, [(T, Decimal(price), "on_demand")],
                       end=datetime(2026, 4, 1, 11, tzinfo=UTC))])  # fmt: skip


def _alerts(db):
    return [e["reason"] for e in store.events(db, "s1") if e["kind"] == "alert"]


def test_within_one_percent_is_recorded_without_alert(db_path):
    """$2.00 shown, $2.015 reported: 0.75 % off, inside the 1 % tolerance."""
    _session(db_path)
    assert check_provider_price(db_path, "s1", 2.015) is None
    assert _alerts(db_path) == []
    [point] = store.prices(db_path, "s1")
    assert (point.source, point.price_per_hour, point.effective_at) == (
        "provider",
        Decimal("2.015"),
        T,
    )


def test_a_higher_provider_price_is_alerted_and_billed(db_path):
    """$2.00 shown, $2.50 reported (+25 %): alert; 1 h billed at $2.50 = $2.50, not $2.00."""
    _session(db_path)
    message = check_provider_price(db_path, "s1", 2.50)
    assert message is not None and "(+25.0%)" in message
    assert _alerts(db_path) == [message]
    assert session_cost(db_path, "s1", now=T.replace(hour=12))["cost"] == Decimal("2.500000")


def test_no_reported_price_or_a_repeat_changes_nothing(db_path):
    _session(db_path)
    assert check_provider_price(db_path, "s1", None) is None
    assert store.prices(db_path, "s1")[0].source == "offer"
    check_provider_price(db_path, "s1", 3.0)
    assert check_provider_price(db_path, "s1", 9.0) is None  # already the provider's
    assert store.prices(db_path, "s1")[0].price_per_hour == Decimal("3.0")
    assert len(_alerts(db_path)) == 1


def test_a_later_price_change_applies_from_its_time(db_path):
    """$2.00 from 10:00, the provider reprices to $3.00 at 10:30, destroyed 11:00:
    0.5 x 2.00 + 0.5 x 3.00 = $2.50; the same price again adds nothing."""
    _session(db_path)
    assert note_price_change(db_path, "s1", 3.0, T.replace(minute=30))
    assert not note_price_change(db_path, "s1", 3.0, T.replace(minute=45))
    assert session_cost(db_path, "s1", now=T.replace(hour=12))["cost"] == Decimal("2.500000")


def test_storage_only_billing_after_a_stop(db_path):
    """Stopped at 10:15 with its disk kept at $0.04/h until 11:00:
    0.25 h x 2.00 = 0.50; 0.75 h x 0.04 = 0.03; total $0.53."""
    _session(db_path)
    note_price_change(db_path, "s1", 0.04, T.replace(minute=15), kind="storage_only",
                      source="storage")  # fmt: skip
    bill = session_cost(db_path, "s1", now=T.replace(hour=12))
    assert [s["kind"] for s in bill["segments"]] == ["on_demand", "storage_only"]
    assert bill["cost"] == Decimal("0.530000")


def test_adopted_instance_bills_from_the_providers_creation_and_says_so(db_path):
    """Adopted by label with no recorded start: the provider says it was created at
    09:30 at $1.20/h; destroyed 11:00 -> 1.5 h x 1.20 = $1.80."""
    end = datetime(2026, 4, 1, 11, tzinfo=UTC)
    adopted = Billed("s2", "demo", T, [(T, Decimal("1.00"), "on_demand")], end=end,
                     record_start=False)  # fmt: skip
    insert(db_path, [adopted])
    assert adopt_billing(db_path, "s2", provider_created_at=T.replace(hour=9, minute=30),
                         provider_price=1.20)  # fmt: skip
    bill = session_cost(db_path, "s2", now=T.replace(hour=12))
    assert bill["cost"] == Decimal("1.800000")
    assert bill["billing_start_source"].startswith("adopted by label: billing from the provider")
    assert not adopt_billing(db_path, "s2", provider_created_at=None, provider_price=None)
