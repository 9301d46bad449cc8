"""Altair charts of the Costs page; each takes a Polars frame from `dashboards.costs_data`."""

import altair as alt
import polars as pl

# What the page lets people group spend by: frame column -> label.
GROUPS = {"consumer": "Consumer", "provider": "Provider", "gpu_model": "GPU"}


def spend_over_time(spend: pl.DataFrame, group: str) -> alt.Chart:
    """Spend per UTC day as stacked bars, one colour per consumer, provider or GPU."""
    label = GROUPS[group]
    per_day = spend.group_by("day", group).agg(pl.col("cost").sum(), pl.col("hours").sum())
    return (
        alt.Chart(per_day, title=f"Spend per day by {label.lower()}")
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None, timeUnit="utcyearmonthdate"),
            y=alt.Y("sum(cost):Q", title="$ per day", axis=alt.Axis(format="$,.2f")),
            color=alt.Color(f"{group}:N", title=label),
            tooltip=[
                alt.Tooltip("day:T", title="day (UTC)", timeUnit="utcyearmonthdate"),
                alt.Tooltip(f"{group}:N", title=label),
                alt.Tooltip("cost:Q", title="cost", format="$,.2f"),
                alt.Tooltip("hours:Q", title="instance-hours", format=",.1f"),
            ],
        )
    )


def spend_by_group(spend: pl.DataFrame, group: str) -> alt.Chart:
    """Total spend over the range per consumer, provider or GPU, biggest first."""
    label = GROUPS[group]
    totals = spend.group_by(group).agg(pl.col("cost").sum())
    return (
        alt.Chart(totals, title=f"Spend by {label.lower()}")
        .mark_bar()
        .encode(
            y=alt.Y(f"{group}:N", title=None, sort="-x"),
            x=alt.X("cost:Q", title="$", axis=alt.Axis(format="$,.2f")),
            tooltip=[alt.Tooltip(f"{group}:N", title=label), alt.Tooltip("cost:Q", format="$,.2f")],
        )
    )
