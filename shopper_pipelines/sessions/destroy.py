"""Verified destroy: ask, confirm absence with the provider, retry; never assume.

Only a confirmed absence (the provider says the instance does not exist) marks a
session terminated. A destroy that cannot be confirmed after every attempt raises an
alert and leaves the session `failed` with its instance id, which the lifecycle pass
keeps retrying until the provider confirms.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shopper_pipelines.costs.price_check import adopt_billing
from shopper_pipelines.errors import ProviderError
from shopper_pipelines.providers.base import InstanceProvider
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.deployment import instance_provider
from shopper_pipelines.sessions.models import Session, Status
from shopper_pipelines.settings import Settings

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class DestroyOutcome:
    confirmed: bool
    attempts: int
    detail: str


def destroy_verified(
    client: InstanceProvider,
    instance_id: str,
    *,
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> DestroyOutcome:
    """Destroy, then check it is gone; repeat with backoff until confirmed or out of tries."""
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            client.destroy_instance(instance_id)
            remaining = client.get_instance(instance_id)
        except ProviderError as error:
            last = f"attempt {attempt}: {error}"
        else:
            if remaining is None:
                return DestroyOutcome(True, attempt, f"confirmed gone after {attempt} attempt(s)")
            last = f"attempt {attempt}: still present ({remaining.raw_status or remaining.status})"
        logger.warning("destroy %s not confirmed: %s", instance_id, last)
        if attempt < attempts:
            sleep(min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
    return DestroyOutcome(False, attempts, last)


def stop_session(
    settings: Settings,
    session_id: str,
    reason: str,
    *,
    client: InstanceProvider | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Session:
    """Take a session through `stopping` to a confirmed `terminated` (or an alerted `failed`)."""
    db = settings.database_path
    session = store.require_session(db, session_id)
    if session.status is Status.TERMINATED:
        return session
    session = store.transition(
        db, session_id, Status.STOPPING, reason, stopped_at=session.stopped_at or _now()
    )
    owned = client is None
    client = client or instance_provider(settings, session.provider)
    try:
        instance_id = session.instance_id or _adopt_by_label(settings, session, client)
        if instance_id is None:
            return store.transition(
                db, session_id, Status.TERMINATED,
                f"{reason}; the provider lists no instance with this session's label",
                terminated_at=_now(),
            )  # fmt: skip
        outcome = destroy_verified(
            client,
            instance_id,
            attempts=settings.destroy_attempts,
            backoff_s=settings.destroy_backoff_s,
            sleep=sleep,
        )
    except ProviderError as error:
        store.record(db, session_id, f"cannot look for this session's instance: {error}",
                     kind="alert")  # fmt: skip
        return store.transition(db, session_id, Status.FAILED, f"{reason}; provider unreachable")
    finally:
        if owned:
            client.close()
    if outcome.confirmed:
        return store.transition(
            db, session_id, Status.TERMINATED, f"{reason}; instance {outcome.detail}",
            terminated_at=_now(),
        )  # fmt: skip
    store.record(
        db,
        session_id,
        f"destroy of instance {instance_id} not confirmed: {outcome.detail}",
        kind="alert",
        detail={"attempts": outcome.attempts},
    )
    return store.transition(
        db, session_id, Status.FAILED, f"{reason}; destroy not confirmed, will retry"
    )


def _adopt_by_label(settings: Settings, session: Session, client: InstanceProvider) -> str | None:
    """A create whose answer was lost still made an instance with our label: find it.

    Raises ProviderError when the listing fails, so "could not look" never reads as
    "nothing there".
    """
    found = [i for i in client.list_instances() if i.label == session.label]
    if not found:
        return None
    instance_id = found[0].instance_id
    extra = [i.instance_id for i in found[1:]]
    store.record(
        settings.database_path, session.session_id,
        f"adopted instance {instance_id} found by label" + (f"; also {extra}" if extra else ""),
        kind="alert" if extra else "note", instance_id=instance_id,
    )  # fmt: skip
    adopt_billing(settings.database_path, session.session_id,
                  provider_created_at=found[0].created_at,
                  provider_price=found[0].price_per_hour)  # fmt: skip
    return instance_id


def _now() -> datetime:
    return datetime.now(UTC)
