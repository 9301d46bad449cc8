"""The app's data layer: cached reads of offers and sessions, and the session actions.

Pages never open DuckDB. Each function here asks `shopper_pipelines` for rows and returns
a Polars frame; results (never connections) are cached for `CACHE_TTL_S` seconds (offers)
or `SESSION_TTL_S` seconds (sessions), so a busy page costs the warehouse one short
read-only connection per query and TTL. Actions clear the session caches.
"""

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from shopper_pipelines.sessions import lifecycle
from shopper_pipelines.sessions.models import Session, SessionRequest, Status
from shopper_pipelines.sessions.provision import Requested, pick_offer, request_session
from shopper_pipelines.sessions.store import events, get_session, list_sessions
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


# --- Sessions ---------------------------------------------------------------------------
# Session lists change within seconds while one provisions, so they are cached briefly;
# every action below clears these caches so the next run shows its effect at once.

SESSION_TTL_S = 2
SESSION_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "consumer_id": pl.String(),
    "provider": pl.String(),
    "gpu_model": pl.String(),
    "gpu_count": pl.Int64(),
    "status": pl.String(),
    "price_per_hour": pl.Float64(),
    "created_at": pl.Datetime(time_zone="UTC"),
    "expires_at": pl.Datetime(time_zone="UTC"),
}
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "occurred_at": pl.Datetime(time_zone="UTC"),
    "kind": pl.String(),
    "change": pl.String(),
    "reason": pl.String(),
}


def _status_values(statuses: tuple[str, ...]) -> frozenset[Status] | None:
    return frozenset(Status(value) for value in statuses) or None


@st.cache_data(ttl=SESSION_TTL_S, show_spinner=False)
def sessions(
    db_path: Path, consumer_id: str | None = None, statuses: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Sessions, newest first, of one consumer and/or in some statuses (empty: all)."""
    found = list_sessions(db_path, consumer_id=consumer_id, statuses=_status_values(statuses))
    return _frame([session.public_view() for session in found], SESSION_SCHEMA)


@st.cache_data(ttl=SESSION_TTL_S, show_spinner=False)
def consumers(db_path: Path) -> list[str]:
    """Every consumer id with at least one session, sorted."""
    return sorted({session.consumer_id for session in list_sessions(db_path)})


@st.cache_data(ttl=SESSION_TTL_S, show_spinner=False)
def session_view(db_path: Path, session_id: str) -> dict[str, Any] | None:
    """One session as `Session.public_view()` shows it (no secrets), or None."""
    session = get_session(db_path, session_id)
    return session.public_view() if session else None


@st.cache_data(ttl=SESSION_TTL_S, show_spinner=False)
def session_events(db_path: Path, session_id: str) -> pl.DataFrame:
    """A session's event history, oldest first; `change` reads 'pending -> provisioning'."""
    rows = [
        {
            **event,
            "change": f"{event['from_status'] or '∅'} -> {event['to_status']}"
            if event["to_status"]
            else "",
        }
        for event in events(db_path, session_id)
    ]
    return _frame(rows, EVENT_SCHEMA)


def clear_session_caches() -> None:
    """Forget cached session reads so the next run shows an action's effect."""
    for cached in (sessions, consumers, session_view, session_events):
        cached.clear()


def request_offer(settings: Settings, request: SessionRequest, offer_id: str) -> Requested:
    """Phase one for a picked offer: a `pending` session and its private key (never stored).

    Raises InvalidInputError when the offer is no longer current.
    """
    offer = pick_offer(settings, offer_id=offer_id, gpu=None)
    requested = request_session(settings, request, offer)
    clear_session_caches()
    return requested


def finish_session(settings: Settings, session_id: str) -> Session:
    """The consumer is done: destroy the instance and confirm it is gone."""
    try:
        return lifecycle.done(settings, session_id)
    finally:
        clear_session_caches()


def delete_session(settings: Settings, session_id: str) -> Session:
    """Destroy now, whatever the session's state, and confirm it is gone."""
    try:
        return lifecycle.delete(settings, session_id)
    finally:
        clear_session_caches()


def extend_session(settings: Settings, session_id: str, hours: int) -> Session:
    """Push the reservation out; raises InvalidInputError past the hard maximum."""
    try:
        return lifecycle.extend(settings, session_id, hours)
    finally:
        clear_session_caches()
