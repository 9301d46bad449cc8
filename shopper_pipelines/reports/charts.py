"""Altair charts of the reports, built from Polars frames and rendered to PNG by the writer.

They are static pictures (no tooltips or zoom): a PNG cannot use them.
"""

from datetime import date, timedelta

import altair as alt
import polars as pl

WIDTH = 640
HEIGHT = 280
_MONEY = "$,.2f"


def _utc_day(day: date) -> alt.DateTime:
    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def spend_per_day(
    frame: pl.DataFrame, group: str, title: str, days: tuple[date, date]
) -> alt.Chart:
    """Daily spend as stacked bars over the whole of `days` (first, last), one colour per
    value of `group` (frame: day, group, cost)."""
    domain = [_utc_day(days[0]), _utc_day(days[1] + timedelta(days=1))]
    return (
        alt.Chart(frame, title=title, width=WIDTH, height=HEIGHT)
        .mark_bar()
        .encode(
            x=alt.X(
                "day:T", title=None, timeUnit="utcyearmonthdate", scale=alt.Scale(domain=domain)
            ),
            y=alt.Y("sum(cost):Q", title="$ per day", axis=alt.Axis(format=_MONEY)),
            color=alt.Color(f"{group}:N", title=group.replace("_", " ")),
        )
    )


def spend_by_category(frame: pl.DataFrame, category: str, title: str) -> alt.Chart:
    """Spend per category as horizontal bars, biggest first (frame: category, cost)."""
    return (
        alt.Chart(frame, title=title, width=WIDTH, height=alt.Step(22))
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort="-x"),
            x=alt.X("cost:Q", title="$", axis=alt.Axis(format=_MONEY)),
        )
    )


def median_price_over_time(frame: pl.DataFrame, title: str) -> alt.Chart:
    """Median $/GPU-hour per day, one line per GPU model (frame: day, gpu_model, median)."""
    return (
        alt.Chart(frame, title=title, width=WIDTH, height=HEIGHT)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=None, timeUnit="utcyearmonthdate"),
            y=alt.Y("median_price:Q", title="median $ / GPU-hour", axis=alt.Axis(format="$.2f")),
            color=alt.Color("gpu_model:N", title="GPU"),
        )
    )


def week_over_week(frame: pl.DataFrame, title: str) -> alt.Chart:
    """Change of the week's median price against the week before, in percent."""
    return (
        alt.Chart(frame, title=title, width=WIDTH, height=alt.Step(22))
        .mark_bar()
        .encode(
            y=alt.Y("gpu_model:N", title=None, sort="-x"),
            x=alt.X("change_pct:Q", title="% change of the median $/GPU-hour"),
            color=alt.condition(
                alt.datum.change_pct > 0, alt.value("#c0392b"), alt.value("#27ae60")
            ),
        )
    )
