"""Readiness: wait until a rented instance accepts a real SSH login and shows the GPU.

The login uses the deployment's monitor key; the host key is pinned on first login; a
probe checks that the GPU model, count and CUDA version match the offer. The first read
of the instance also hands the provider's reported price to billing.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shopper_pipelines.costs.price_check import check_provider_price
from shopper_pipelines.errors import ProviderError
from shopper_pipelines.inventory.gpu_models import canonical_name
from shopper_pipelines.providers.base import InstanceProvider
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.destroy import stop_session
from shopper_pipelines.sessions.models import READINESS_TIMEOUT_S, Session, Status
from shopper_pipelines.settings import Settings, parse_duration
from shopper_pipelines.ssh.client import GpuProbe, SshError, SshTarget, probe_gpu

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
ClientFactory = Callable[[Settings, str], InstanceProvider]
CUDA_TOLERANCE = 1e-6


def readiness_timeout_s(settings: Settings, session: Session) -> int:
    if settings.readiness_timeout:
        return parse_duration(settings.readiness_timeout)
    return READINESS_TIMEOUT_S[session.workload]


def _probe_problem(session: Session, probe: GpuProbe) -> str | None:
    models = {canonical_name(name) for name in probe.names}
    if len(probe.names) < session.gpu_count:
        return f"expected {session.gpu_count} GPUs, nvidia-smi shows {len(probe.names)}"
    if models != {session.gpu_model}:
        return f"expected {session.gpu_model}, nvidia-smi shows {', '.join(sorted(models))}"
    if session.cuda_version and (probe.cuda_version or 0) + CUDA_TOLERANCE < session.cuda_version:
        return f"offer promised CUDA {session.cuda_version}, driver supports {probe.cuda_version}"
    return None


def wait_ready(
    settings: Settings,
    session_id: str,
    monitor_private: str,
    progress: Progress,
    client_factory: ClientFactory,
    sleep: Callable[[float], None],
) -> Session:
    db = settings.database_path
    session = store.require_session(db, session_id)
    assert session.instance_id is not None
    deadline = time.monotonic() + readiness_timeout_s(settings, session)
    last = "no answer yet"
    price_checked = False
    while time.monotonic() < deadline:
        client = client_factory(settings, session.provider)
        try:
            instance = client.get_instance(session.instance_id)
        except ProviderError as error:
            instance, last = None, f"status check failed: {error}"
        else:
            if instance is None:
                store.record(db, session_id, "instance vanished while provisioning", kind="alert")
                return stop_session(settings, session_id, "instance vanished", client=client)
            if not price_checked:  # the first read of the instance: no extra round trip
                check_provider_price(db, session_id, instance.price_per_hour)
                price_checked = True
            if instance.status == "failed":
                return stop_session(
                    settings, session_id, f"instance failed ({instance.raw_status})", client=client
                )
        finally:
            client.close()
        if instance is not None and instance.status == "running" and instance.ssh is not None:
            target = SshTarget(instance.ssh.host, instance.ssh.port, instance.ssh.user,
                               monitor_private, session.host_key)  # fmt: skip
            try:
                probe, host_key = probe_gpu(target)
            except SshError as error:
                last = f"SSH not ready: {error}"
            else:
                problem = _probe_problem(session, probe)
                if problem:
                    store.record(db, session_id, f"probe mismatch: {problem}", kind="alert",
                                 host_key=host_key)  # fmt: skip
                    return stop_session(settings, session_id, f"probe mismatch: {problem}")
                now = datetime.now(UTC)
                progress(
                    f"ready: ssh -p {instance.ssh.port} {instance.ssh.user}@{instance.ssh.host}"
                )
                return store.transition(
                    db, session_id, Status.RUNNING,
                    f"SSH login verified; {probe.names[0]} x{len(probe.names)}, "
                    f"CUDA {probe.cuda_version}",
                    ssh_host=instance.ssh.host, ssh_port=instance.ssh.port,
                    ssh_user=instance.ssh.user, host_key=host_key, ready_at=now,
                    last_active_at=now,
                )  # fmt: skip
        elif instance is not None:
            last = f"instance {instance.raw_status or instance.status}"
        progress(last)
        sleep(settings.ssh_poll_interval_s)
    return stop_session(
        settings, session_id,
        f"not ready within {readiness_timeout_s(settings, session)}s ({last})",
    )  # fmt: skip
