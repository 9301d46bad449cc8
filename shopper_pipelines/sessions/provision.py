"""Provisioning: request (phase one), rent with failover (phase two), wait until usable.

Phase one writes the session row and its event before any provider call. Phase two
rents with a label carrying the deployment and session ids and records the instance id
at once, so a crash at any point leaves either a row to resume or a labelled instance
for the reconciler. Readiness (`readiness.py`) is a real SSH login with the deployment's
monitor key, the host key pinned on first login, then a probe of the GPU and CUDA.

Billing: phase one refuses a session whose projected cost (price x reservation hours)
would take its consumer past a refusing budget (`costs.budgets.check_provision`), before
the row is written. Billing starts when the create call returns an instance id (a price
point recorded with the instance id); the readiness loop's first read of the instance
hands the provider's reported price to `costs.price_check`, which bills at it and alerts
when it differs from the offer's.
"""

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopper_pipelines.costs.budgets import check_failover, check_provision, provision_lock
from shopper_pipelines.errors import (
    BudgetExceededError,
    CreateFailedError,
    InvalidInputError,
    OfferGoneError,
    ProviderError,
)
from shopper_pipelines.inventory.search import (
    OfferFilters,
    get_offer,
    search_offers,
    unknown_gpu_error,
)
from shopper_pipelines.providers.base import CreateRequest
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.deployment import deployment_id, instance_provider, monitor_key
from shopper_pipelines.sessions.destroy import destroy_verified, stop_session
from shopper_pipelines.sessions.models import (
    Session,
    SessionRequest,
    Status,
    label_for,
)
from shopper_pipelines.sessions.readiness import ClientFactory, Progress, wait_ready
from shopper_pipelines.sessions.runtimes import boot_setup
from shopper_pipelines.settings import Settings
from shopper_pipelines.ssh.keys import generate_key_pair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requested:
    """A new session and the private key for it, which is never stored anywhere."""

    session: Session
    private_key: str

    def __repr__(self) -> str:
        return f"Requested(session={self.session.session_id}, private_key=<hidden>)"


def pick_offer(settings: Settings, *, offer_id: str | None, gpu: str | None) -> dict[str, Any]:
    """The offer to rent: the one named, or the cheapest current offer of the GPU."""
    if bool(offer_id) == bool(gpu):
        raise InvalidInputError("give exactly one of --offer or --gpu")
    db = settings.database_path
    if offer_id:
        offer = get_offer(db, offer_id)
        if offer is None:
            raise InvalidInputError(f"--offer {offer_id!r} is not a current offer")
        return offer
    assert gpu is not None
    found = search_offers(db, OfferFilters(gpu=gpu, limit=1))
    if not found.offers:
        unknown = unknown_gpu_error(db, gpu)
        raise unknown or InvalidInputError(
            f"--gpu {gpu!r}: no current offer; run `gpu-shopper ingest` or try another GPU"
        )
    return found.offers[0]


