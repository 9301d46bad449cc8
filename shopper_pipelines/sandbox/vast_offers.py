"""Build one raw Vast offer record, field for field like `vastai search offers --raw`.

Field names and units follow the recorded sample (see reference/providers.md §1.5).
Every value is drawn from a generator keyed by (seed, slot, generation), so one listing
keeps its machine, GPUs and place for its whole life; only the price epoch moves its price.
"""

import random
from dataclasses import dataclass
from typing import Any

from shopper_pipelines.sandbox.gpu_specs import CPU_NAMES, DRIVERS, FALLBACK_SPEC, GPU_SPECS
from shopper_pipelines.sandbox.hashing import rng, unit
from shopper_pipelines.sandbox.market_data import VastVariant
from shopper_pipelines.sandbox.vast_pricing import DEFAULT_ALLOCATED_STORAGE_GB, price_fields

# Identity ranges, shaped like the sample's (ids in the tens of millions).
OFFER_ID_BASE = 20_000_000
SEED_ID_STRIDE = 1_000_000
BUNDLE_ID_BASE = 1_200_000_000
MACHINE_ID_BASE = 10_000
MACHINE_ID_SPAN = 60_000
HOST_ID_BASE = 100_000
HOST_ID_SPAN = 9_000
GPU_ID_SPAN = 200_000
GEOLOCODE_SPAN = 2_000_000_000
IP_HOSTS = 254  # .1 to .254 inside a documentation range

# The sandbox's clock for dates inside records: tick 0 is this epoch, one tick is a minute.
SANDBOX_EPOCH_S = 1_780_000_000.0
NOMINAL_TICK_S = 60.0
DAY_S = 86_400.0

# Per-offer spread around the catalog median (rows are medians of many offers), and the
# hard band no offer leaves, relative to the variant's all-rows median.
SPREAD_LOW, SPREAD_MODE, SPREAD_HIGH = 0.65, 0.95, 1.35
REPRICE_JITTER = 0.04
PRICE_FLOOR_RATIO, PRICE_CEIL_RATIO = 0.55, 1.55
MIN_BID_RATIO = (0.5, 0.9)
SINGLE_GPU_SHARE = 0.5

STORAGE_COSTS = (0.05, 0.0666666666666667, 0.1, 0.1333333333333333, 0.2, 0.2666666666666666)
INET_COSTS = (4e-06, 0.0013020833333333333, 0.00390625, 0.0078125)
MACHINE_CORES = (16, 24, 32, 48, 64, 96, 128, 192, 256)
MACHINE_RAM_MB = (64_000, 128_803, 257_000, 515_000, 1_031_000)
OS_VERSIONS = ("22.04", "24.04", "20.04")
VERIFICATIONS = (("verified", 1, 0.85), ("unverified", 0, 0.12), ("deverified", 0, 0.03))
DOC_NETS = ("203.0.113", "198.51.100")
DATACENTER_HOSTING_SHARE = 0.6
COMMUNITY_HOSTING_SHARE = 0.15
NULL_START_DATE_SHARE = 0.05
# dlperf per GPU ~ a memory-bandwidth term plus a compute term; this fits the samples'
# A100 figures (85-128 per GPU) and keeps consumer cards below datacenter ones.
DLPERF_PER_GBS, DLPERF_PER_TFLOP = 0.055, 0.3

# Salts keep the independent draws of one slot apart.
_SALT_OFFER, _SALT_REPRICE = 70, 71


@dataclass(frozen=True)
class OfferPlan:
    """Where one offer sits in the market's schedule at the requested tick."""

    slot: int
    generation: int
    born_tick: int
    price_epoch: int
    priced_tick: int
    oddity: str | None
    variant: VastVariant
    factor: float  # market price factor at priced_tick
    slot_count: int


class _Draws:
    """Cheap draws from one seeded generator (random.choice is slow for 10,000 records)."""

    __slots__ = ("roll",)

    def __init__(self, generator: random.Random) -> None:
        self.roll = generator.random

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[int(self.roll() * len(options))]

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.roll()

    def below(self, span: int) -> int:
        return int(self.roll() * span)


def offer_id(seed: int, slot: int, generation: int, slot_count: int) -> int:
    """Ids only grow: a slot's next listing gets a new, higher id."""
    return OFFER_ID_BASE + (seed % 10) * SEED_ID_STRIDE + generation * slot_count + slot


