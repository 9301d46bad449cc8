"""The sandbox's deterministic GPU market: Vast offers and TensorDock locations per tick.

Given (seed, tick) every answer is identical. Prices come from real data (`data/market/`):
Vast per-GPU levels from the SkyPilot catalog history, spread per offer around those
medians; drift and stock from the neocloud tracker's dense series, where tick `t` reads
snapshot `t mod N`.

How the market moves. Each Vast offer lives in a *slot*. A slot keeps one listing (same
id, machine and GPUs) for a lifetime of 20-60 ticks, then relists under a new, higher id,
so about 2-3 % of ids churn per tick. Within a life, the price is redrawn every 25-90
ticks (about 2 % per tick) using the market factor of that moment. The stock level hides
a few percent of slots when supply is low and shows them again when it recovers.

Odd-but-real records, present every tick (one slot of each kind in every 100):
* `null_geolocation`: `geolocation: null`, as hosts that never set a location appear.
* `null_cuda_max_good`: no CUDA version reported, as on hosts whose driver probe failed.
* `null_reliability2`: a new machine without a reliability history yet.
* `null_inet_up`: a speed test that never finished; only the upload figure is missing.
* `geforce_spelling`: "GeForce RTX 4090", the marketing name some listings carry.
* `underscore_spelling`: "RTX_4090", the CLI's underscore form leaking into data.
* `nvidia_smi_spelling`: "NVIDIA A100-SXM4-80GB", the raw `nvidia-smi` name, 80 GB.
* `tesla_prefix`: "Tesla V100", Vast's own name, which keeps the retired Tesla brand.
* `modded_4090_hk`: an RTX 4090 with 48 GB (`gpu_ram` 49140) in Hong Kong, as the
  catalog shows for modded cards sold there.
* `eight_gpus`: an 8x H100 SXM node (multi-GPU offers of 2, 4, 8... also occur anyway).
Also from the catalog itself: `", US"`-style places with an empty region part.

Truly bad records a normaliser must skip (one of each in every 1000 slots):
`zero_gpus` (`num_gpus: 0`, a half-deleted listing), `null_dph_total` (no price at all),
`negative_dph_total` (a sign error in a host's price), `null_gpu_name` (GPU not detected).
"""

import bisect
import itertools
import logging
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from shopper_pipelines.sandbox.hashing import mix, unit
from shopper_pipelines.sandbox.market_data import DEFAULT_DATA_DIR, MarketData, load_market_data
from shopper_pipelines.sandbox.oddities import FORCED_VARIANT, apply_oddity, oddity_for_slot
from shopper_pipelines.sandbox.tensordock_offers import build_hostnodes, build_locations
from shopper_pipelines.sandbox.vast_offers import OfferPlan, build_vast_offer

logger = logging.getLogger(__name__)

DEFAULT_VAST_OFFER_COUNT = 3000
LIFE_TICKS = (20, 60)
REPRICE_TICKS = (25, 90)
# Share of slots listed at average stock, and how far the stock level moves it.
LISTED_BASE = 0.93
LISTED_STOCK_SWING = 0.05
LISTED_RANGE = (0.85, 1.0)
TICKS_CACHED = 8

_SALT_LIFE, _SALT_PRICE, _SALT_LISTED, _SALT_VARIANT = range(50, 54)


