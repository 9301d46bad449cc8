"""Price levels, drift and stock read from `data/market/` (see its README for origins).

Loaded once per folder and cached: the sandbox starts often (every test uses it).
"""

import csv
import logging
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shopper_pipelines.sandbox.gpu_specs import NEOCLOUD_SERIES

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "market"
VAST_HISTORY_FILE = "vast_catalog_history.csv"
NEOCLOUD_FILE = "neocloud_gpu_price_history.csv"
TENSORDOCK_FILE = "tensordock_prices.csv"

# Catalog rows carry the offer's *total* VRAM; per-GPU VRAM is total / count.
# A VRAM value seen in at least this share of a variant's rows is offered (A100 40/80 GB);
# rarer ones (modded cards) only appear as deliberate oddities.
_COMMON_VRAM_SHARE = 0.25
_GPU_INFO_TOTAL_KEY = "'TotalGpuMemoryInMiB': "


@dataclass(frozen=True)
class VastVariant:
    """One Vast GPU variant with the real levels the catalog shows for it."""

    name: str  # Vast spelling, e.g. "RTX 4090"
    weight: int  # catalog rows: how often the variant shows up, used as the offer mix
    gpu_ram_choices: tuple[int, ...]  # per-GPU VRAM (MiB) values common for the variant
    median_per_gpu: float  # median of Price / AcceleratorCount over every row
    level_by_continent: dict[str, float]  # continent code -> median per-GPU price
    regions: tuple[tuple[str, str], ...]  # (geolocation, continent) as seen in the rows
    gpu_counts: tuple[int, ...]  # AcceleratorCount values seen, one entry per row


@dataclass(frozen=True)
class TensorDockGpu:
    """One TensorDock GPU model and its real per-GPU hourly price range."""

    v0_name: str
    display_name: str
    vram_gb: int
    price_low: float
    price_high: float


@dataclass(frozen=True)
class MarketData:
    """Everything the market needs from disk, already reduced to small tables."""

    variants: tuple[VastVariant, ...]
    factors: dict[str, tuple[float, ...]]  # Vast variant -> price factor per snapshot
    mean_factor: tuple[float, ...]  # market-wide price factor per snapshot
    stock: tuple[float, ...]  # stock level per snapshot, 1.0 = series mean
    tensordock_gpus: tuple[TensorDockGpu, ...]

    @property
    def snapshot_count(self) -> int:
        return len(self.mean_factor)


def _variant_of(instance_type: str) -> str:
    """'2x-RTX_4090-32-65536' -> 'RTX 4090' (Vast's spelling, spaces restored)."""
    return instance_type.split("-", 1)[1].rsplit("-", 2)[0].replace("_", " ")


def _split_region(region: str) -> tuple[str, str]:
    """'Florida, US, NA' -> ('Florida, US', 'NA'); ', US, NA' -> (', US', 'NA')."""
    place, _, continent = region.rpartition(", ")
    return place, continent


def _common_vram(seen: Counter[int]) -> tuple[int, ...]:
    total = sum(seen.values())
    common = [mib for mib, rows in seen.items() if rows >= _COMMON_VRAM_SHARE * total]
    return tuple(sorted(common)) or (seen.most_common(1)[0][0],)


def _load_vast_variants(path: Path) -> tuple[VastVariant, ...]:
    prices: dict[str, list[float]] = defaultdict(list)
    by_continent: dict[tuple[str, str], list[float]] = defaultdict(list)
    vram: dict[str, Counter[int]] = defaultdict(Counter)
    regions: dict[str, list[tuple[str, str]]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = _variant_of(row["InstanceType"])
            count = int(row["AcceleratorCount"])
            per_gpu = float(row["Price"]) / count
            place, continent = _split_region(row["Region"])
            prices[name].append(per_gpu)
            by_continent[(name, continent)].append(per_gpu)
            total_vram = int(row["GpuInfo"].rsplit(_GPU_INFO_TOTAL_KEY, 1)[1].rstrip("}"))
            vram[name][total_vram // count] += 1
            regions[name].append((place, continent))
            counts[name].append(count)
    variants = []
    for name in sorted(prices):
        levels = {
            continent: statistics.median(values)
            for (variant, continent), values in by_continent.items()
            if variant == name
        }
        variants.append(
            VastVariant(
                name=name,
                weight=len(prices[name]),
                gpu_ram_choices=_common_vram(vram[name]),
                median_per_gpu=statistics.median(prices[name]),
                level_by_continent=levels,
                regions=tuple(sorted(set(regions[name]))),
                gpu_counts=tuple(counts[name]),
            )
        )
    return tuple(variants)


def _load_neocloud(path: Path) -> tuple[dict[tuple[str, str], list[float]], list[float]]:
    """Per-series median price per snapshot, and mean stock ratio per snapshot."""
    medians: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    stock: dict[str, list[float]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["scope"] != "all":
                continue
            snapshot = row["snapshot_at"]
            medians[(row["gpu_type"], row["socket_type"])][snapshot] = float(row["median_price"])
            offers = int(row["offer_count"] or 0)
            if offers > 0:
                stock[snapshot].append(int(row["available_count"] or 0) / offers)
    snapshots = sorted(stock)
    series: dict[tuple[str, str], list[float]] = {}
    for key, by_snapshot in medians.items():
        mean = statistics.fmean(by_snapshot.values())
        # A type missing at a snapshot (GH200 starts late) keeps its last known factor.
        last = 1.0
        factors = []
        for snapshot in snapshots:
            if snapshot in by_snapshot:
                last = by_snapshot[snapshot] / mean
            factors.append(last)
        series[key] = factors
    ratios = [statistics.fmean(stock[snapshot]) for snapshot in snapshots]
    ratio_mean = statistics.fmean(ratios)
    return series, [ratio / ratio_mean for ratio in ratios]


def _load_tensordock(path: Path) -> tuple[TensorDockGpu, ...]:
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple(
            TensorDockGpu(
                v0_name=row["v0_name"],
                display_name=row["display_name"],
                vram_gb=int(row["vram_gb"]),
                price_low=float(row["price_low"]),
                price_high=float(row["price_high"]),
            )
            for row in csv.DictReader(handle)
        )


@lru_cache(maxsize=4)
def load_market_data(data_dir: Path = DEFAULT_DATA_DIR) -> MarketData:
    """Read and reduce the market files in `data_dir` (cached per folder)."""
    variants = _load_vast_variants(data_dir / VAST_HISTORY_FILE)
    series, stock = _load_neocloud(data_dir / NEOCLOUD_FILE)
    snapshot_count = len(stock)
    mean_factor = tuple(
        statistics.fmean(values[index] for values in series.values())
        for index in range(snapshot_count)
    )
    factors = {
        variant: tuple(series[key]) for variant, key in NEOCLOUD_SERIES.items() if key in series
    }
    logger.info(
        "sandbox market data: %d Vast variants, %d drift snapshots, from %s",
        len(variants),
        snapshot_count,
        data_dir,
    )
    return MarketData(
        variants=variants,
        factors=factors,
        mean_factor=mean_factor,
        stock=tuple(stock),
        tensordock_gpus=_load_tensordock(data_dir / TENSORDOCK_FILE),
    )
