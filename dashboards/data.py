"""The app's data layer: cached calls into the inventory's search functions.

Pages never open DuckDB. Each function here asks `shopper_pipelines` for rows and returns
a Polars frame; results (never connections) are cached for `CACHE_TTL_S` seconds, so a
busy page costs the warehouse one short read-only connection per query and minute.
"""

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import polars as pl
import streamlit as st

from shopper_pipelines.inventory.gpu_models import known_models
from shopper_pipelines.inventory.search import (
    OfferFilters,
    data_sources,
    latest_snapshots,
    offer_facets,
    price_history,
    search_offers,
)
from shopper_pipelines.settings import Settings, load_settings

CACHE_TTL_S = 60

# Price-history windows offered on the Shop page: label -> (lookback, bucket).
WINDOWS: dict[str, tuple[timedelta | None, str]] = {
    "7d": (timedelta(days=7), "hour"),
    "30d": (timedelta(days=30), "hour"),
    "90d": (timedelta(days=90), "day"),
    "all": (None, "day"),
}
DEFAULT_WINDOW = "30d"

OFFER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "provider": pl.String(),
    "gpu_model": pl.String(),
    "gpu_count": pl.Int64(),
    "vram_gb": pl.Float64(),
    "total_vram_gb": pl.Float64(),
    "price_per_hour": pl.Float64(),
    "interruptible_price_per_hour": pl.Float64(),
    "country": pl.String(),
    "location": pl.String(),
    "reliability": pl.Float64(),
    "cuda": pl.Float64(),
}
HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "bucket": pl.Datetime(time_zone="UTC"),
    "source": pl.String(),
    "provider": pl.String(),
    "min_price": pl.Float64(),
    "median_price": pl.Float64(),
    "offer_observations": pl.Int64(),
}
SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "snapshot_id": pl.Int64(),
    "provider": pl.String(),
    "source": pl.String(),
    "status": pl.String(),
    "started_at": pl.Datetime(time_zone="UTC"),
    "offers_stored": pl.Int64(),
    "error": pl.String(),
}


@dataclass(frozen=True)
class OfferPage:
    """The first `limit` matching offers, best first, and how many match in all."""

    offers: pl.DataFrame
    total: int


def settings() -> Settings:
    """Settings from the environment, read on every run so a changed `.env` applies.

    Raises SettingsError with a readable message; `app.py` shows it.
    """
    return load_settings()


def warehouse_exists(db_path: Path) -> bool:
    """Whether an ingest has created the warehouse file yet (asking creates none)."""
    return db_path.is_file()


def _frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame([{name: row.get(name) for name in schema} for row in rows], schema=schema)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def offers(db_path: Path, filters: OfferFilters) -> OfferPage:
    """Current offers matching `filters`, in the filters' sort order."""
    result = search_offers(db_path, filters)
    return OfferPage(_frame(result.offers, OFFER_SCHEMA), result.total)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cheapest_gpu_model(db_path: Path, filters: OfferFilters) -> str | None:
    """The GPU model of the cheapest offer that matches `filters`, if any matches."""
    result = search_offers(db_path, replace(filters, sort="price", limit=1))
    return str(result.offers[0]["gpu_model"]) if result.offers else None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def gpu_choices(db_path: Path) -> list[str]:
    """Catalogue models plus any other model now on offer, sorted by name."""
    names = {model.name for model in known_models()}
    if warehouse_exists(db_path):
        names.update(offer_facets(db_path)["gpu_model"])
    return sorted(names)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def history(db_path: Path, gpu: str, window: str) -> pl.DataFrame:
    """Min and median $/GPU-hour per bucket, source and provider for `gpu`."""
    since, bucket = WINDOWS[window]
    rows = price_history(db_path, gpu, since=since, bucket="hour" if bucket == "hour" else "day")
    frame = _frame(rows, HISTORY_SCHEMA)
    return frame.with_columns(
        series=pl.when(pl.col("source") == "snapshot")
        .then(pl.col("provider"))
        .otherwise(pl.format("{} ({})", pl.col("provider"), pl.col("source")))
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def snapshots(db_path: Path) -> pl.DataFrame:
    """The latest snapshot of each provider, whatever its status."""
    return _frame(latest_snapshots(db_path), SNAPSHOT_SCHEMA)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sources(db_path: Path) -> frozenset[str]:
    """Where the current offers came from: 'sandbox', 'live' or both."""
    return frozenset(data_sources(db_path))
