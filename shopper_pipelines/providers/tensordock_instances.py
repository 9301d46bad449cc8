"""TensorDock v2 instance records: create bodies, error bodies and the mapping to `Instance`.

Pure functions over the wire shapes of providers.md §2.6-2.11; `TensorDockClient` does
the I/O. The v2 API wraps some answers in `data` (and sometimes `data.attributes`) and
not others, so every reader here accepts each shape that has been seen.
"""

import re
import shlex
from datetime import UTC, datetime
from typing import Any

from shopper_pipelines.errors import BadRequestError, MalformedResponseError
from shopper_pipelines.providers.base import CreateRequest, Instance, InstanceStatus, SshEndpoint

NAME = "tensordock"
DEFAULT_IMAGE = "ubuntu2204"  # ubuntu2404 images have lacked working NVIDIA drivers
VCPUS_PER_GPU = 8
RAM_GB_PER_GPU = 32
MIN_STORAGE_GB = 100
SSH_PORT = 22
SSH_USER = "user"  # Ubuntu images; root works only through the cloud-init key below
KEY_HOMES = ("/root", "/home/user")
OFFER_GONE_MARKERS = (
    "no available nodes found",
    "no available public ips on hostnode",
    "hostnode unavailable",
)
INSTANCE_GONE_MARKERS = ("instance not found", "already deleted", "already terminated")
_MESSAGE_LIMIT = 200
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_OFFER_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Normalised spelling (lower case, no "_", "-" or spaces) -> shared vocabulary. "deleted"
# is absent on purpose: readers treat it as gone. "deleting" reads as stopped: unusable,
# still present, so a verified destroy keeps polling until the 404.
_STATUS_MAP: dict[str, InstanceStatus] = {
    "running": "running",
    "starting": "provisioning",
    "creating": "provisioning",
    "queued": "provisioning",
    "provisioning": "provisioning",
    "pending": "provisioning",
    "rebooting": "provisioning",
    "restarting": "provisioning",
    "stopping": "stopped",
    "stopped": "stopped",
    "stoppeddisassociated": "stopped",
    "deleting": "stopped",
    "error": "failed",
    "failed": "failed",
}
DELETED = "deleted"


def parse_offer_id(value: str) -> tuple[str, str, int]:
    """`"{location_id}:{v0Name}:{gpu_count}"` as inventory writes it."""
    parts = value.split(":") if isinstance(value, str) else []
    count = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 0
    if count < 1 or not all(_OFFER_PART.fullmatch(part) for part in parts[:2]):
        raise BadRequestError(
            NAME, f"provider_offer_id must be 'location_id:gpu_name:gpu_count', got {value!r}"
        )
    return parts[0], parts[1], count


def checked_id(value: str) -> str:
    """Instance ids are UUIDs; anything else never reaches a URL."""
    if not isinstance(value, str) or not _INSTANCE_ID.fullmatch(value):
        raise BadRequestError(NAME, f"instance_id must be a UUID-like string, got {value!r}")
    return value


def key_commands(public_key: str) -> list[str]:
    """cloud-init `runcmd` lines that authorise the key for root and for `user`.

    The API's own `ssh_key` has been seen not to install the key, so it goes in both ways.
    """
    key = public_key.strip()
    if not key or "\n" in key or "\r" in key:
        raise BadRequestError(NAME, "ssh_public_key must be one non-empty line")
    commands: list[str] = []
    for home in KEY_HOMES:
        folder = f"{home}/.ssh"
        commands += [
            f"mkdir -p {folder} && chmod 700 {folder}",
            f"echo {shlex.quote(key)} >> {folder}/authorized_keys",
            f"chmod 600 {folder}/authorized_keys",
        ]
    commands.append("chown -R user:user /home/user/.ssh || true")
    return commands


def create_body(request: CreateRequest, external_port: int) -> dict[str, Any]:
    """The `POST /instances` envelope for one location-based deployment."""
    location_id, gpu_name, count = parse_offer_id(request.provider_offer_id)
    runcmd = key_commands(request.ssh_public_key)
    for extra in request.extra_public_keys:
        runcmd += [line for line in key_commands(extra) if line not in runcmd]
    if request.onstart:
        runcmd.append(request.onstart)
    attributes = {
        "name": request.label,
        "type": "virtualmachine",
        "image": request.image or DEFAULT_IMAGE,
        "location_id": location_id,
        "resources": {
            "vcpu_count": VCPUS_PER_GPU * count,
            "ram_gb": RAM_GB_PER_GPU * count,
            "storage_gb": max(request.disk_gb, MIN_STORAGE_GB),
            "gpus": {gpu_name: {"count": count}},
        },
        "port_forwards": [
            {"protocol": "tcp", "internal_port": SSH_PORT, "external_port": external_port}
        ],
        "ssh_key": request.ssh_public_key.strip(),
        "cloud_init": {"runcmd": runcmd},
    }
    return {"data": {"type": "virtualmachine", "attributes": attributes}}


