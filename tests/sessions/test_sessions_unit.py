"""Session logic against an in-memory provider: states, destroy, limits, reconciliation."""

from datetime import UTC, datetime, timedelta

import pytest

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.deployment import deployment_id, monitor_key
from shopper_pipelines.sessions.destroy import destroy_verified, stop_session
from shopper_pipelines.sessions.models import SessionRequest, Status, label_for, parse_label
from shopper_pipelines.sessions.provision import request_session
from shopper_pipelines.sessions.reconcile import reconcile_provider
from shopper_pipelines.sessions.store import TransitionError
from shopper_pipelines.settings import load_settings
from tests.sessions.fake_provider import FakeProvider

OFFER = {
    "id": "vastai:42", "provider": "vastai", "provider_offer_id": "42", "gpu_model": "RTX 4090",
    "gpu_count": 1, "vram_gb": 24.0, "cuda": 12.4, "price_per_hour": 0.35,
}  # fmt: skip


@pytest.fixture
def settings(db_path):
    return load_settings(
        database_path=db_path, deployment_id="test-a", destroy_attempts=3, destroy_backoff_s=0
    )


def _new(settings, **request):
    return request_session(settings, SessionRequest("demo", **request), OFFER)


def test_request_writes_pending_row_and_event_and_never_stores_private_key(settings, db_path):
    requested = _new(settings, hours=2)
    session = store.require_session(db_path, requested.session.session_id)
    assert session.status is Status.PENDING
    assert session.label == f"gpu-shopper:test-a:{session.session_id}"
    assert session.expires_at - session.created_at == timedelta(hours=2)
    assert session.hard_max_at - session.created_at == timedelta(hours=12)
    assert requested.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "PRIVATE" not in repr(requested)
    key_body = requested.private_key.splitlines()[1]
    assert key_body.encode() not in db_path.read_bytes()
    [event] = store.events(db_path, session.session_id)
    assert (event["kind"], event["to_status"]) == ("transition", "pending")


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        ({"hours": 0}, "--hours must be 1-12, got 0"),
        ({"hours": 169}, "--hours must be 1-12, got 169"),
        ({"idle_timeout_min": 0}, "--idle-timeout must be 1-1440 minutes, got 0"),
    ],
)
def test_session_request_validation_names_the_flag(request_args, message):
    with pytest.raises(InvalidInputError, match=message):
        SessionRequest("demo", **request_args)


def test_hours_are_capped_by_the_hard_maximum_setting(settings):
    with pytest.raises(InvalidInputError, match=r"--hours must be 1-12 \(HARD_MAX_HOURS\), got 13"):
        _new(settings, hours=13)
    roomy = settings.model_copy(update={"hard_max_hours": 24})
    session = request_session(roomy, SessionRequest("demo", hours=20), OFFER).session
    assert session.hard_max_at - session.created_at == timedelta(hours=24)


def test_transitions_follow_the_state_machine_and_append_events(settings, db_path):
    session_id = _new(settings).session.session_id
    store.transition(db_path, session_id, Status.PROVISIONING, "provisioning started")
    with pytest.raises(TransitionError, match="cannot go from provisioning to terminated"):
        store.transition(db_path, session_id, Status.TERMINATED, "skip ahead")
    store.transition(db_path, session_id, Status.PROVISIONING, "retried step is a no-op")
    kinds = [(e["from_status"], e["to_status"]) for e in store.events(db_path, session_id)]
    assert kinds == [(None, "pending"), ("pending", "provisioning")]


def test_destroy_verified_retries_a_destroy_that_lied():
    provider = FakeProvider(destroy_lies=2)
    provider.add("7", "x")
    outcome = destroy_verified(provider, "7", attempts=4, backoff_s=0, sleep=lambda _s: None)
    assert outcome.confirmed and outcome.attempts == 3
    assert provider.get_instance("7") is None


def test_stop_session_alerts_and_fails_when_destroy_never_confirms(settings, db_path):
    session_id = _new(settings).session.session_id
    provider = FakeProvider(destroy_lies=99)
    provider.add("9", label_for("test-a", session_id))
    store.record(db_path, session_id, "instance created", instance_id="9")
    session = stop_session(settings, session_id, "done", client=provider, sleep=lambda _s: None)
    assert session.status is Status.FAILED
    assert provider.destroy_calls == 3
    alerts = [e for e in store.events(db_path, session_id) if e["kind"] == "alert"]
    assert "not confirmed" in alerts[0]["reason"]
    # The lifecycle pass keeps retrying it; a later honest destroy terminates it.
    due = lifecycle.due_for_stop(settings)
    assert [(d.session_id, d.reason) for d in due] == [(session_id, "retry_destroy")]
    provider.destroy_lies = 0
    session = stop_session(settings, session_id, "retry", client=provider, sleep=lambda _s: None)
    assert session.status is Status.TERMINATED and session.terminated_at is not None


def test_due_for_stop_expiry_hard_max_idle_and_stuck(settings, db_path):
    now = datetime.now(UTC)
    expired = _new(settings, hours=1).session.session_id
    idle = _new(settings, hours=4, idle_timeout_min=10).session.session_id
    stuck = _new(settings, hours=4).session.session_id
    fine = _new(settings, hours=4, idle_timeout_min=120).session.session_id
    for session_id in (idle, fine):
        store.transition(db_path, session_id, Status.PROVISIONING, "p")
        store.transition(db_path, session_id, Status.RUNNING, "r", last_active_at=now)
    later = now + timedelta(minutes=61)
    due = {d.session_id: d.reason for d in lifecycle.due_for_stop(settings, later)}
    assert due == {expired: "expired", idle: "idle", stuck: "stuck"}
    past_max = {
        d.session_id: d.reason for d in lifecycle.due_for_stop(settings, now + timedelta(hours=13))
    }
    assert set(past_max.values()) == {"hard_max"}


