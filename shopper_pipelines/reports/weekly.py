"""The weekly market report: price moves per GPU model, cheapest offers, $/M-token leaders.

Prices are $/GPU-hour from `gpu_price_points` (ingest snapshots and imported history),
aggregated per UTC day across providers and sources as the median of the stored medians.
"Over the week" compares the week's first and last day with data; "vs last week" compares
the median of the week's daily medians with the week before.
"""

import time
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from shopper_pipelines.inventory.market_stats import daily_price_medians, popular_gpu_models
from shopper_pipelines.inventory.search import OfferFilters, search_offers
from shopper_pipelines.reports import charts, token_leaders
from shopper_pipelines.reports.document import Chart, Document, Heading, Table, Text
from shopper_pipelines.reports.periods import week_window
from shopper_pipelines.reports.writer import Report, write_report
from shopper_pipelines.settings import Settings
from shopper_pipelines.warehouse import ensure_schema

POPULAR_MODELS = 8  # GPU models in "cheapest offers now", by current offer count
CHART_MODELS = 6  # lines in the price chart, the most observed models of the week
MOVES_SHOWN = 20
CHART_WEEKS = 4


def _pct(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def price_moves(daily: pl.DataFrame, first_day: date) -> pl.DataFrame:
    """One row per GPU model with data in the week starting `first_day` (frame from
    `daily_price_medians` covering at least that week and the one before)."""
    week = daily.filter(pl.col("day") >= first_day).sort("day")
    before = daily.filter(
        (pl.col("day") < first_day) & (pl.col("day") >= first_day - timedelta(days=7))
    )
    moves = week.group_by("gpu_model").agg(
        first=pl.col("median_price").first(),
        last=pl.col("median_price").last(),
        week_median=pl.col("median_price").median(),
        lowest=pl.col("min_price").min(),
        offers=pl.col("offers").sum(),
    )
    previous = before.group_by("gpu_model").agg(previous_median=pl.col("median_price").median())
    rows = []
    for row in moves.join(previous, on="gpu_model", how="left").iter_rows(named=True):
        row["week_change_pct"] = _pct(row["last"], row["first"])
        row["change_pct"] = _pct(row["week_median"], row["previous_median"])
        rows.append(row)
    schema = {**dict(moves.schema), "previous_median": pl.Float64(),
              "week_change_pct": pl.Float64(), "change_pct": pl.Float64()}  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema)
    order = pl.col("change_pct").abs().fill_null(-1)
    return frame.sort([order, "offers"], descending=True)


def _moves_section(doc: Document, daily: pl.DataFrame, first_day: date) -> dict[str, Any]:
    doc.add(Heading("Price moves per GPU model ($/GPU-hour)"))
    moves = price_moves(daily, first_day)
    if moves.is_empty():
        doc.add(Text("No price points this week: run an ingest or import history first."))
        return {"gpu_models_priced": 0}
    rows = [
        [
            row["gpu_model"],
            f"${row['week_median']:.3f}",
            f"${row['first']:.3f} → ${row['last']:.3f} ({_fmt_pct(row['week_change_pct'])})",
            _fmt_pct(row["change_pct"]),
            f"${row['lowest']:.3f}",
        ]
        for row in moves.head(MOVES_SHOWN).iter_rows(named=True)
    ]
    doc.add(Table(["GPU", "Median", "First → last day", "vs last week", "Lowest"], rows))
    if moves.height > MOVES_SHOWN:
        doc.add(Text(f"{moves.height - MOVES_SHOWN} more GPU models had prices this week."))
    top = moves.sort("offers", descending=True).head(CHART_MODELS)["gpu_model"].to_list()
    history = daily.filter(pl.col("gpu_model").is_in(top))
    doc.add(
        Chart("median_price", "Median price per GPU", charts.median_price_over_time(
            history, f"Median $/GPU-hour, last {CHART_WEEKS} weeks")),
    )  # fmt: skip
    changed = moves.filter(pl.col("change_pct").is_not_null())
    if not changed.is_empty():
        doc.add(
            Chart("week_over_week", "Week-over-week change", charts.week_over_week(
                changed.head(MOVES_SHOWN), "Median price vs the week before")),
        )  # fmt: skip
    biggest = changed.row(0, named=True) if not changed.is_empty() else None
    return {
        "gpu_models_priced": moves.height,
        "biggest_move_gpu": biggest["gpu_model"] if biggest else "",
        "biggest_move_pct": round(biggest["change_pct"], 2) if biggest else 0.0,
    }


def _offers_section(doc: Document, settings: Settings) -> dict[str, Any]:
    doc.add(Heading("Cheapest offers now, for the most offered GPU models"))
    doc.add(Text("Current offers when this report was built (all-in $/hour for the instance)."))
    rows = []
    for model, count in popular_gpu_models(settings.database_path, POPULAR_MODELS):
        found = search_offers(settings.database_path, OfferFilters(gpu=model, limit=1)).offers
        if not found:
            continue
        offer = found[0]
        rows.append([
            model, str(count), f"${offer['price_per_hour']:.3f}", str(offer["gpu_count"]),
            offer["provider"], offer["id"], offer["country"] or "-",
        ])  # fmt: skip
    doc.add(
        Table(
            ["GPU", "Offers", "Cheapest $/h", "GPUs", "Provider", "Offer", "Country"],
            rows,
            empty="No current offers: run `gpu-shopper ingest`.",
        )
    )
    return {"popular_gpu_models": len(rows)}


def build_weekly_report(
    settings: Settings, week_ending: date, now: datetime | None = None
) -> Report:
    """Build and write `reports_dir/weekly/YYYY-Www/` for the ISO week ending `week_ending`."""
    started = time.perf_counter()
    window = week_window(week_ending, now)
    ensure_schema(settings.database_path)
    doc = Document(
        f"GPU market, week {window.label} ({window.first_day:%a %d %b} – "
        f"{window.last_day:%a %d %b %Y}, UTC)"
    )

    daily = daily_price_medians(
        settings.database_path, window.start - timedelta(weeks=CHART_WEEKS - 1), window.end
    )
    headline = _moves_section(doc, daily, window.first_day)
    headline |= _offers_section(doc, settings)
    headline |= token_leaders.add_section(doc, settings)

    target = settings.reports_dir / "weekly" / window.label
    return write_report(
        doc, target, kind="weekly", period=window.label, headline=headline, started=started
    )
