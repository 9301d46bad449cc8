"""The Costs page's data: cached reads of the ledger and budgets, as Polars frames.

Like `dashboards.data`, pages never open DuckDB: these functions ask
`shopper_pipelines.costs` and cache the results (never connections) for `COSTS_TTL_S`
seconds. Running sessions accrue every second, so "now" is taken inside each cached
call: figures are at most one TTL old.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from shopper_pipelines.costs.budgets import budget_status
from shopper_pipelines.costs.ledger import cost_summary, daily_costs, running_costs

COSTS_TTL_S = 15

SPEND_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "consumer": pl.String(),
    "provider": pl.String(),
    "gpu_model": pl.String(),
    "cost": pl.Float64(),
    "hours": pl.Float64(),
}
RUNNING_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "consumer": pl.String(),
    "provider": pl.String(),
    "gpu_model": pl.String(),
    "status": pl.String(),
    "hours": pl.Float64(),
    "cost": pl.Float64(),
    "price_per_hour": pl.Float64(),
    "projected_cost": pl.Float64(),
    "expires_at": pl.Datetime(time_zone="UTC"),
}
BUDGET_SCHEMA: dict[str, pl.DataType] = {
    "consumer": pl.String(),
    "spend_usd": pl.Float64(),
    "monthly_usd": pl.Float64(),
    "percent": pl.Float64(),
    "used": pl.Float64(),  # percent / 100, capped at 1, for the progress bar
    "projected_usd": pl.Float64(),
    "crossed": pl.String(),
    "state": pl.String(),
    "action": pl.String(),
}


@dataclass(frozen=True)
class Totals:
    """What the range cost in all, and what is billing right now."""

    cost: float
    sessions: int
    hours: float


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(
        [{name: _plain(row.get(name)) for name in schema} for row in rows], schema=schema
    )


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def spend(db_path: Path, start: date, end: date) -> pl.DataFrame:
    """Spend per UTC day, consumer, provider and GPU model, `start` to `end` inclusive."""
    frame = daily_costs(db_path, start, end, datetime.now(UTC))
    return (
        pl.DataFrame(schema=SPEND_SCHEMA)
        if frame.is_empty()
        else frame.cast(pl.Schema(SPEND_SCHEMA))
    )


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def totals(db_path: Path, start: date, end: date) -> Totals:
    """Cost, sessions and instance-hours over the range, by the ledger's own totals."""
    total = cost_summary(db_path, start=start, end=end, now=datetime.now(UTC))["total"]
    return Totals(float(total["cost"]), int(total["sessions"]), float(total["hours"]))


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def running(db_path: Path) -> pl.DataFrame:
    """Sessions still billing, most expensive so far first."""
    return _frame(running_costs(db_path, datetime.now(UTC)), RUNNING_SCHEMA)


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def budgets(db_path: Path) -> pl.DataFrame:
    """Each budget with this UTC month's spend, percent used and thresholds crossed."""
    rows = [
        {
            **status,
            "consumer": "everyone (global)" if status["global"] else status["consumer"],
            "used": min(status["percent"] / 100, 1.0),
            "crossed": ", ".join(f"{t}%" for t in status["crossed"]) or "none",
        }
        for status in budget_status(db_path, datetime.now(UTC))
    ]
    return _frame(rows, BUDGET_SCHEMA)


def clear() -> None:
    for cached in (spend, totals, running, budgets):
        cached.clear()
