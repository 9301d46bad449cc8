"""Market aggregates over current offers and price points, for advice and reports.

Search (`search.py`) answers "which offers"; these answer "how much, across the market":
live $/GPU-hour per model, the most-offered models, and daily medians over a window.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from shopper_pipelines.warehouse import connect

PRICE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "gpu_model": pl.String(),
    "median_price": pl.Float64(),
    "min_price": pl.Float64(),
    "offers": pl.Int64(),
}


def current_gpu_prices(db_path: Path, min_vram_gb: float = 0.0) -> dict[str, dict[str, Any]]:
    """Live $/GPU-hour per GPU model over available offers with enough VRAM per GPU.

    {gpu_model: {"offers": n, "median": $, "min": $}} with price ÷ GPU count.
    """
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT gpu_model, count(*), median(price_per_hour / gpu_count)::DOUBLE,"
            " min(price_per_hour / gpu_count)::DOUBLE FROM offers_current"
            " WHERE available AND vram_gb >= ? GROUP BY gpu_model",
            [min_vram_gb],
        ).fetchall()
    return {row[0]: {"offers": row[1], "median": row[2], "min": row[3]} for row in rows}


def popular_gpu_models(db_path: Path, limit: int) -> list[tuple[str, int]]:
    """The GPU models with the most available current offers, with their counts."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT gpu_model, count(*) AS offers FROM offers_current WHERE available"
            " GROUP BY gpu_model ORDER BY offers DESC, gpu_model LIMIT ?",
            [limit],
        ).fetchall()
    return [(str(model), int(count)) for model, count in rows]


def daily_price_medians(db_path: Path, start: datetime, end: datetime) -> pl.DataFrame:
    """Per UTC day and GPU model in [start, end): the median of the stored medians and the
    lowest price across providers and sources ($/GPU-hour), and the offers observed."""
    with connect(db_path, read_only=True) as con:
        frame = con.sql(
            "SELECT CAST(observed_at AT TIME ZONE 'UTC' AS DATE) AS day, gpu_model,"
            "  CAST(median(median_price) AS DOUBLE) AS median_price,"
            "  CAST(min(min_price) AS DOUBLE) AS min_price, CAST(sum(offers) AS BIGINT) AS offers"
            " FROM gpu_price_points WHERE observed_at >= ? AND observed_at < ?"
            " GROUP BY ALL ORDER BY day, gpu_model",
            params=[start, end],
        ).pl()
    return (
        pl.DataFrame(schema=PRICE_SCHEMA)
        if frame.is_empty()
        else frame.cast(pl.Schema(PRICE_SCHEMA))
    )
