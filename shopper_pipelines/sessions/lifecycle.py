"""Lifecycle: extend, finish, the limits that stop sessions, idle sampling and re-keying.

`due_for_stop` is the one place that decides which sessions must stop and why:
reservation expiry, the hard maximum, idle timeout, provisioning stuck past its
readiness timeout, and failed destroys that must be retried. Dagster's sensor turns each
(session, reason) into one destroy run; the CLI and tests call the same function.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shopper_pipelines.costs.budgets import check_extend
from shopper_pipelines.errors import InvalidInputError, ProviderError
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.deployment import deployment_id, instance_provider, monitor_key
from shopper_pipelines.sessions.destroy import stop_session
from shopper_pipelines.sessions.models import MAX_HOURS, Session, Status
from shopper_pipelines.sessions.readiness import readiness_timeout_s
from shopper_pipelines.settings import Settings
from shopper_pipelines.ssh.client import SshError, SshTarget, probe_gpu, run_command
from shopper_pipelines.ssh.keys import generate_key_pair

logger = logging.getLogger(__name__)

IDLE_UTILISATION_PCT = 5.0  # at or below this, a GPU counts as idle
STUCK_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class StopReason:
    session_id: str
    reason: str  # a short key: expired, hard_max, idle, stuck, retry_destroy

    @property
    def run_key(self) -> str:
        return f"{self.session_id}:{self.reason}"


def due_for_stop(settings: Settings, now: datetime | None = None) -> list[StopReason]:
    """Every live session of this deployment that must stop now, with why."""
    now = now or datetime.now(UTC)
    due = []
    for session in store.live_sessions(settings.database_path, deployment_id(settings)):
        reason = _stop_reason(settings, session, now)
        if reason:
            due.append(StopReason(session.session_id, reason))
    for session in store.list_sessions(
        settings.database_path,
        statuses=frozenset({Status.FAILED}),
        deployment_id=deployment_id(settings),
    ):
        if session.instance_id and session.terminated_at is None:
            due.append(StopReason(session.session_id, "retry_destroy"))
    return due


def _stop_reason(settings: Settings, session: Session, now: datetime) -> str | None:
    if session.status is Status.STOPPING:
        # A stop that never finished (its process died): retry once it is clearly stale.
        since = session.stopped_at or session.created_at
        return "retry_destroy" if now - since > STUCK_GRACE else None
    if now >= session.hard_max_at:
        return "hard_max"
    if now >= session.expires_at:
        return "expired"
    if session.status in (Status.PENDING, Status.PROVISIONING):
        limit = timedelta(seconds=readiness_timeout_s(settings, session)) + STUCK_GRACE
        if now - session.created_at > limit:
            return "stuck"
    idle_limit = timedelta(minutes=session.idle_timeout_min or 0)
    active = session.last_active_at
    if session.status is Status.RUNNING and idle_limit and active and now - active > idle_limit:
        return "idle"
    return None


REASON_TEXT = {
    "expired": "reservation expired",
    "hard_max": "hard maximum reached",
    "idle": "idle timeout",
    "stuck": "stuck provisioning",
    "retry_destroy": "retrying an unconfirmed destroy",
    "done": "consumer signalled done",
    "delete": "deleted by request",
    "budget": "monthly budget exceeded",
}


def stop_for(settings: Settings, due: StopReason) -> Session:
    return stop_session(settings, due.session_id, REASON_TEXT.get(due.reason, due.reason))


def done(settings: Settings, session_id: str) -> Session:
    """Graceful finish: the consumer is done; destroy and confirm."""
    return stop_session(settings, session_id, REASON_TEXT["done"])


def delete(settings: Settings, session_id: str) -> Session:
    """Force: destroy now, whatever the session's state."""
    return stop_session(settings, session_id, REASON_TEXT["delete"])