def per_gpu_price(seed: int, plan: OfferPlan, draw: _Draws) -> tuple[float, str, str]:
    """(per-GPU $/h, geolocation, continent) for this listing at its price epoch."""
    variant = plan.variant
    geolocation, continent = draw.pick(variant.regions)
    level = variant.level_by_continent.get(continent, variant.median_per_gpu)
    spread = _triangular(draw.roll(), SPREAD_LOW, SPREAD_MODE, SPREAD_HIGH)
    epoch_roll = unit(seed, _SALT_REPRICE, plan.slot, plan.generation, plan.price_epoch)
    jitter = 1.0 + (2.0 * epoch_roll - 1.0) * REPRICE_JITTER
    price = level * spread * plan.factor * jitter
    floor = variant.median_per_gpu * PRICE_FLOOR_RATIO
    ceiling = variant.median_per_gpu * PRICE_CEIL_RATIO
    return min(max(price, floor), ceiling), geolocation, continent


def _triangular(roll: float, low: float, mode: float, high: float) -> float:
    """Inverse CDF of the triangular distribution: most offers near the mode."""
    cut = (mode - low) / (high - low)
    if roll < cut:
        return low + ((high - low) * (mode - low) * roll) ** 0.5
    return high - ((high - low) * (high - mode) * (1.0 - roll)) ** 0.5


def _num_gpus(variant: VastVariant, draw: _Draws) -> int:
    if draw.roll() < SINGLE_GPU_SHARE:
        return 1
    return draw.pick(variant.gpu_counts)


