"""The reports' own warehouse reads, for what no capability exposes yet.

Each is a read-only aggregate over another capability's table; if inventory or sessions
grow a public function that answers the same question, use it and drop the query here.
- `daily_price_medians`: inventory's `price_history` works one GPU query at a time and
  from a `since` relative to now; the weekly report needs every model in a past window.
- `popular_gpu_models`: inventory's `offer_facets` lists models without their counts.
- `session_alerts`: sessions' `events` reads one session at a time.
"""

from datetime import datetime
from pathlib import Path

import polars as pl

from shopper_pipelines.warehouse import connect

PRICE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "gpu_model": pl.String(),
    "median_price": pl.Float64(),
    "min_price": pl.Float64(),
    "offers": pl.Int64(),
}


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


def popular_gpu_models(db_path: Path, limit: int) -> list[tuple[str, int]]:
    """The GPU models with the most available current offers, with their counts."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT gpu_model, count(*) AS offers FROM offers_current WHERE available"
            " GROUP BY gpu_model ORDER BY offers DESC, gpu_model LIMIT ?",
            [limit],
        ).fetchall()
    return [(str(model), int(count)) for model, count in rows]


def session_alerts(db_path: Path, start: datetime, end: datetime) -> list[dict]:
    """Alert events of any session in [start, end), oldest first."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            "SELECT e.occurred_at, e.session_id, s.consumer_id, e.reason"
            " FROM session_events e LEFT JOIN sessions s USING (session_id)"
            " WHERE e.kind = 'alert' AND e.occurred_at >= ? AND e.occurred_at < ?"
            " ORDER BY e.occurred_at, e.event_id",
            [start, end],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
