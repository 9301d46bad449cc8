"""Vast.ai instance records: create bodies, error bodies and the mapping to `Instance`.

Pure functions over the wire shapes of providers.md §1.6-1.13; `VastClient` does the I/O.
"""

import re
from datetime import UTC, datetime
from typing import Any

from shopper_pipelines.errors import BadRequestError, MalformedResponseError, ProviderAuthError
from shopper_pipelines.providers.base import CreateRequest, Instance, InstanceStatus, SshEndpoint

NAME = "vastai"
DEFAULT_IMAGE = "vastai/base-image:@vastai-automatic-tag"
# Open port 22 on the host when it can, and keep Vast's SSH proxy as the fallback.
RUNTYPE = "ssh_direct ssh_proxy"
SSH_USER = "root"
SSH_PORT_KEY = "22/tcp"
# Vast's message reads "error 404/3603: no_such_ask ..."; the slash keeps ask ids that
# merely contain the digits 3603 from matching.
OFFER_GONE_MARKERS = ("no_such_ask", "/3603")
INSTANCE_GONE_MARKERS = ("no_such_instance", "not_found")
AUTH_FAILURE_MARKERS = ("auth_error", "invalid user key")
OCI_FAILURE = "OCI runtime create failed"
_MESSAGE_LIMIT = 200
_DIGITS = re.compile(r"\d{1,20}")

_STATUS_MAP: dict[str, InstanceStatus] = {
    "created": "provisioning",
    "loading": "provisioning",
    "rebooting": "provisioning",
    "restarting": "provisioning",
    "running": "running",
    "stopped": "stopped",
    "frozen": "stopped",
    "exited": "failed",
    "offline": "failed",
    "unknown": "unknown",
}


def checked_id(value: str, what: str) -> str:
    """Vast ids (offers and instances) are integers; anything else never reaches a URL."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise BadRequestError(NAME, f"{what} must be a string of digits, got {value!r}")
    return value


def create_body(request: CreateRequest) -> dict[str, Any]:
    """The `PUT /api/v0/asks/{id}/` body; the key is attached afterwards, not sent here."""
    body: dict[str, Any] = {
        "client_id": "me",
        "disk": float(request.disk_gb),
        "label": request.label,
        "runtype": RUNTYPE,
        "cancel_unavail": True,
    }
    if request.template_hash:
        body["template_hash_id"] = request.template_hash
    if request.image or not request.template_hash:
        body["image"] = request.image or DEFAULT_IMAGE
    if request.onstart is not None:
        body["onstart"] = request.onstart
    return body


def new_contract(body: Any) -> str | None:
    """The instance id a create answer names (`new_contract` > 0), even in an error body."""
    value = body.get("new_contract") if isinstance(body, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return None


def describe(body: Any, fallback: str) -> str:
    """The error code and message of an answer, and nothing else: a JSON body may carry
    `instance_api_key`, so `fallback` (an excerpt) is used only when it is not JSON."""
    if not isinstance(body, dict):
        return fallback
    parts = [str(body[key]) for key in ("error", "msg", "message", "detail") if body.get(key)]
    return ": ".join(parts)[:_MESSAGE_LIMIT] if parts else "no error message"


def mentions(text: str, markers: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in markers)


def raise_if_auth_failure(text: str, status: int, what: str) -> None:
    """Vast has answered a bad key with 404; never let that read as "gone"."""
    if mentions(text, AUTH_FAILURE_MARKERS):
        raise ProviderAuthError(
            NAME, f"credentials rejected (HTTP {status}) on {what}", status=status
        )


def normalise_status(actual_status: Any, status_msg: Any) -> InstanceStatus:
    """Map `actual_status` (§1.12) onto the shared vocabulary."""
    if actual_status is None:
        return "provisioning"
    raw = str(actual_status).lower()
    if raw == "created" and isinstance(status_msg, str) and OCI_FAILURE in status_msg:
        return "failed"
    return _STATUS_MAP.get(raw, "unknown")


def ssh_endpoint(record: dict[str, Any]) -> SshEndpoint | None:
    """Direct (`public_ipaddr` + mapped 22/tcp) first, else Vast's proxy; never a mix."""
    ports = record.get("ports")
    mapped = ports.get(SSH_PORT_KEY) if isinstance(ports, dict) else None
    host_port = None
    if isinstance(mapped, list) and mapped and isinstance(mapped[0], dict):
        host_port = _port(mapped[0].get("HostPort"))
    public_ip = record.get("public_ipaddr")
    if host_port and isinstance(public_ip, str) and public_ip.strip():
        return SshEndpoint(public_ip.strip(), host_port, SSH_USER)
    proxy_host, proxy_port = record.get("ssh_host"), _port(record.get("ssh_port"))
    if isinstance(proxy_host, str) and proxy_host and proxy_port:
        return SshEndpoint(proxy_host, proxy_port, SSH_USER)
    return None


def to_instance(record: dict[str, Any], fallback_id: str | None = None) -> Instance:
    """One instance record (the single GET and the v1 listing share the shape)."""
    raw_id = record.get("id")
    instance_id = str(raw_id) if raw_id is not None else fallback_id
    if not instance_id:
        raise MalformedResponseError(NAME, f"instance record without an id: {sorted(record)[:8]}")
    actual = record.get("actual_status")
    label = record.get("label")
    return Instance(
        provider=NAME,
        instance_id=instance_id,
        label=label if isinstance(label, str) else None,
        status=normalise_status(actual, record.get("status_msg")),
        raw_status=str(actual) if actual is not None else None,
        ssh=ssh_endpoint(record),
        price_per_hour=_number(record.get("dph_total")),
        created_at=_epoch(record.get("start_date")),
        raw=record,
    )


def _port(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _epoch(value: Any) -> datetime | None:
    seconds = _number(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
