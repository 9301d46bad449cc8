"""Sessions' Dagster jobs and sensors, run in-process against the sandbox."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dagster import DagsterInstance, build_sensor_context

from shopper_pipelines.resources import ShopperSettings
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.defs import (
    destroy_session_job,
    provision_requests_sensor,
    provision_session_job,
    reconcile_job,
    session_limits_sensor,
)
from shopper_pipelines.sessions.models import SessionRequest, Status
from shopper_pipelines.sessions.provision import pick_offer, request_session
from tests.sandbox_support import env_world


@pytest.fixture
def world(tmp_path, monkeypatch):
    with env_world(tmp_path, monkeypatch, "dagster") as pair:
        yield pair


def _requested(settings, age=timedelta(minutes=1)):
    offer = pick_offer(settings, offer_id=None, gpu="RTX 4090")
    return request_session(
        settings, SessionRequest("dagster", hours=1), offer, now=datetime.now(UTC) - age
    ).session


def test_sensor_queues_pending_sessions_once_and_the_job_provisions(world):
    settings, _ = world
    session = _requested(settings)
    fresh = _requested(settings, age=timedelta(0))  # the CLI's own, claimed at once
    with DagsterInstance.ephemeral() as instance:
        requests = list(provision_requests_sensor(build_sensor_context(instance=instance)) or [])
        assert [r.run_key for r in requests] == [f"provision:{session.session_id}"]
        assert fresh.session_id not in {r.tags["session_id"] for r in requests}

        result = provision_session_job.execute_in_process(
            run_config=requests[0].run_config, instance=instance,
            resources={"shopper": ShopperSettings()},
        )  # fmt: skip
    assert result.success
    assert (
        store.require_session(settings.database_path, session.session_id).status is Status.RUNNING
    )


def test_limits_sensor_and_destroy_job_end_an_expired_session(world):
    settings, _ = world
    session = _requested(settings, age=timedelta(hours=2))  # its 1-hour reservation is over
    with DagsterInstance.ephemeral() as instance:
        requests = list(session_limits_sensor(build_sensor_context(instance=instance)) or [])
        assert [(r.run_key, r.tags["reason"]) for r in requests] == [
            (f"{session.session_id}:expired", "expired")
        ]
        result = destroy_session_job.execute_in_process(
            run_config=requests[0].run_config, instance=instance,
            resources={"shopper": ShopperSettings()},
        )  # fmt: skip
    assert result.success
    assert (
        store.require_session(settings.database_path, session.session_id).status
        is Status.TERMINATED
    )


def test_reconcile_job_fails_loudly_when_a_listing_fails(world):
    _, url = world
    httpx.post(f"{url}/_sandbox/faults", json={"route": "vastai.list",
               "responses": [{"status": 500}] * 8}).raise_for_status()  # fmt: skip
    with DagsterInstance.ephemeral() as instance:
        result = reconcile_job.execute_in_process(
            instance=instance, resources={"shopper": ShopperSettings()}, raise_on_error=False
        )
    assert not result.success
