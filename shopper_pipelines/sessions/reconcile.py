"""Reconciliation: compare every provider account with the warehouse.

An instance with this deployment's label and no live session is an orphan and is
destroyed (verified) once older than the grace period; instances of other deployments
or without our label are left alone. A live session whose instance the provider no
longer has is marked so. A listing that fails aborts the pass for that provider: it
never reads as "no instances".
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shopper_pipelines.costs.price_check import adopt_billing, note_price_change
from shopper_pipelines.errors import ProviderError
from shopper_pipelines.providers.base import Instance, InstanceProvider
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.deployment import deployment_id, instance_provider
from shopper_pipelines.sessions.destroy import destroy_verified, stop_session
from shopper_pipelines.sessions.models import LIVE, Status, parse_label
from shopper_pipelines.settings import Settings, parse_duration

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    provider: str
    listed: int = 0
    ours: int = 0
    orphans_destroyed: list[str] = field(default_factory=list)
    orphans_waiting: list[str] = field(default_factory=list)
    orphans_failed: list[str] = field(default_factory=list)
    sessions_vanished: list[str] = field(default_factory=list)
    error: str | None = None


def _age(instance: Instance, now: datetime) -> timedelta | None:
    return now - instance.created_at if instance.created_at else None


def reconcile_provider(
    settings: Settings,
    provider: str,
    *,
    client: InstanceProvider | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    now = now or datetime.now(UTC)
    report = ReconcileReport(provider)
    mine = deployment_id(settings)
    grace = timedelta(seconds=parse_duration(settings.orphan_grace))
    owned = client is None
    client = client or instance_provider(settings, provider)
    try:
        try:
            instances = client.list_instances()
        except ProviderError as error:
            report.error = f"listing failed, pass aborted: {error}"
            logger.error("reconcile %s: %s", provider, report.error)
            return report
        report.listed = len(instances)
        sessions = {
            s.session_id: s
            for s in store.list_sessions(settings.database_path, deployment_id=mine)
            if s.provider == provider
        }
        seen_ids = set()
        for instance in instances:
            parsed = parse_label(instance.label)
            if parsed is None or parsed[0] != mine:
                continue  # not ours: another deployment's, or not made by GPU Shopper
            report.ours += 1
            seen_ids.add(instance.instance_id)
            session = sessions.get(parsed[1])
            live = session is not None and session.status in LIVE
            if live and session is not None and session.instance_id is None:
                # A create whose answer was lost: tie the instance to its session.
                store.record(settings.database_path, session.session_id,
                             f"reconciler adopted instance {instance.instance_id} by label",
                             instance_id=instance.instance_id)  # fmt: skip
                adopt_billing(settings.database_path, session.session_id,
                              provider_created_at=instance.created_at,
                              provider_price=instance.price_per_hour)  # fmt: skip
                continue
            if live and session is not None and session.instance_id == instance.instance_id:
                if instance.price_per_hour is not None:  # a provider repricing bills from now
                    note_price_change(settings.database_path, session.session_id,
                                      instance.price_per_hour, now, source="provider")  # fmt: skip
                continue
            age = _age(instance, now)
            if age is not None and age < grace:
                report.orphans_waiting.append(instance.instance_id)
                continue
            outcome = destroy_verified(
                client, instance.instance_id,
                attempts=settings.destroy_attempts, backoff_s=settings.destroy_backoff_s,
            )  # fmt: skip
            target = report.orphans_destroyed if outcome.confirmed else report.orphans_failed
            target.append(instance.instance_id)
            if session is not None:
                kind = "note" if outcome.confirmed else "alert"
                message = f"orphan instance {instance.instance_id} {outcome.detail}"
                store.record(settings.database_path, session.session_id, message, kind=kind)
        for session in sessions.values():
            vanished = session.status is Status.RUNNING and session.instance_id not in seen_ids
            if vanished and session.instance_id:
                store.record(settings.database_path, session.session_id,
                             "instance no longer listed by the provider", kind="alert")  # fmt: skip
                # Verified destroy confirms the absence and ends the session properly.
                stop_session(settings, session.session_id, "instance vanished at the provider",
                             client=client)  # fmt: skip
                report.sessions_vanished.append(session.session_id)
    finally:
        if owned:
            client.close()
    return report


def reconcile(
    settings: Settings, providers: tuple[str, ...] | None = None
) -> list[ReconcileReport]:
    names = providers or tuple(e.name for e in settings.provider_endpoints())
    return [reconcile_provider(settings, name) for name in names]
