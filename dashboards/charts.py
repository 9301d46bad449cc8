"""Altair charts for the app's pages; each takes a Polars frame from `dashboards.data`."""

import altair as alt
import polars as pl

_MEASURES = {"min_price": "min", "median_price": "median"}


def price_history_chart(history: pl.DataFrame, gpu: str) -> alt.Chart:
    """Min (solid) and median (dashed) $/GPU-hour over time, one colour per series."""
    long = history.unpivot(
        index=["bucket", "series", "offer_observations"],
        on=list(_MEASURES),
        variable_name="measure",
        value_name="price",
    ).with_columns(pl.col("measure").replace_strict(_MEASURES))
    return (
        alt.Chart(long, title=f"{gpu}: $ per GPU-hour")
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("price:Q", title="$ / GPU-hour", axis=alt.Axis(format="$.2f")),
            color=alt.Color("series:N", title="source"),
            strokeDash=alt.StrokeDash("measure:N", title="price", sort=list(_MEASURES.values())),
            tooltip=[
                alt.Tooltip("bucket:T", title="time"),
                alt.Tooltip("series:N", title="source"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("price:Q", format="$.3f"),
                alt.Tooltip("offer_observations:Q", title="offers seen"),
            ],
        )
        .interactive(bind_y=False)
    )