def test_extend_stops_at_the_hard_maximum_unless_overridden(settings, db_path):
    session_id = _new(settings, hours=10).session.session_id
    with pytest.raises(InvalidInputError, match="past its hard maximum"):
        lifecycle.extend(settings, session_id, 3)
    session = lifecycle.extend(settings, session_id, 2)
    assert session.expires_at - session.created_at == timedelta(hours=12)
    session = lifecycle.extend(settings, session_id, 3, override_hard_max=True)
    assert session.hard_max_at == session.expires_at


def test_reconcile_destroys_our_orphan_after_grace_only(settings, db_path):
    provider = FakeProvider()
    old = datetime.now(UTC) - timedelta(minutes=30)
    provider.add("1", label_for("test-a", "sess-gone"), created_at=old)  # ours, no session
    provider.add("2", label_for("test-a", "sess-new"), created_at=datetime.now(UTC))  # in grace
    provider.add("3", label_for("other-deployment", "sess-x"), created_at=old)  # not ours
    provider.add("4", "my-own-box", created_at=old)  # not GPU Shopper's
    live = _new(settings).session.session_id
    provider.add("5", label_for("test-a", live), created_at=old)  # a live session's instance

    report = reconcile_provider(settings, "vastai", client=provider)

    assert report.orphans_destroyed == ["1"]
    assert report.orphans_waiting == ["2"]
    assert sorted(provider.instances) == ["2", "3", "4", "5"]


def test_reconcile_listing_failure_aborts_and_destroys_nothing(settings):
    provider = FakeProvider(list_fails=True)
    provider.add("1", label_for("test-a", "sess-gone"), created_at=datetime(2020, 1, 1, tzinfo=UTC))
    report = reconcile_provider(settings, "vastai", client=provider)
    assert report.error is not None and "pass aborted" in report.error
    assert provider.destroy_calls == 0


def test_reconcile_marks_running_session_whose_instance_vanished(settings, db_path):
    session_id = _new(settings).session.session_id
    store.transition(db_path, session_id, Status.PROVISIONING, "p", instance_id="77")
    store.transition(db_path, session_id, Status.RUNNING, "r")
    report = reconcile_provider(settings, "vastai", client=FakeProvider())
    assert report.sessions_vanished == [session_id]
    # Regression: it used to stay `stopping` forever; now the absence is confirmed.
    assert store.require_session(db_path, session_id).status is Status.TERMINATED


def test_a_stop_that_died_midway_is_retried(settings, db_path):
    session_id = _new(settings).session.session_id
    store.transition(db_path, session_id, Status.STOPPING, "process died during destroy")
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert [(d.session_id, d.reason) for d in lifecycle.due_for_stop(settings, later)] == [
        (session_id, "retry_destroy")
    ]


def test_labels_round_trip_and_reject_foreign_ones():
    assert parse_label(label_for("prod-1", "sess-abc")) == ("prod-1", "sess-abc")
    assert parse_label("gpu-shopper:only-one-part") is None
    assert parse_label(None) is None


def test_deployment_id_and_monitor_key_are_made_once(tmp_path):
    settings = load_settings(database_path=tmp_path / "w.duckdb")
    first = deployment_id(settings)
    assert first == deployment_id(settings)
    key = monitor_key(settings)
    path = tmp_path / "keys" / "monitor_ed25519"
    assert path.stat().st_mode & 0o777 == 0o600
    assert monitor_key(settings).public_openssh == key.public_openssh
    assert "PRIVATE" not in repr(key)


def test_claiming_a_pending_session_twice_loses_the_second_time(settings, db_path):
    session_id = _new(settings).session.session_id
    store.transition(db_path, session_id, Status.PROVISIONING, "first", expect=Status.PENDING)
    with pytest.raises(store.ClaimLostError, match="is provisioning, not pending"):
        store.transition(db_path, session_id, Status.PROVISIONING, "second", expect=Status.PENDING)


def test_done_while_create_is_in_flight_destroys_the_late_instance(settings, db_path):
    # Regression: a session stopped during create stayed terminated while its instance ran.
    from shopper_pipelines.sessions.provision import provision_session

    session_id = _new(settings).session.session_id
    provider = FakeProvider()
    real_create = provider.create_instance

    def create_while_user_presses_done(request):
        stop_session(settings, session_id, "consumer signalled done", client=provider)
        return real_create(request)

    provider.create_instance = create_while_user_presses_done  # type: ignore[method-assign]
    session = provision_session(settings, session_id, client_factory=lambda _s, _p: provider)

    assert session.status is Status.TERMINATED
    assert provider.instances == {}
    reasons = [e["reason"] for e in store.events(db_path, session_id)]
    assert any("stopped during create" in reason for reason in reasons)


def test_storage_preserve_is_refused_not_silently_destroyed():
    from shopper_pipelines.sessions.models import StoragePolicy

    with pytest.raises(InvalidInputError, match="--storage preserve is not supported yet"):
        SessionRequest("demo", storage=StoragePolicy.PRESERVE)
