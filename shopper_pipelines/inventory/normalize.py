"""Provider records -> `Offer`s. A bad record is skipped and counted, never fatal.

Units in (see reference/providers.md): Vast `gpu_ram`/`cpu_ram` are MiB, `inet_*` Mbit/s,
`storage_cost` $/GB/month; TensorDock prices are $/h per GPU and per vCPU, GB RAM and GB
disk. Units out: GB, Mbit/s and all-in $/h for the requested disk.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from shopper_pipelines.inventory.countries import country_code
from shopper_pipelines.inventory.gpu_models import GpuModel, canonical_name, lookup, snap_vram
from shopper_pipelines.inventory.models import NormalisedBatch, Offer
from shopper_pipelines.settings import TENSORDOCK, VASTAI

MIB_PER_GB = 1024
HOURS_PER_MONTH = 720  # Vast bills storage_cost per GB per 30-day month
TENSORDOCK_MIN_DISK_GB = 100
TENSORDOCK_GPU_COUNTS = (1, 2, 4, 8)
TENSORDOCK_VCPUS_PER_GPU = 8
TENSORDOCK_RAM_GB_PER_GPU = 32
_VRAM_IN_NAME = re.compile(r"(\d+)\s*gb", re.IGNORECASE)


class SkipRecord(Exception):
    """Raised inside a normaliser with the reason a record cannot become an offer."""


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _section(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _positive_price(value: float | None, field: str) -> float:
    if value is None:
        raise SkipRecord(f"{field} missing")
    if value <= 0:
        raise SkipRecord(f"{field} not positive")
    return round(value, 6)


def _model_and_vram(name: Any, measured_gb: float | None) -> tuple[GpuModel | None, str, float]:
    if not isinstance(name, str) or not name.strip():
        raise SkipRecord("gpu name missing")
    model = lookup(name)
    if measured_gb is None or measured_gb <= 0:
        if model is None or len(model.vram_gb) != 1:
            raise SkipRecord("gpu memory missing")
        measured_gb = float(model.vram_gb[0])
    return model, model.name if model else canonical_name(name), snap_vram(model, measured_gb)


def vast_offer(record: dict[str, Any], disk_gb: float) -> Offer:
    offer_id = record.get("id")
    if isinstance(offer_id, bool) or not isinstance(offer_id, int):
        raise SkipRecord("offer id missing")
    count = record.get("num_gpus")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SkipRecord("gpu count not a positive integer")

    gpu_ram = _number(record, "gpu_ram")
    if gpu_ram is None and (total := _number(record, "gpu_total_ram")) is not None:
        gpu_ram = total / count
    _, model_name, vram = _model_and_vram(
        record.get("gpu_name"), gpu_ram / MIB_PER_GB if gpu_ram else None
    )

    storage_cost = _number(record, "storage_cost")
    storage_hourly = disk_gb * storage_cost / HOURS_PER_MONTH if storage_cost is not None else 0.0
    base = _number(record, "dph_base")
    price = base + storage_hourly if base is not None else _number(record, "dph_total")
    price = _positive_price(price, "price")
    min_bid = _number(record, "min_bid")
    interruptible = round(min_bid + storage_hourly, 6) if min_bid and min_bid > 0 else None

    geolocation = record.get("geolocation")
    country = region = None
    if isinstance(geolocation, str) and geolocation.strip():
        head, _, tail = geolocation.rpartition(",")
        country = country_code(tail.strip() if head or tail else geolocation)
        region = head.strip() or None
    reliability = _number(record, "reliability2")
    if reliability is None:
        reliability = _number(record, "reliability")
    cpu_ram = _number(record, "cpu_ram")
    verification = record.get("verification")

    return Offer(
        offer_key=f"{VASTAI}:{offer_id}",
        provider=VASTAI,
        provider_offer_id=str(offer_id),
        gpu_model=model_name,
        gpu_name_raw=record.get("gpu_name"),
        gpu_count=count,
        vram_gb=vram,
        total_vram_gb=vram * count,
        price_per_hour=price,
        interruptible_price_per_hour=interruptible,
        disk_gb=float(disk_gb),
        available=record.get("rentable") is not False and not record.get("rented"),
        country=country,
        region=region,
        location=", ".join(part for part in (region, country) if part) or None,
        reliability=reliability,
        cuda_version=_number(record, "cuda_max_good"),
        inet_down_mbps=_number(record, "inet_down"),
        inet_up_mbps=_number(record, "inet_up"),
        max_disk_gb=_number(record, "disk_space"),
        cpu_cores=_number(record, "cpu_cores_effective") or _number(record, "cpu_cores"),
        ram_gb=round(cpu_ram / MIB_PER_GB, 1) if cpu_ram is not None else None,
        verified=verification == "verified" if isinstance(verification, str) else None,
        raw=record,
    )


def tensordock_offers(record: dict[str, Any], disk_gb: float) -> list[Offer]:
    """One offer per GPU count (1, 2, 4, 8) the location can supply for this model."""
    location, gpu = record.get("location"), record.get("gpu")
    if not isinstance(location, dict) or not isinstance(gpu, dict):
        raise SkipRecord("location or gpu missing")
    location_id, v0_name = location.get("id"), gpu.get("v0Name")
    if not location_id or not isinstance(v0_name, str) or not v0_name:
        raise SkipRecord("location id or gpu v0Name missing")
    per_gpu = _positive_price(_number(gpu, "price_per_hr"), "price_per_hr")
    max_count = gpu.get("max_count")
    max_count = max_count if isinstance(max_count, int) and not isinstance(max_count, bool) else 0

    vram_match = _VRAM_IN_NAME.search(v0_name) or _VRAM_IN_NAME.search(
        str(gpu.get("displayName") or "")
    )
    _, model_name, vram = _model_and_vram(
        gpu.get("displayName") or v0_name, float(vram_match.group(1)) if vram_match else None
    )
    if lookup(v0_name) is not None:  # the v0 name is the more precise spelling
        model_name = canonical_name(v0_name)

    pricing = _section(gpu, "pricing")
    resources = _section(gpu, "resources")
    per_vcpu = _number(pricing, "per_vcpu_hr") or 0.0
    per_ram = _number(pricing, "per_gb_ram_hr") or 0.0
    per_disk = _number(pricing, "per_gb_storage_hr") or 0.0
    max_vcpus = _number(resources, "max_vcpus")
    max_ram = _number(resources, "max_ram_gb")
    max_disk = _number(resources, "max_storage_gb")
    disk = max(float(disk_gb), TENSORDOCK_MIN_DISK_GB)

    city, state = location.get("city"), location.get("stateprovince")
    country_name = location.get("country")
    place = ", ".join(str(part) for part in (city, state, country_name) if part) or None

    offers = []
    for count in (n for n in TENSORDOCK_GPU_COUNTS if n <= max(max_count, 1)):
        vcpus = TENSORDOCK_VCPUS_PER_GPU * count
        vcpus = min(vcpus, max_vcpus) if max_vcpus else vcpus
        ram = TENSORDOCK_RAM_GB_PER_GPU * count
        ram = min(ram, max_ram) if max_ram else ram
        price = count * per_gpu + vcpus * per_vcpu + ram * per_ram + disk * per_disk
        offers.append(
            Offer(
                offer_key=f"{TENSORDOCK}:{location_id}:{v0_name}:{count}x",
                provider=TENSORDOCK,
                provider_offer_id=f"{location_id}:{v0_name}:{count}",
                gpu_model=model_name,
                gpu_name_raw=v0_name,
                gpu_count=count,
                vram_gb=vram,
                total_vram_gb=vram * count,
                price_per_hour=round(price, 6),
                interruptible_price_per_hour=None,
                disk_gb=disk,
                available=max_count >= count,
                country=country_code(country_name if isinstance(country_name, str) else None),
                region=state if isinstance(state, str) and state else None,
                location=place,
                reliability=None,
                cuda_version=None,
                inet_down_mbps=None,
                inet_up_mbps=None,
                max_disk_gb=max_disk,
                cpu_cores=float(vcpus),
                ram_gb=float(ram),
                verified=None,
                raw=record,
            )
        )
    return offers


def _normalise(
    records: Iterable[Any], build: Callable[[dict[str, Any]], list[Offer]]
) -> NormalisedBatch:
    offers: list[Offer] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for record in records:
        if not isinstance(record, dict):
            skipped["not an object"] += 1
            continue
        try:
            built = build(record)
        except SkipRecord as reason:
            skipped[str(reason)] += 1
            continue
        for offer in built:
            if offer.offer_key in seen:
                skipped["duplicate offer id"] += 1
                continue
            seen.add(offer.offer_key)
            offers.append(offer)
    return NormalisedBatch(offers, dict(skipped))


def normalise(provider: str, records: Iterable[Any], *, disk_gb: float) -> NormalisedBatch:
    """Every record of one provider's fetch, normalised; failures counted by reason."""
    if provider == VASTAI:
        return _normalise(records, lambda record: [vast_offer(record, disk_gb)])
    if provider == TENSORDOCK:
        return _normalise(records, lambda record: tensordock_offers(record, disk_gb))
    raise ValueError(f"unknown provider {provider!r}")
