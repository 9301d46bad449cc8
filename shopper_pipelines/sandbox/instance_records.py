"""Instance records as each provider shows them, and the GPUs an offer rents.

Vast: `GET /api/v0/instances/{id}/` rows (providers.md §1.8). TensorDock: the flat
`GET /api/v2/instances/{id}` object (§2.7).
"""

import zlib
from typing import Any

from shopper_pipelines.sandbox.gpu_names import (
    driver_name_for_tensordock,
    driver_name_for_vast,
    tensordock_vram_mib,
)
from shopper_pipelines.sandbox.gpu_specs import DRIVERS, FALLBACK_SPEC, GPU_SPECS
from shopper_pipelines.sandbox.hashing import mix
from shopper_pipelines.sandbox.instances import GpuOffer, Instance

LOOPBACK = "127.0.0.1"
# Text inside Vast's Docker-style port map, not an address anything binds to.
PORT_MAP_HOST_IP = "0.0.0.0"  # noqa: S104
VAST_STATUS = {"provisioning": None, "loading": "loading", "running": "running"}
VAST_STATUS_MSG = {
    None: "",
    "loading": "Pulling image and starting the container (sandbox)",
    "running": "success, running sandbox instance",
}
# TensorDock's board power per v0 name (W); others use the Vast table's fallback.
TENSORDOCK_POWER_W = {
    "geforcertx4090-pcie-24gb": 450.0,
    "geforcertx3090-pcie-24gb": 350.0,
    "geforcertx3080-pcie-10gb": 320.0,
    "rtxa6000-pcie-48gb": 300.0,
    "a100-pcie-80gb": 300.0,
    "h100-sxm5-80gb": 700.0,
}
_SALT_DRIVER = 130


def _cuda_text(value: float) -> str:
    return f"{value:.1f}"


def vast_gpu(offer: dict[str, Any]) -> GpuOffer:
    """What renting this Vast offer gives, as the driver reports it."""
    driver = offer.get("driver_version") or DRIVERS[0][0]
    cuda = offer.get("cuda_max_good")
    if cuda is None:
        cuda = next((c for d, _, c in DRIVERS if d == driver), DRIVERS[0][2])
    spec = GPU_SPECS.get(str(offer.get("gpu_name")), FALLBACK_SPEC)
    return GpuOffer(
        model=str(offer.get("gpu_name") or ""),
        driver_name=driver_name_for_vast(offer.get("gpu_name"), offer.get("gpu_ram")),
        count=max(int(offer.get("num_gpus") or 0), 0),
        vram_mib=int(offer.get("gpu_ram") or 0),
        cuda=_cuda_text(float(cuda)),
        driver=str(driver),
        max_power_w=float(offer.get("gpu_max_power") or spec.max_power_w),
        price_per_hour=float(offer.get("dph_total") or 0.0),
    )


def tensordock_gpu(
    seed: int, v0_name: str, display_name: str | None, count: int, rate_hourly: float
) -> GpuOffer:
    """What a TensorDock create gives; the driver is drawn per (seed, model)."""
    model_key = zlib.crc32(v0_name.encode())
    driver, _vers, cuda = DRIVERS[mix(seed, _SALT_DRIVER, model_key) % len(DRIVERS)]
    return GpuOffer(
        model=v0_name,
        driver_name=driver_name_for_tensordock(v0_name, display_name),
        count=count,
        vram_mib=tensordock_vram_mib(v0_name),
        cuda=_cuda_text(cuda),
        driver=driver,
        max_power_w=TENSORDOCK_POWER_W.get(v0_name, FALLBACK_SPEC.max_power_w),
        price_per_hour=rate_hourly,
    )


def vast_record(instance: Instance) -> dict[str, Any]:
    """The Vast row for one live instance."""
    phase = instance.phase()
    status = instance.crashed if phase == "crashed" else VAST_STATUS.get(phase)
    running = phase == "running"
    offer: dict[str, Any] = instance.details.get("offer", {})
    details = instance.details
    port = instance.port
    return {
        "id": instance.id,
        "label": instance.label,
        "actual_status": status,
        "intended_status": "running",
        "cur_state": "running",
        "next_state": "running",
        "status_msg": VAST_STATUS_MSG.get(status, f"container {status}"),
        "ssh_host": LOOPBACK if running else None,
        "ssh_port": port,
        "ssh_idx": "sandbox",
        "public_ipaddr": LOOPBACK,
        "local_ipaddrs": LOOPBACK,
        "ports": {"22/tcp": [{"HostIp": PORT_MAP_HOST_IP, "HostPort": str(port)}]}
        if running
        else None,
        "direct_port_start": port if running else -1,
        "direct_port_end": port if running else -1,
        "machine_dir_ssh_port": port,
        "image_uuid": details.get("image"),
        "image_runtype": details.get("runtype"),
        "image_args": [],
        "onstart": details.get("onstart"),
        "extra_env": [[key, str(value)] for key, value in details.get("env", {}).items()],
        "template_id": details.get("template_id"),
        "template_hash_id": details.get("template_hash_id"),
        "template_name": details.get("template_name"),
        "gpu_name": offer.get("gpu_name"),
        "num_gpus": offer.get("num_gpus"),
        "gpu_ram": offer.get("gpu_ram"),
        "gpu_util": None,
        "gpu_temp": None,
        "cpu_ram": offer.get("cpu_ram"),
        "cpu_cores_effective": offer.get("cpu_cores_effective"),
        "disk_space": details.get("disk"),
        "disk_usage": 0.0,
        "cuda_max_good": offer.get("cuda_max_good"),
        "driver_version": offer.get("driver_version"),
        "dph_total": offer.get("dph_total"),
        "dph_base": offer.get("dph_base"),
        "storage_cost": offer.get("storage_cost"),
        "min_bid": offer.get("min_bid"),
        "is_bid": False,
        "start_date": instance.created_at,
        "end_date": offer.get("end_date"),
        "reliability2": offer.get("reliability2"),
        "geolocation": offer.get("geolocation"),
        "verification": offer.get("verification"),
        "host_id": offer.get("host_id"),
        "machine_id": offer.get("machine_id"),
        "bundle_id": offer.get("bundle_id"),
    }


def tensordock_record(instance: Instance) -> dict[str, Any]:
    """The flat TensorDock object for one live instance; IP and ports once booted."""
    phase = instance.phase()
    resources = instance.details.get("resources", {})
    gpus = {instance.gpu.model: {"count": instance.gpu.count, "v0Name": instance.gpu.model}}
    record: dict[str, Any] = {
        "type": "virtualmachine",
        "id": instance.id,
        "name": instance.label,
        "status": instance.crashed if phase == "crashed" else "running",
        "rateHourly": instance.gpu.price_per_hour,
        "resources": {
            "vcpu_count": resources.get("vcpu_count"),
            "ram_gb": resources.get("ram_gb"),
            "storage_gb": resources.get("storage_gb"),
            "gpus": gpus,
        },
        "location_id": instance.location_id,
        "created_at": instance.created_at,
    }
    if phase == "running":
        record["ipAddress"] = LOOPBACK
        record["portForwards"] = [{"internal_port": 22, "external_port": instance.port}]
    return record