def request_session(
    settings: Settings,
    request: SessionRequest,
    offer: dict[str, Any],
    *,
    now: datetime | None = None,
) -> Requested:
    """Phase one: a key pair and a `pending` row with its event, before any provider call."""
    now = now or datetime.now(UTC)
    if request.hours > settings.hard_max_hours and not request.allow_past_hard_max:
        raise InvalidInputError(
            f"--hours must be 1-{settings.hard_max_hours} (HARD_MAX_HOURS), got {request.hours}"
        )
    hard_max_hours = settings.hard_max_hours
    if request.allow_past_hard_max:
        hard_max_hours = max(request.hours, hard_max_hours)
    session_id = f"sess-{secrets.token_hex(6)}"
    keys = generate_key_pair(session_id)
    deployment = deployment_id(settings)
    session = Session(
        session_id=session_id,
        deployment_id=deployment,
        consumer_id=request.consumer_id,
        provider=offer["provider"],
        offer_key=offer["id"],
        provider_offer_id=offer["provider_offer_id"],
        gpu_model=offer["gpu_model"],
        gpu_count=int(offer["gpu_count"]),
        vram_gb=float(offer["vram_gb"]),
        cuda_version=offer.get("cuda"),
        price_per_hour=float(offer["price_per_hour"]),
        workload=request.workload,
        reservation_hours=request.hours,
        idle_timeout_min=request.idle_timeout_min,
        storage=request.storage,
        status=Status.PENDING,
        label=label_for(deployment, session_id),
        created_at=now,
        expires_at=now + timedelta(hours=request.hours),
        hard_max_at=now + timedelta(hours=hard_max_hours),
        public_key=keys.public_openssh,
    )
    with provision_lock(settings.database_path):  # the check holds until the row exists
        check_provision(settings.database_path, request.consumer_id, offer["price_per_hour"],
                        request.hours, now)  # fmt: skip
        store.insert_session(
            settings.database_path,
            session,
            f"requested by {request.consumer_id}: {offer['gpu_model']} x{offer['gpu_count']}"
            f" at ${offer['price_per_hour']:.3f}/h ({offer['id']})",
        )
    return Requested(session, keys.private_openssh)


