"""Vast's price arithmetic for one offer, as checked against the recorded samples.

`dph_total = dph_base + allocated_storage * storage_cost / 720`; the other price fields
follow from those two numbers the same way the real search results do.
"""

from typing import Any

DEFAULT_ALLOCATED_STORAGE_GB = 5.0
HOURS_PER_STORAGE_MONTH = 720.0
# dph_total_adj - dph_total equals 1.25 x inet_down_cost in all three samples.
ADJ_DOWNLOAD_GB_PER_HOUR = 1.25
MIB_PER_GIB = 1024.0


def price_fields(
    offer: dict[str, Any], allocated_gb: float, *, dph_base: float | None = None
) -> dict[str, Any]:
    """The price-dependent fields of `offer` for `allocated_gb` of disk.

    `dph_base` overrides the offer's own (an interruptible search prices at `min_bid`).
    A record with no usable base price keeps null prices: bad records stay bad.
    """
    base = offer["dph_base"] if dph_base is None else dph_base
    storage_cost = offer["storage_cost"]
    storage_hour = allocated_gb * storage_cost / HOURS_PER_STORAGE_MONTH
    total = None if base is None else base + storage_hour
    flops = offer["total_flops"]
    vram_gib = (offer["gpu_total_ram"] or 0) / MIB_PER_GIB
    down_cost = offer["inet_down_cost"]
    return {
        "dph_base": base,
        "dph_total": total,
        "discounted_dph_total": total,
        "dph_total_adj": None if total is None else total + ADJ_DOWNLOAD_GB_PER_HOUR * down_cost,
        "storage_total_cost": storage_hour,
        "dlperf_per_dphtotal": offer["dlperf"] / total if total else None,
        "flops_per_dphtotal": flops / total if total else None,
        "vram_costperhour": base / vram_gib if base is not None and vram_gib else None,
        "search": {
            "discountTotalHour": 0,
            "discountedTotalPerHour": total,
            "diskHour": storage_hour,
            "gpuCostPerHour": base,
            "slaPremiumPerHour": 0.0,
            "totalHour": total,
        },
        "instance": {
            "discountTotalHour": 0,
            "discountedTotalPerHour": storage_hour,
            "diskHour": storage_hour,
            "gpuCostPerHour": 0,
            "slaPremiumPerHour": 0,
            "totalHour": storage_hour,
        },
    }


def repriced(
    offer: dict[str, Any], allocated_gb: float, *, interruptible: bool = False
) -> dict[str, Any]:
    """A copy of `offer` priced for `allocated_gb`; interruptible search prices at min_bid."""
    copy = dict(offer)
    # A record without a base price stays unpriced even in an interruptible search.
    base = offer["min_bid"] if interruptible and offer["dph_base"] is not None else None
    copy.update(price_fields(offer, allocated_gb, dph_base=base))
    if interruptible:
        copy["is_bid"] = True
    return copy
