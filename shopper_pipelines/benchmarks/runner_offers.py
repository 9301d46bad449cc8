"""Which offer a benchmark attempt rents, whether a model can fit a GPU at all, and what
one attempt came to."""

from dataclasses import dataclass
from typing import Any

from shopper_pipelines.inventory.gpu_models import lookup
from shopper_pipelines.inventory.search import OfferFilters, search_offers
from shopper_pipelines.settings import Settings

# Enough of the cheapest offers per provider to step past the ones an attempt already used.
CANDIDATES_PER_PROVIDER = 5


@dataclass(frozen=True)
class AttemptOutcome:
    status: str  # ok or failed
    error_type: str | None
    error: str | None
    retry_suggested: bool
    result_id: str | None = None
    result_path: str | None = None


def fits(gpu: str, min_vram_gb: float) -> bool:
    """Whether any variant of this GPU model has the VRAM the LLM needs."""
    model = lookup(gpu)
    return model is None or max(model.vram_gb) >= min_vram_gb


def cheapest_offer(
    settings: Settings,
    gpu: str,
    providers: tuple[str, ...],
    min_vram_gb: float,
    *,
    avoid: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """The cheapest current offer of `gpu` with `min_vram_gb` per GPU on `providers`.

    Offers in `avoid` (tried already for this combination) are passed over while another
    exists; when none does, the cheapest is tried again.
    """
    found: list[dict[str, Any]] = []
    for provider in providers:
        filters = OfferFilters(provider=provider, gpu=gpu, min_vram=min_vram_gb,
                               limit=CANDIDATES_PER_PROVIDER)  # fmt: skip
        found.extend(search_offers(settings.database_path, filters).offers)
    if not found:
        return None
    found.sort(key=lambda offer: (float(offer["price_per_hour"]), offer["id"]))
    fresh = [offer for offer in found if offer["id"] not in avoid]
    return (fresh or found)[0]
