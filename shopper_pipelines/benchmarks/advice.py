"""Advice for a model: ranked GPU types, and live offers ranked by estimated $/M tokens.

Both join benchmark evidence (see `analytics.compare`: measured when we have it,
published otherwise) with the current market. An offer's estimate is its own price over
the tokens/s of its GPU model for that model; a variant without evidence of its own
(an "A100 SXM4") borrows its family's ("A100", as the published data names it) and says
so. VRAM fit uses the LLM catalogue: a GPU type must hold the model on one card; an
offer must hold it across its GPUs (Ollama splits layers over cards).
"""

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import polars as pl

from shopper_pipelines.benchmarks import llm_models
from shopper_pipelines.benchmarks.analytics import (
    compare,
    dollars_per_million_tokens,
    resolve_model,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import lookup, resolve_query
from shopper_pipelines.inventory.market_stats import current_gpu_prices
from shopper_pipelines.inventory.search import MAX_LIMIT, OfferFilters, search_offers

NO_EVIDENCE = "none"


@dataclass(frozen=True)
class Evidence:
    """What backs a tokens/s figure for one GPU model and LLM model."""

    gpu_model: str
    basis: str  # 'measured' or 'published'
    n_measured: int
    n_published: int
    tokens_per_second: float | None
    tps_low: float | None
    tps_high: float | None
    price_per_hour: float | None
    vram_gb: float | None

    def label(self, borrowed_from: str | None = None) -> str:
        text = f"measured n={self.n_measured}" if self.basis == "measured" else "published"
        return f"{text} ({borrowed_from})" if borrowed_from else text


_EVIDENCE_FIELDS = tuple(item.name for item in fields(Evidence))


def evidence_by_gpu(db_path: Path, model: str) -> dict[str, Evidence]:
    """Evidence per GPU model for `model` (valid results only)."""
    frame = compare(db_path, model)
    return {
        row["gpu_model"]: Evidence(**{name: row[name] for name in _EVIDENCE_FIELDS})
        for row in frame.iter_rows(named=True)
    }


def _evidence_for(
    evidence: dict[str, Evidence], gpu_model: str
) -> tuple[Evidence | None, str | None]:
    """The GPU model's own evidence, else its family's (returned with the family name)."""
    if gpu_model in evidence:
        return evidence[gpu_model], None
    known = lookup(gpu_model)
    if known is not None and known.family != gpu_model and known.family in evidence:
        return evidence[known.family], known.family
    return None, None


def _live_price(prices: dict[str, dict[str, Any]], gpu_model: str) -> tuple[int, float | None]:
    """Offers and median $/GPU-hour over every offer model the evidence's name covers."""
    matched = [prices[name] for name in resolve_query(gpu_model) if name in prices]
    if not matched:
        return 0, None
    offers = sum(item["offers"] for item in matched)
    # A weighted median is not needed for a hint: weight each variant's median by offers.
    median = sum(item["median"] * item["offers"] for item in matched) / offers
    return offers, median


def _check_number(flag: str, value: float | None, *, positive: bool) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "zero or more"
        raise InvalidInputError(f"{flag} must be a finite number {bound}, got {value}")


def recommend(
    db_path: Path,
    model: str,
    max_price_per_hour: float | None = None,
    min_vram_gb: float | None = None,
) -> pl.DataFrame:
    """GPU types for `model`, cheapest per million tokens first, with the evidence.

    A GPU type qualifies when it has valid results for the model and one card holds the
    model (and `min_vram_gb`, if given). Its price is the live median $/GPU-hour of
    current offers when there are any, else the benchmark's own price; types above
    `max_price_per_hour` are left out.
    """
    _check_number("--max-price", max_price_per_hour, positive=True)
    _check_number("--vram", min_vram_gb, positive=False)
    resolved = resolve_model(db_path, model)
    catalogued = llm_models.lookup(resolved)
    need = max(catalogued.min_vram_gb if catalogued else 0.0, min_vram_gb or 0.0)
    evidence = evidence_by_gpu(db_path, resolved)  # loads the reference rows first
    prices = current_gpu_prices(db_path, need)
    rows = []
    for item in evidence.values():
        card = _card_vram(item)
        if card is not None and card < need:
            continue
        offers, live = _live_price(prices, item.gpu_model)
        price = live if live is not None else item.price_per_hour
        if max_price_per_hour is not None and (price is None or price > max_price_per_hour):
            continue
        cost = dollars_per_million_tokens(price, item.tokens_per_second)
        rows.append({
            "gpu_model": item.gpu_model,
            "evidence": item.label(),
            "basis": item.basis,
            "n_measured": item.n_measured,
            "n_published": item.n_published,
            "tokens_per_second": item.tokens_per_second,
            "tps_low": item.tps_low,
            "tps_high": item.tps_high,
            "vram_gb": card,
            "vram_needed_gb": need or None,
            "live_offers": offers,
            "price_per_hour": price,
            "price_basis": "live median" if live is not None else "benchmark",
            "dollars_per_m_tokens": cost,
            "reason": _reason(item, card, need, offers, price, live is not None, cost),
        })  # fmt: skip
    rows.sort(key=lambda r: (r["dollars_per_m_tokens"] is None, r["dollars_per_m_tokens"] or 0,
                             -(r["tokens_per_second"] or 0)))  # fmt: skip
    frame = pl.DataFrame(rows, schema=_RECOMMEND_SCHEMA)
    return frame.with_row_index("rank", offset=1)


_RECOMMEND_SCHEMA = {
    "gpu_model": pl.String, "evidence": pl.String, "basis": pl.String,
    "n_measured": pl.Int64, "n_published": pl.Int64, "tokens_per_second": pl.Float64,
    "tps_low": pl.Float64, "tps_high": pl.Float64, "vram_gb": pl.Float64,
    "vram_needed_gb": pl.Float64, "live_offers": pl.Int64, "price_per_hour": pl.Float64,
    "price_basis": pl.String, "dollars_per_m_tokens": pl.Float64, "reason": pl.String,
}  # fmt: skip


def _card_vram(item: Evidence) -> float | None:
    """VRAM of one card: what the runs saw, else the catalogue's standard size."""
    if item.vram_gb is not None:
        return item.vram_gb
    known = lookup(item.gpu_model)
    return float(min(known.vram_gb)) if known else None


def _reason(
    item: Evidence,
    card: float | None,
    need: float,
    offers: int,
    price: float | None,
    live: bool,
    cost: float | None,
) -> str:
    if item.basis == "measured":
        runs = f"{item.n_measured} measured run{'s' if item.n_measured != 1 else ''}"
    else:
        runs = "published figures only (not measured by us)"
    parts = [f"{runs}, {item.tokens_per_second:.0f} tok/s" if item.tokens_per_second else runs]
    if card is not None and need:
        parts.append(f"{card:g} GB holds the {need:g} GB it needs")
    if price is not None:
        where = f"live median of {offers} offers" if live else "price at benchmark time"
        parts.append(f"${price:.3f}/h ({where})")
    if cost is not None:
        parts.append(f"${cost:.2f} per M tokens")
    return "; ".join(parts)


@dataclass(frozen=True)
class OfferRanking:
    """Current offers for a model, cheapest estimated $/M tokens first."""

    model: str
    vram_needed_gb: float | None
    offers: pl.DataFrame
    matched: int  # offers passing the filters and the VRAM need
    excluded_for_vram: int  # offers passing the filters that cannot hold the model
    with_evidence: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "vram_needed_gb": self.vram_needed_gb,
            "matched": self.matched,
            "excluded_for_vram": self.excluded_for_vram,
            "with_evidence": self.with_evidence,
            "offers": self.offers.to_dicts(),
        }