def _equivalents(
    settings: Settings, session: Session, providers: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """Current offers of the same GPU model and count (on the allowed providers), cheapest
    first."""
    found = search_offers(
        settings.database_path,
        OfferFilters(gpu=session.gpu_model, min_gpus=session.gpu_count, limit=50),
    )
    return [
        o
        for o in found.offers
        if int(o["gpu_count"]) == session.gpu_count
        and (not providers or o["provider"] in providers)
    ]


def _candidates(
    settings: Settings, session: Session, providers: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    first = get_offer(settings.database_path, session.offer_key) or {
        "id": session.offer_key,
        "provider": session.provider,
        "provider_offer_id": session.provider_offer_id,
        "price_per_hour": session.price_per_hour,
        "cuda": session.cuda_version,
    }
    tried = {entry["offer_key"] for entry in session.offers_tried}
    equivalents = _equivalents(settings, session, providers)
    rest = [o for o in equivalents if o["id"] not in tried | {first["id"]}]
    return [first, *rest][: settings.max_offer_attempts]


def provision_session(
    settings: Settings,
    session_id: str,
    *,
    progress: Progress = lambda _m: None,
    client_factory: ClientFactory = instance_provider,
    sleep: Callable[[float], None] = time.sleep,
    providers: tuple[str, ...] | None = None,
) -> Session:
    """Phase two and readiness; returns the session `running`, or stopped with a reason.

    `providers` limits failover to those providers (the first offer is the one chosen)."""
    db = settings.database_path
    try:
        session = store.transition(
            db, session_id, Status.PROVISIONING, "provisioning started", expect=Status.PENDING
        )
    except store.ClaimLostError as lost:
        logger.info("%s", lost)  # another run or process is provisioning it
        return store.require_session(db, session_id)
    monitor = monitor_key(settings)
    tried: list[dict[str, Any]] = []

    for offer in _candidates(settings, session, providers):
        refused = _dearer_refused(settings, session, offer)
        if refused is not None:
            tried.append({"offer_key": offer["id"], "outcome": f"budget: {refused}"})
            continue
        client = client_factory(settings, offer["provider"])
        progress(f"renting {offer['id']} at ${float(offer['price_per_hour']):.3f}/h")
        setup = boot_setup(session.workload, offer["provider"])
        request = CreateRequest(
            provider_offer_id=str(offer["provider_offer_id"]),
            label=session.label,
            ssh_public_key=session.public_key or "",
            disk_gb=settings.offer_disk_gb,
            image=setup.image,
            onstart=setup.onstart,
            extra_public_keys=(monitor.public_openssh,),
        )
        try:
            instance_id = client.create_instance(request)
        except OfferGoneError as error:
            tried.append({"offer_key": offer["id"], "outcome": f"gone: {error}"})
            store.record(db, session_id, f"offer {offer['id']} gone; trying the next",
                         offers_tried=tried)  # fmt: skip
            continue
        except CreateFailedError as error:
            tried.append({"offer_key": offer["id"], "outcome": f"create failed: {error}"})
            leaked = _billing_start(offer) if error.instance_id else None
            store.record(db, session_id, f"create failed: {error}", kind="alert",
                         offers_tried=tried, instance_id=error.instance_id,
                         price=leaked)  # fmt: skip
            return stop_session(settings, session_id, "create failed", client=client)
        except ProviderError as error:
            tried.append({"offer_key": offer["id"], "outcome": f"error: {error}"})
            store.record(db, session_id, f"create error: {error}", offers_tried=tried)
            return stop_session(settings, session_id, f"create error: {error}", client=client)
        finally:
            client.close()
        tried.append({"offer_key": offer["id"], "outcome": "created"})
        store.record(
            db, session_id, f"instance {instance_id} created from {offer['id']}",
            instance_id=instance_id, offers_tried=tried, provider=offer["provider"],
            offer_key=offer["id"], provider_offer_id=str(offer["provider_offer_id"]),
            price_per_hour=float(offer["price_per_hour"]), cuda_version=offer.get("cuda"),
            price=_billing_start(offer),
        )  # fmt: skip
        stopped = _stopped_meanwhile(settings, session_id, instance_id, client_factory, offer)
        if stopped is not None:
            return stopped
        progress(f"instance {instance_id} created; waiting for SSH")
        return wait_ready(
            settings, session_id, monitor.private_openssh, progress, client_factory, sleep
        )

    reasons = "; ".join(f"{t['offer_key']}: {t['outcome']}" for t in tried) or "no offer left"
    return store.transition(db, session_id, Status.FAILED, f"no offer could be rented ({reasons})",
                            offers_tried=tried, terminated_at=datetime.now(UTC))  # fmt: skip


def _dearer_refused(settings: Settings, session: Session, offer: dict[str, Any]) -> str | None:
    """Why falling over to `offer` would pass a refusing budget, or None: the session is
    committed at its first offer's price, so only a dearer offer is checked."""
    increase = Decimal(str(offer["price_per_hour"])) - Decimal(str(session.price_per_hour))
    if increase <= 0:
        return None
    try:
        check_failover(settings.database_path, session.consumer_id, session.session_id,
                       increase, session.reservation_hours)  # fmt: skip
    except BudgetExceededError as error:
        return str(error)
    return None


def _billing_start(offer: dict[str, Any]) -> store.PricePoint:
    """Billing starts now, when the provider has answered with an instance id."""
    return store.PricePoint(datetime.now(UTC), float(offer["price_per_hour"]), "on_demand",
                            "offer", note=f"offer {offer['id']}")  # fmt: skip


def _stopped_meanwhile(
    settings: Settings,
    session_id: str,
    instance_id: str,
    client_factory: ClientFactory,
    offer: dict[str, Any],
) -> Session | None:
    """Done or delete can arrive while the create call is in flight: honour it."""
    session = store.require_session(settings.database_path, session_id)
    if session.status is Status.PROVISIONING:
        return None
    client = client_factory(settings, offer["provider"])
    try:
        outcome = destroy_verified(client, instance_id, attempts=settings.destroy_attempts,
                                   backoff_s=settings.destroy_backoff_s)  # fmt: skip
    finally:
        client.close()
    kind = "note" if outcome.confirmed else "alert"
    store.record(settings.database_path, session_id,
                 f"session was stopped during create; instance {instance_id} {outcome.detail}",
                 kind=kind)  # fmt: skip
    if not outcome.confirmed and session.status is Status.TERMINATED:
        # Terminated before its instance existed: the reconciler destroys the orphan.
        logger.error("session %s: late instance %s not confirmed gone", session_id, instance_id)
    return store.require_session(settings.database_path, session_id)