def build_vast_offer(seed: int, plan: OfferPlan) -> dict[str, Any]:
    """The raw record for one listing, priced for the default 5 GB of disk."""
    draw = _Draws(rng(seed, _SALT_OFFER, plan.slot, plan.generation))
    variant = plan.variant
    spec = GPU_SPECS.get(variant.name, FALLBACK_SPEC)
    price, geolocation, _continent = per_gpu_price(seed, plan, draw)
    num_gpus = _num_gpus(variant, draw)
    machine_gpus = num_gpus * draw.pick((1, 1, 2))
    gpu_frac = num_gpus / machine_gpus
    gpu_ram = draw.pick(variant.gpu_ram_choices)
    cores = draw.pick(MACHINE_CORES)
    driver, driver_vers, cuda = draw.pick(DRIVERS)
    ident = offer_id(seed, plan.slot, plan.generation, plan.slot_count)
    machine_id = MACHINE_ID_BASE + draw.below(MACHINE_ID_SPAN)
    first_gpu_id = draw.below(GPU_ID_SPAN)
    verification, vericode = _verification(draw.roll())
    datacenter_share = (
        DATACENTER_HOSTING_SHARE
        if spec.compute_cap >= 800 and "RTX" not in variant.name
        else COMMUNITY_HOSTING_SHARE
    )
    inet_down = round(10 ** draw.between(2.0, 3.9), 1)
    inet_cost = draw.pick(INET_COSTS)
    reliability = round(1.0 - draw.roll() ** 2 * 0.12, 7)
    total_flops = spec.tflops * num_gpus * draw.between(0.8, 1.0)
    dlperf_per_gpu = spec.mem_bw_gbs * DLPERF_PER_GBS + spec.tflops * DLPERF_PER_TFLOP
    dlperf = dlperf_per_gpu * num_gpus * draw.between(0.85, 1.1)
    born_at = SANDBOX_EPOCH_S + plan.born_tick * NOMINAL_TICK_S
    start_date = born_at - draw.between(0.0, 60.0) * DAY_S
    end_date = start_date + draw.between(14.0, 400.0) * DAY_S
    priced_at = SANDBOX_EPOCH_S + plan.priced_tick * NOMINAL_TICK_S
    net = draw.pick(DOC_NETS)
    disk_space = draw.between(50.0, 4000.0)
    offer: dict[str, Any] = {
        "id": ident,
        "ask_contract_id": ident,
        "bundle_id": BUNDLE_ID_BASE + ident,
        "machine_id": machine_id,
        "host_id": HOST_ID_BASE + machine_id % HOST_ID_SPAN,
        "avail_vol_ask_id": ident + 2,
        "avail_vol_dph": 0.0002777777777777778,
        "avail_vol_size": disk_space,
        "bundled_results": None,
        "bw_nvlink": 300.0 if "SXM" in variant.name and num_gpus > 1 else 0.0,
        "cluster_id": None,
        "compute_cap": spec.compute_cap,
        "cpu_arch": "amd64",
        "cpu_cores": cores,
        "cpu_cores_effective": cores * gpu_frac,
        "cpu_ghz": draw.between(2.0, 5.0),
        "cpu_name": draw.pick(CPU_NAMES),
        "cpu_ram": int(draw.pick(MACHINE_RAM_MB) * gpu_frac),
        "credit_discount_max": draw.pick((0.0, 0.0, 0.33)),
        "cuda_max_good": cuda,
        "direct_port_count": draw.pick((0, 32, 99, 298, 1000, 32255)),
        "discount_rate": 0.0,
        "discounted_hourly": 0.0,
        "disk_bw": draw.between(200.0, 7700.0),
        "disk_name": draw.pick(("", "Samsung SSD 990 PRO 2TB", "Lexar SSD NM710 2TB")),
        "disk_space": disk_space,
        "dlperf": dlperf,
        "driver_vers": driver_vers,
        "driver_version": driver,
        "duration": max(end_date - priced_at, DAY_S),
        "end_date": end_date,
        "expected_reliability": 0.0,
        "external": None,
        "geolocation": geolocation,
        "geolocode": draw.below(GEOLOCODE_SPAN),
        "gpu_arch": "nvidia",
        "gpu_display_active": False,
        "gpu_frac": gpu_frac,
        "gpu_ids": list(range(first_gpu_id, first_gpu_id + num_gpus)),
        "gpu_lanes": draw.pick((8, 16)),
        "gpu_max_power": spec.max_power_w,
        "gpu_max_temp": draw.pick((83.0, 87.0, 92.0, 97.0)),
        "gpu_mem_bw": spec.mem_bw_gbs * draw.between(0.8, 1.0),
        "gpu_name": variant.name,
        "gpu_ram": gpu_ram,
        "gpu_total_ram": gpu_ram * num_gpus,
        "has_avx": 1,
        "hosting_type": 1 if draw.roll() < datacenter_share else 0,
        "hostname": None,
        "inet_down": inet_down,
        "inet_down_cost": inet_cost,
        "inet_up": inet_down * draw.between(0.3, 1.0),
        "inet_up_cost": inet_cost,
        "internet_down_cost_per_tb": inet_cost * 1024,
        "internet_up_cost_per_tb": inet_cost * 1024,
        "is_bid": False,
        "is_vm_deverified": False,
        "logo": "/static/logos/vastai_small2.png",
        "min_bid": price * num_gpus * draw.between(*MIN_BID_RATIO),
        "mobo_name": None,
        "num_gpus": num_gpus,
        "nw_disk_avg_bw": None,
        "nw_disk_max_bw": None,
        "nw_disk_min_bw": None,
        "os_version": draw.pick(OS_VERSIONS),
        "pci_gen": draw.pick((3.0, 4.0, 4.0, 5.0)),
        "pcie_bw": draw.between(5.0, 50.0),
        "public_ipaddr": f"{net}.{1 + draw.below(IP_HOSTS)}",
        "reliability": reliability,
        "reliability2": reliability,
        "reliability_mult": round(reliability**8, 7),
        "rentable": True,
        "rented": False,
        "resource_type": "gpu",
        "rn": 1,
        "score": dlperf * reliability,
        "sla_broker_rate": None,
        "sla_r_claim": 0.0,
        "sla_sigma_x": None,
        "start_date": None if draw.roll() < NULL_START_DATE_SHARE else start_date,
        "static_ip": draw.roll() < 0.3,
        "storage_cost": draw.pick(STORAGE_COSTS),
        "target_reliability": 0.0,
        "time_remaining": "",
        "time_remaining_isbid": "",
        "total_flops": total_flops,
        "vericode": vericode,
        "verification": verification,
        "vms_enabled": draw.roll() < 0.2,
        "webpage": None,
        "dph_base": price * num_gpus,
    }
    offer.update(price_fields(offer, DEFAULT_ALLOCATED_STORAGE_GB))
    return offer


def _verification(roll: float) -> tuple[str, int]:
    for name, code, share in VERIFICATIONS:
        if roll < share:
            return name, code
        roll -= share
    return VERIFICATIONS[0][0], VERIFICATIONS[0][1]
