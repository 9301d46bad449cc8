"""Costs' Dagster pieces: the budget sensor against the sandbox, the ledger asset's checks."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from dagster import DagsterInstance, RunRequest, build_sensor_context, materialize

from shopper_pipelines.costs import checks
from shopper_pipelines.costs.alerts import list_alerts
from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.costs.defs import (
    budget_sensor,
    cost_ledger,
    cost_ledger_hard_max_check,
    cost_ledger_no_negative_check,
    cost_ledger_unconfirmed_destroy_check,
)
from shopper_pipelines.resources import ShopperSettings
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.defs import destroy_session_job
from shopper_pipelines.sessions.models import SessionRequest, Status
from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session
from tests.costs.ledger_support import Billed, insert
from tests.sandbox_support import env_world


@pytest.fixture
def world(tmp_path, monkeypatch):
    with env_world(tmp_path, monkeypatch, "costs") as pair:
        yield pair


def _run_requests(sensor_def, instance) -> list[RunRequest]:
    produced = sensor_def(build_sensor_context(instance=instance)) or []
    return [r for r in produced if isinstance(r, RunRequest)]


def test_budget_sensor_alerts_once_and_stops_a_used_up_stop_budget(world):
    """team spent $5.00 earlier this month (30 min at $10/h) against a $1 `stop` budget
    (500 %): the sensor sends the 50/80/100 % alerts once and launches one destroy run
    for team's running session, which ends it at the sandbox."""
    settings, url = world
    now = datetime.now(UTC)
    t = now - timedelta(hours=1)
    insert(settings.database_path, [Billed("old", "team", t, [(t, Decimal(10), "on_demand")],
                                           end=t + timedelta(minutes=30))])  # fmt: skip
    offer = pick_offer(settings, offer_id=None, gpu="RTX 4090")
    requested = request_session(settings, SessionRequest("team"), offer)  # before the budget
    session = provision_session(settings, requested.session.session_id)
    assert session.status is Status.RUNNING, session.status_reason
    set_budget(settings.database_path, "team", "1", action="stop")

    with DagsterInstance.ephemeral() as instance:
        requests = _run_requests(budget_sensor, instance)
        again = _run_requests(budget_sensor, instance)
        assert [r.run_key for r in requests] == [f"budget:{session.session_id}:{now:%Y-%m}"]
        assert [r.run_key for r in again] == [r.run_key for r in requests]  # same key: once
        result = destroy_session_job.execute_in_process(
            run_config=requests[0].run_config, instance=instance,
            resources={"shopper": ShopperSettings()},
        )  # fmt: skip
    assert result.success
    ended = store.require_session(settings.database_path, session.session_id)
    assert ended.status is Status.TERMINATED and "budget" in (ended.status_reason or "")
    live = [i for i in httpx.get(f"{url}/_sandbox/instances").json()["instances"]
            if not i["destroyed"]]  # fmt: skip
    assert live == []
    assert sorted(a["threshold"] for a in list_alerts(settings.database_path)) == [50, 80, 100]


def test_ledger_asset_materialises_with_its_checks(world):
    settings, _ = world
    t = datetime.now(UTC) - timedelta(hours=2)
    insert(settings.database_path, [Billed("s", "demo", t, [(t, Decimal("1.5"), "on_demand")],
                                           end=t + timedelta(hours=1))])  # fmt: skip
    result = materialize(
        [cost_ledger, cost_ledger_no_negative_check, cost_ledger_hard_max_check,
         cost_ledger_unconfirmed_destroy_check],
        resources={"shopper": ShopperSettings()},
    )  # fmt: skip
    assert result.success
    [materialization] = result.asset_materializations_for_node("cost_ledger")
    assert materialization.metadata["cost_31_days_usd"].value == 1.5
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 3 and all(e.passed for e in evaluations)


def test_checks_catch_silent_hard_max_overruns_and_stale_destroys(db_path):
    """A session running 13 h (hard max 12 h) with no alert, and a failed destroy an hour
    old still billing: both checks fail; an alert on the first clears it."""
    now = datetime(2026, 5, 5, 12, tzinfo=UTC)
    old = now - timedelta(hours=13)
    insert(db_path, [
        Billed("long", "demo", old, [(old, Decimal(1), "on_demand")], status=Status.RUNNING),
        Billed("stuck", "demo", now - timedelta(hours=1),
               [(now - timedelta(hours=1), Decimal(1), "on_demand")], status=Status.FAILED),
    ])  # fmt: skip
    silent = checks.past_hard_max_without_alert(db_path, now)
    assert not silent.passed and silent.metadata["sessions"] == "long"
    stale = checks.stale_unconfirmed_destroys(db_path, now)
    assert not stale.passed and stale.metadata["sessions"] == "stuck"
    store.record(db_path, "long", "hard maximum reached; destroy pending", kind="alert")
    assert checks.past_hard_max_without_alert(db_path, now).passed
    assert checks.no_negative_costs(db_path, now.date() - timedelta(days=2), now).passed
