"""What the reconciler tells billing: adopted instances and provider repricing."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.models import SessionRequest, Status, label_for
from shopper_pipelines.sessions.provision import request_session
from shopper_pipelines.sessions.reconcile import reconcile_provider
from shopper_pipelines.settings import load_settings
from tests.sessions.fake_provider import FakeProvider

OFFER = {
    "id": "vastai:42", "provider": "vastai", "provider_offer_id": "42", "gpu_model": "RTX 4090",
    "gpu_count": 1, "vram_gb": 24.0, "cuda": 12.4, "price_per_hour": 0.35,
}  # fmt: skip


@pytest.fixture
def settings(db_path):
    return load_settings(database_path=db_path, deployment_id="test-b", destroy_backoff_s=0)


def _running(settings, db_path, started):
    session_id = request_session(settings, SessionRequest("demo"), OFFER).session.session_id
    store.transition(db_path, session_id, Status.PROVISIONING, "p", instance_id="7")
    store.record(db_path, session_id, "billing starts",
                 price=store.PricePoint(started, Decimal("0.35")))  # fmt: skip
    store.transition(db_path, session_id, Status.RUNNING, "r")
    return session_id


def test_an_instance_adopted_by_the_reconciler_bills_from_the_providers_creation(settings, db_path):
    """Bug: a create whose answer was lost, adopted later by label, had no billing start,
    so it billed from the session's request time at the shop's price. It now bills from
    the provider's created_at at the provider's price (0.40 here, shown 0.35)."""
    session_id = request_session(settings, SessionRequest("demo"), OFFER).session.session_id
    created = datetime.now(UTC) - timedelta(minutes=3)
    provider = FakeProvider()
    provider.add("9", label_for("test-b", session_id), created_at=created)

    reconcile_provider(settings, "vastai", client=provider)

    [point] = store.prices(db_path, session_id)
    assert point.effective_at == created
    assert (Decimal(point.price_per_hour), point.source) == (Decimal("0.4"), "provider")


def test_a_provider_repricing_bills_from_when_the_reconciler_saw_it(settings, db_path):
    """Running since 10 minutes ago at $0.35/h; the provider now reports $0.412345678/h.
    The new price applies from the pass's `now`, stored at 6 dp ($0.412346), and a second
    pass seeing the same price adds nothing (no spurious change from float noise)."""
    started = datetime.now(UTC) - timedelta(minutes=10)
    session_id = _running(settings, db_path, started)
    provider = FakeProvider()
    provider.add("7", label_for("test-b", session_id), created_at=started)
    provider.instances["7"] = replace(provider.instances["7"], price_per_hour=0.412345678)
    seen = datetime.now(UTC)

    reconcile_provider(settings, "vastai", client=provider, now=seen)
    reconcile_provider(settings, "vastai", client=provider, now=seen + timedelta(minutes=5))

    points = store.prices(db_path, session_id)
    assert [(p.effective_at, Decimal(p.price_per_hour)) for p in points] == [
        (started, Decimal("0.35")),
        (seen, Decimal("0.412346")),
    ]
