"""Session records, their states and the transitions allowed between them.

    pending -> provisioning -> running -> stopping -> terminated
        \\            \\            \\          \\-> failed (destroy could not be confirmed)
         \\            \\-> stopping (readiness failed, expired, deleted...)
          \\-> failed (nothing was created: every offer tried was gone)

Every transition is an append-only event with a reason. `terminated` is only ever
reached through a confirmed absence of the instance at the provider.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shopper_pipelines.errors import InvalidInputError

MIN_HOURS = 1
MAX_HOURS = 12  # the default hard maximum (HARD_MAX_HOURS); an override may go past it
MAX_CONFIGURABLE_HOURS = 168  # the largest HARD_MAX_HOURS; request_session checks the setting
MAX_IDLE_TIMEOUT_MIN = 24 * 60


class Status(StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPING = "stopping"
    TERMINATED = "terminated"
    FAILED = "failed"


LIVE = frozenset({Status.PENDING, Status.PROVISIONING, Status.RUNNING, Status.STOPPING})
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PROVISIONING, Status.STOPPING, Status.FAILED}),
    Status.PROVISIONING: frozenset({Status.RUNNING, Status.STOPPING, Status.FAILED}),
    Status.RUNNING: frozenset({Status.STOPPING}),
    Status.STOPPING: frozenset({Status.TERMINATED, Status.FAILED}),
    # A failed destroy keeps being retried: a failed session can still reach terminated.
    Status.FAILED: frozenset({Status.STOPPING, Status.TERMINATED}),
    Status.TERMINATED: frozenset(),
}


class Workload(StrEnum):
    LLM = "llm"
    LLM_VLLM = "llm_vllm"
    LLM_TGI = "llm_tgi"
    TRAINING = "training"
    BATCH = "batch"
    INTERACTIVE = "interactive"


class StoragePolicy(StrEnum):
    DESTROY = "destroy"
    PRESERVE = "preserve"


# How long an instance may take to accept our SSH login, by workload: big images
# (vLLM, TGI) pull for minutes before the container is up.
READINESS_TIMEOUT_S: dict[Workload, int] = {
    Workload.LLM: 15 * 60,
    Workload.LLM_VLLM: 25 * 60,
    Workload.LLM_TGI: 25 * 60,
    Workload.TRAINING: 20 * 60,
    Workload.BATCH: 15 * 60,
    Workload.INTERACTIVE: 10 * 60,
}


@dataclass(frozen=True)
class SessionRequest:
    """What a consumer asks for; validated here, at the edge."""

    consumer_id: str
    workload: Workload = Workload.INTERACTIVE
    hours: int = 1
    idle_timeout_min: int | None = None
    storage: StoragePolicy = StoragePolicy.DESTROY
    allow_past_hard_max: bool = False
    image: str | None = None
    template_hash: str | None = None

    def __post_init__(self) -> None:
        if not self.consumer_id or not self.consumer_id.strip():
            raise InvalidInputError("--consumer must not be empty")
        if len(self.consumer_id) > 64 or not all(
            c.isalnum() or c in "-_." for c in self.consumer_id
        ):
            raise InvalidInputError(
                "--consumer takes up to 64 letters, digits, '-', '_' or '.', "
                f"got {self.consumer_id!r}"
            )
        if self.storage is StoragePolicy.PRESERVE:
            # Refused rather than silently destroyed: no provider client can stop (and
            # keep) an instance yet, and every session end destroys it.
            raise InvalidInputError(
                "--storage preserve is not supported yet: every session's instance is "
                "destroyed at the end; copy results off with `gpu-shopper transfer download`"
            )
        upper = 10_000 if self.allow_past_hard_max else MAX_CONFIGURABLE_HOURS
        if not MIN_HOURS <= self.hours <= upper:
            raise InvalidInputError(f"--hours must be {MIN_HOURS}-{MAX_HOURS}, got {self.hours}")
        if (
            self.idle_timeout_min is not None
            and not 1 <= self.idle_timeout_min <= MAX_IDLE_TIMEOUT_MIN
        ):
            raise InvalidInputError(
                f"--idle-timeout must be 1-{MAX_IDLE_TIMEOUT_MIN} minutes, "
                f"got {self.idle_timeout_min}"
            )


@dataclass
class Session:
    session_id: str
    deployment_id: str
    consumer_id: str
    provider: str
    offer_key: str
    provider_offer_id: str
    gpu_model: str
    gpu_count: int
    vram_gb: float
    cuda_version: float | None
    price_per_hour: float
    workload: Workload
    reservation_hours: int
    idle_timeout_min: int | None
    storage: StoragePolicy
    status: Status
    label: str
    created_at: datetime
    expires_at: datetime
    hard_max_at: datetime
    public_key: str | None = None
    instance_id: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    host_key: str | None = None
    ready_at: datetime | None = None
    last_active_at: datetime | None = None
    stopped_at: datetime | None = None
    terminated_at: datetime | None = None
    status_reason: str | None = None
    offers_tried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ssh_command(self) -> str | None:
        if not (self.ssh_host and self.ssh_port and self.ssh_user):
            return None
        return f"ssh -i <key> -p {self.ssh_port} {self.ssh_user}@{self.ssh_host}"

    def public_view(self) -> dict[str, Any]:
        """The session as the CLI and the app show it (no secrets exist to leak)."""
        view = {name: getattr(self, name) for name in self.__dataclass_fields__}
        view["id"] = self.session_id
        view["ssh_command"] = self.ssh_command
        return view


def label_for(deployment_id: str, session_id: str) -> str:
    """The provider-side tag of a session's instance; reconciliation relies on it."""
    return f"{LABEL_PREFIX}{deployment_id}:{session_id}"


LABEL_PREFIX = "gpu-shopper:"


def parse_label(label: str | None) -> tuple[str, str] | None:
    """(deployment id, session id) from one of our labels, else None."""
    if not label or not label.startswith(LABEL_PREFIX):
        return None
    parts = label[len(LABEL_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
