"""Altair charts for the Benchmarks page; each takes a frame from `dashboards.benchmarks_data`."""

import altair as alt
import polars as pl

from dashboards.benchmarks_data import MEASURED_LABEL, PUBLISHED_LABEL

# Fixed colours per source, so a chart with only published points does not repaint them
# in the colour measured ones had.
SOURCE_SCALE = alt.Scale(domain=[MEASURED_LABEL, PUBLISHED_LABEL], range=["#1f77b4", "#ff7f0e"])
FRONTIER_COLOUR = "#2ca02c"


def speed_price_chart(points: pl.DataFrame, model: str) -> alt.LayerChart:
    """Tokens/s against $/hour, one point per result, the cost frontier drawn over them.

    `points` comes from `benchmarks_data.price_speed_points` (with `on_frontier`). The
    frontier is a line through its points in price order, each ringed and named by GPU.
    """
    tooltip = [
        alt.Tooltip("gpu_model:N", title="GPU"),
        alt.Tooltip("source:N"),
        alt.Tooltip("provider:N"),
        alt.Tooltip("price_per_hour:Q", title="$/h", format="$.3f"),
        alt.Tooltip("tokens_per_second:Q", title="tokens/s", format=".1f"),
        alt.Tooltip("dollars_per_m_tokens:Q", title="$/M tokens", format="$.2f"),
    ]
    x = alt.X("price_per_hour:Q", title="$ / hour", axis=alt.Axis(format="$.2f"))
    y = alt.Y("tokens_per_second:Q", title="tokens / s (concurrency 1)")
    base = alt.Chart(points)
    dots = base.mark_circle(size=90, opacity=0.8).encode(
        x=x,
        y=y,
        color=alt.Color("source:N", title="source", scale=SOURCE_SCALE),
        tooltip=tooltip,
    )
    frontier = base.transform_filter(alt.datum.on_frontier)
    line = frontier.mark_line(color=FRONTIER_COLOUR, strokeDash=[6, 3]).encode(
        x=x, y=y, order="price_per_hour:Q"
    )
    rings = frontier.mark_point(color=FRONTIER_COLOUR, size=220, strokeWidth=2).encode(
        x=x, y=y, tooltip=tooltip
    )
    names = frontier.mark_text(align="left", dx=10, dy=-8, color=FRONTIER_COLOUR).encode(
        x=x, y=y, text="gpu_model:N"
    )
    chart = alt.LayerChart(layer=[dots, line, rings, names], title=f"{model}: tokens/s vs price")
    return chart.interactive()