def extend(
    settings: Settings, session_id: str, hours: int, *, override_hard_max: bool = False
) -> Session:
    """Push the reservation out by `hours`, never past the hard maximum unless overridden.

    The added hours at the session's current price go through the consumer's (and the
    global) budget check first: a refusing budget raises BudgetExceededError and the
    reservation stays as it was.
    """
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidInputError(f"--hours must be 1-{MAX_HOURS}, got {hours}")
    db = settings.database_path
    session = store.require_session(db, session_id)
    if session.status not in (Status.PENDING, Status.PROVISIONING, Status.RUNNING):
        raise InvalidInputError(f"session {session_id} is {session.status.value}; cannot extend")
    new_expiry = session.expires_at + timedelta(hours=hours)
    hard_max = session.hard_max_at
    if new_expiry > hard_max:
        if not override_hard_max:
            raise InvalidInputError(
                f"extending {session_id} by {hours}h would end at {new_expiry:%Y-%m-%d %H:%M} UTC,"
                f" past its hard maximum {hard_max:%Y-%m-%d %H:%M} UTC; pass --override-hard-max"
            )
        hard_max = new_expiry
    billed = store.prices(db, session_id)
    price = billed[-1].price_per_hour if billed else session.price_per_hour
    check_extend(db, session.consumer_id, session_id, price, hours)  # raises: nothing changed
    overridden = " (past the hard maximum: overridden)" if hard_max != session.hard_max_at else ""
    store.record(
        db, session_id, f"extended by {hours}h to {new_expiry.isoformat()}{overridden}",
        kind="alert" if overridden else "note", expires_at=new_expiry, hard_max_at=hard_max,
    )  # fmt: skip
    return store.require_session(db, session_id)


def _monitor_target(settings: Settings, session: Session) -> SshTarget:
    if not (session.ssh_host and session.ssh_port and session.ssh_user):
        raise InvalidInputError(f"session {session.session_id} has no SSH endpoint yet")
    return SshTarget(
        session.ssh_host,
        session.ssh_port,
        session.ssh_user,
        monitor_key(settings).private_openssh,
        session.host_key,
    )


def sample_activity(
    settings: Settings, session_id: str, now: datetime | None = None
) -> float | None:
    """Read GPU utilisation over SSH; a busy GPU moves `last_active_at` forward."""
    session = store.require_session(settings.database_path, session_id)
    if session.status is not Status.RUNNING:
        return None
    try:
        probe, _ = probe_gpu(_monitor_target(settings, session))
    except SshError as error:
        logger.warning("session %s: idle sample failed: %s", session_id, error)
        return None
    peak = max(probe.utilization, default=0.0)
    if peak > IDLE_UTILISATION_PCT:
        store.record(
            settings.database_path, session_id, f"GPU busy at {peak:.0f}%",
            last_active_at=now or datetime.now(UTC),
        )  # fmt: skip
    return peak


def rekey(settings: Settings, session_id: str) -> tuple[Session, str]:
    """Install a new key pair on a running session; return it with the new private key.

    The new public key is added through the provider where it has an API for it (Vast),
    else over SSH with the monitor key; the old key is left in place.
    """
    db = settings.database_path
    session = store.require_session(db, session_id)
    if session.status is not Status.RUNNING or session.instance_id is None:
        raise InvalidInputError(f"session {session_id} is {session.status.value}; cannot re-key")
    keys = generate_key_pair(f"{session_id}-rekey")
    client = instance_provider(settings, session.provider)
    try:
        client.attach_ssh_key(session.instance_id, keys.public_openssh)
    except ProviderError as error:
        logger.info("session %s: provider re-key unavailable (%s); using SSH", session_id, error)
        result = run_command(
            _monitor_target(settings, session),
            "mkdir -p ~/.ssh && chmod 700 ~/.ssh && "
            f"printf '%s\\n' '{keys.public_openssh}' >> ~/.ssh/authorized_keys && "
            "chmod 600 ~/.ssh/authorized_keys",
        )
        if result.exit_status != 0:
            raise InvalidInputError(f"re-key over SSH failed: {result.stderr[:200]}") from None
    finally:
        client.close()
    store.record(db, session_id, "re-keyed: new key installed", public_key=keys.public_openssh)
    return store.require_session(db, session_id), keys.private_openssh
