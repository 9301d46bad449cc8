"""The one offer schema every provider is normalised into."""

from dataclasses import dataclass
from typing import Any, NamedTuple


class Offer(NamedTuple):
    """One rentable configuration at one price, whatever the marketplace.

    Prices are all-in USD per hour for the whole offer (every GPU, the CPU/RAM slice and
    `disk_gb` of disk); VRAM is GB per GPU, snapped to the model's real size. A named
    tuple rather than a dataclass: a snapshot of 10,000 offers transposes into columns
    with one `zip`, which keeps the ingest within a few times the JSON parse.
    """

    offer_key: str
    provider: str
    provider_offer_id: str
    gpu_model: str
    gpu_name_raw: str | None
    gpu_count: int
    vram_gb: float
    total_vram_gb: float
    price_per_hour: float
    interruptible_price_per_hour: float | None
    disk_gb: float
    available: bool
    country: str | None
    region: str | None
    location: str | None
    reliability: float | None
    cuda_version: float | None
    inet_down_mbps: float | None
    inet_up_mbps: float | None
    max_disk_gb: float | None
    cpu_cores: float | None
    ram_gb: float | None
    verified: bool | None
    raw: dict[str, Any]


OFFER_COLUMNS: tuple[str, ...] = Offer._fields


@dataclass
class NormalisedBatch:
    """The offers that passed, and a count per reason for the records that did not."""

    offers: list[Offer]
    skipped: dict[str, int]

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())