class Market:
    """A seeded market; `vast_offers`, `tensordock_locations`, `tensordock_hostnodes`.

    Returned records are shared with the market's cache: treat them as read-only.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        vast_offer_count: int = DEFAULT_VAST_OFFER_COUNT,
        data_dir: Path = DEFAULT_DATA_DIR,
    ) -> None:
        if vast_offer_count < 1:
            raise ValueError(f"vast_offer_count must be at least 1, got {vast_offer_count}")
        self.seed = seed
        self.vast_offer_count = vast_offer_count
        self.data: MarketData = load_market_data(data_dir)
        self._slot_count = math.ceil(vast_offer_count / LISTED_BASE)
        self._variants = {variant.name: variant for variant in self.data.variants}
        self._cumulative = list(itertools.accumulate(v.weight for v in self.data.variants))
        self._slots = [self._slot_constants(slot) for slot in range(self._slot_count)]
        self._lock = threading.Lock()
        self._records: dict[tuple[int, int, int], dict[str, Any]] = {}
        self._vast_ticks: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._tensordock_ticks: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()

    def _slot_constants(self, slot: int) -> tuple[int, int, int, int, float, str | None]:
        """(life, life phase, reprice period, reprice phase, listing roll, oddity)."""
        life = LIFE_TICKS[0] + mix(self.seed, _SALT_LIFE, slot) % (
            LIFE_TICKS[1] - LIFE_TICKS[0] + 1
        )
        span = REPRICE_TICKS[1] - REPRICE_TICKS[0] + 1
        period = REPRICE_TICKS[0] + mix(self.seed, _SALT_PRICE, slot) % span
        oddity = oddity_for_slot(slot)
        # Odd and bad slots are always listed, so every tick shows each kind.
        roll = 0.0 if oddity else unit(self.seed, _SALT_LISTED, slot)
        life_phase = mix(self.seed, _SALT_LIFE, slot, 1) % life
        price_phase = mix(self.seed, _SALT_PRICE, slot, 1) % period
        return life, life_phase, period, price_phase, roll, oddity

    def factor(self, variant_name: str, tick: int) -> float:
        """Price factor (1.0 = series mean) of a Vast variant at `tick`."""
        series = self.data.factors.get(variant_name, self.data.mean_factor)
        return series[tick % self.data.snapshot_count]

    def listed_share(self, tick: int) -> float:
        """Share of slots listed at `tick`, following the real stock level."""
        stock = self.data.stock[tick % self.data.snapshot_count]
        share = LISTED_BASE + LISTED_STOCK_SWING * (stock - 1.0)
        return min(max(share, LISTED_RANGE[0]), LISTED_RANGE[1])

    def vast_offers(self, tick: int) -> list[dict[str, Any]]:
        """Raw Vast offer records listed at `tick`, ordered by id."""
        _check_tick(tick)
        with self._lock:
            cached = self._vast_ticks.get(tick)
            if cached is None:
                cached = self._build_vast(tick)
                _remember(self._vast_ticks, tick, cached)
            return list(cached)

    def _build_vast(self, tick: int) -> list[dict[str, Any]]:
        share = self.listed_share(tick)
        records: dict[tuple[int, int, int], dict[str, Any]] = {}
        for slot, (life, life_phase, period, price_phase, roll, oddity) in enumerate(self._slots):
            if roll >= share:
                continue
            generation = (tick + life_phase) // life
            epoch = (tick + price_phase) // period
            key = (slot, generation, epoch)
            record = self._records.get(key)
            if record is None:
                born = generation * life - life_phase
                priced = max(born, epoch * period - price_phase)
                record = self._build_record(slot, generation, born, epoch, priced, oddity)
            records[key] = record
        self._records = records
        offers = sorted(records.values(), key=lambda offer: offer["id"])
        logger.debug("sandbox vast tick %d: %d offers", tick, len(offers))
        return offers

    def _build_record(
        self, slot: int, generation: int, born: int, epoch: int, priced: int, oddity: str | None
    ) -> dict[str, Any]:
        variant = self._variants.get(FORCED_VARIANT.get(oddity or "", ""))
        if variant is None:
            roll = unit(self.seed, _SALT_VARIANT, slot, generation) * self._cumulative[-1]
            variant = self.data.variants[bisect.bisect_right(self._cumulative, roll)]
        plan = OfferPlan(
            slot=slot,
            generation=generation,
            born_tick=born,
            price_epoch=epoch,
            priced_tick=priced,
            oddity=oddity,
            variant=variant,
            factor=self.factor(variant.name, priced),
            slot_count=self._slot_count,
        )
        record = build_vast_offer(self.seed, plan)
        return apply_oddity(record, oddity) if oddity else record

    def tensordock_hostnodes(self, tick: int) -> list[dict[str, Any]]:
        """TensorDock v2 `/hostnodes` items at `tick`."""
        _check_tick(tick)
        with self._lock:
            cached = self._tensordock_ticks.get(tick)
            if cached is None:
                cached = build_hostnodes(self.seed, self.data, tick)
                _remember(self._tensordock_ticks, tick, cached)
            return list(cached)

    def tensordock_locations(self, tick: int) -> list[dict[str, Any]]:
        """TensorDock v2 `/locations` items at `tick` (a summary of the hostnodes)."""
        return build_locations(self.data, self.tensordock_hostnodes(tick))


def _check_tick(tick: int) -> None:
    if tick < 0:
        raise ValueError(f"tick must be 0 or more, got {tick}")


def _remember(cache: OrderedDict[int, list[dict[str, Any]]], tick: int, value: list) -> None:
    cache[tick] = value
    if len(cache) > TICKS_CACHED:
        cache.popitem(last=False)