_OFFER_SCHEMA = {
    "id": pl.String, "provider": pl.String, "gpu_model": pl.String, "gpu_count": pl.Int64,
    "vram_gb": pl.Float64, "total_vram_gb": pl.Float64, "price_per_hour": pl.Float64,
    "country": pl.String, "location": pl.String, "reliability": pl.Float64,
    "est_tokens_per_second": pl.Float64, "est_dollars_per_m_tokens": pl.Float64,
    "evidence": pl.String, "n_measured": pl.Int64,
}  # fmt: skip


def rank_offers_for_model(
    db_path: Path,
    model: str,
    filters: OfferFilters | None = None,
    *,
    limit: int = 50,
) -> OfferRanking:
    """Live offers ranked by offer price ÷ (tokens/s of its GPU model × 3600) × 1e6.

    Offers whose total VRAM cannot hold the model are excluded (and counted); offers
    without evidence stay, after the estimated ones, with `evidence = 'none'`. The price
    is the whole offer's (the interruptible one with `filters.interruptible`). Ranks the
    cheapest 10,000 offers that pass the filters.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"--limit must be 1-{MAX_LIMIT}, got {limit}")
    resolved = resolve_model(db_path, model)
    catalogued = llm_models.lookup(resolved)
    need = catalogued.min_vram_gb if catalogued else None
    base = filters or OfferFilters()
    fitting = replace(base, limit=MAX_LIMIT, min_total_vram=max(base.min_total_vram or 0.0,
                                                                  need or 0.0))  # fmt: skip
    evidence = evidence_by_gpu(db_path, resolved)  # loads the reference rows first
    found = search_offers(db_path, fitting)
    everything = search_offers(db_path, replace(base, limit=1)).total
    rows = []
    for offer in found.offers:
        item, family = _evidence_for(evidence, offer["gpu_model"])
        price = offer["interruptible_price_per_hour"] if base.interruptible else None
        price = price if price is not None else offer["price_per_hour"]
        tps = item.tokens_per_second if item else None
        rows.append({
            **{key: offer[key] for key in ("id", "provider", "gpu_model", "gpu_count", "vram_gb",
                                           "total_vram_gb", "country", "location",
                                           "reliability")},
            "price_per_hour": price,
            "est_tokens_per_second": tps,
            "est_dollars_per_m_tokens": dollars_per_million_tokens(price, tps),
            "evidence": item.label(family) if item else NO_EVIDENCE,
            "n_measured": item.n_measured if item else 0,
        })  # fmt: skip
    rows.sort(key=lambda r: (r["est_dollars_per_m_tokens"] is None,
                             r["est_dollars_per_m_tokens"] or 0, r["price_per_hour"]))  # fmt: skip
    frame = pl.DataFrame(rows[:limit], schema=_OFFER_SCHEMA)
    return OfferRanking(
        model=resolved,
        vram_needed_gb=need,
        offers=frame,
        matched=found.total,
        excluded_for_vram=max(everything - found.total, 0),
        with_evidence=sum(1 for row in rows if row["evidence"] != NO_EVIDENCE),
    )