def error_in(body: Any) -> str | None:
    """The error a body carries, whatever the HTTP status said (TensorDock answers 200
    with `{"error": ..., "status": 400}`); None for a body that is not an error."""
    if isinstance(body, list):
        messages = validation_messages(body)
        return "; ".join(messages) if messages else None
    if not isinstance(body, dict) or "id" in body or "data" in body:
        return None  # a record (which may carry fields of its own named error/status)
    status = body.get("status")
    failed_status = isinstance(status, int) and not isinstance(status, bool) and status >= 400
    if body.get("error") or failed_status:
        text = body.get("error") or body.get("message") or f"status {status}"
        return str(text)[:_MESSAGE_LIMIT]
    return None


def validation_messages(body: Any) -> list[str]:
    """Messages of a validation answer: a JSON array of `{code, message, path}`."""
    if not isinstance(body, list):
        return []
    messages = []
    for item in body:
        if isinstance(item, dict) and item.get("message"):
            path = item.get("path")
            where = ".".join(map(str, path)) if isinstance(path, list) else path
            messages.append(f"{where}: {item['message']}" if where else str(item["message"]))
    return messages


def body_status(body: Any) -> int | None:
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def mentions(text: str, markers: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in markers)


def created_id(body: Any) -> str | None:
    """The new instance's id from `{"data": {"id"}}` or an unwrapped `{"id"}`."""
    record = body.get("data") if isinstance(body, dict) else None
    record = record if isinstance(record, dict) else body
    value = record.get("id") if isinstance(record, dict) else None
    return value if isinstance(value, str) and _INSTANCE_ID.fullmatch(value) else None


def unwrap(item: Any) -> dict[str, Any]:
    """A flat record from `{...}`, `{"data": {...}}` or `{type, id, attributes: {...}}`."""
    if isinstance(item, dict) and isinstance(item.get("data"), dict):
        item = item["data"]
    if not isinstance(item, dict):
        raise MalformedResponseError(NAME, f"instance record is a {type(item).__name__}")
    attributes = item.get("attributes")
    if isinstance(attributes, dict):
        outer = {key: value for key, value in item.items() if key != "attributes"}
        return {**attributes, **outer}
    return item


def listing_items(body: Any) -> list[dict[str, Any]]:
    """The rows of `GET /instances` in any of its three observed shapes."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        attributes = data.get("attributes")
        data = (attributes if isinstance(attributes, dict) else data).get("instances")
    if not isinstance(data, list):
        raise MalformedResponseError(NAME, "instance listing has no data list in any known shape")
    return [unwrap(item) for item in data]


def squash(status: Any) -> str | None:
    """`StoppedDisassociated`, `stopped_disassociated` and `Stopped-Disassociated` alike."""
    if not isinstance(status, str):
        return None
    return re.sub(r"[\s_-]", "", status).lower()


def normalise_status(status: Any) -> InstanceStatus:
    squashed = squash(status)
    return _STATUS_MAP.get(squashed, "unknown") if squashed else "unknown"


def is_deleted(record: dict[str, Any]) -> bool:
    return squash(record.get("status")) == DELETED


def ssh_endpoint(record: dict[str, Any]) -> SshEndpoint | None:
    """Host `ipAddress`; port the forward of internal 22, else 22 (dedicated IP)."""
    host = record.get("ipAddress") or record.get("ip_address")
    if not isinstance(host, str) or not host.strip():
        return None
    forwards = record.get("portForwards") or record.get("port_forwards") or []
    port = SSH_PORT
    for forward in forwards if isinstance(forwards, list) else []:
        if isinstance(forward, dict) and _int(forward.get("internal_port")) == SSH_PORT:
            port = _int(forward.get("external_port")) or SSH_PORT
            break
    return SshEndpoint(host.strip(), port, SSH_USER)


def to_instance(record: dict[str, Any], fallback_id: str | None = None) -> Instance:
    raw_id = record.get("id")
    instance_id = str(raw_id) if raw_id else fallback_id
    if not instance_id:
        raise MalformedResponseError(NAME, f"instance record without an id: {sorted(record)[:8]}")
    status, name = record.get("status"), record.get("name")
    price = record.get("rateHourly", record.get("price_per_hour"))
    return Instance(
        provider=NAME,
        instance_id=instance_id,
        label=name if isinstance(name, str) else None,
        status=normalise_status(status),
        raw_status=status if isinstance(status, str) else None,
        ssh=ssh_endpoint(record),
        price_per_hour=_price(price),
        created_at=_timestamp(record.get("created_at") or record.get("createdAt")),
        raw=record,
    )


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 65536 else None


def _timestamp(value: Any) -> datetime | None:
    """ISO 8601 text or epoch seconds, as UTC; None when absent or unreadable."""
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None
