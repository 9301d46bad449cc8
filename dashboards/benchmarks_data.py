"""The Benchmarks page's data: cached reads of benchmark results, advice and live rankings.

Pages never open DuckDB. Each loader asks `shopper_pipelines.benchmarks` for rows and
returns a Polars frame (or the capability's own record); results, never connections, are
cached for `CACHE_TTL_S` seconds. Every loader expects the warehouse file to exist: the
pages check `data.warehouse_exists` first, so the app never creates one by asking.

Published reference results keep their own label (`PUBLISHED_LABEL`) wherever they are
shown, so they never pass for our own measurements.
"""

from dataclasses import replace
from pathlib import Path

import polars as pl
import streamlit as st

from shopper_pipelines.benchmarks.advice import OfferRanking, rank_offers_for_model, recommend
from shopper_pipelines.benchmarks.analytics import (
    dollars_per_million_tokens,
    list_results,
    stored_models,
)
from shopper_pipelines.inventory.search import OfferFilters

CACHE_TTL_S = 60
DEFAULT_MODEL = "llama3.1:8b"
MEASURED_LABEL = "measured"
PUBLISHED_LABEL = "published (reference)"
SOURCE_LABELS = {"measured": MEASURED_LABEL, "published": PUBLISHED_LABEL}

LEADERBOARD_SCHEMA: dict[str, pl.DataType] = {
    "gpu_model": pl.String(),
    "source": pl.String(),
    "tokens_per_second": pl.Float64(),
    "ttft_ms_p50": pl.Float64(),
    "price_per_hour": pl.Float64(),
    "dollars_per_m_tokens": pl.Float64(),
    "results": pl.UInt32(),
    "providers": pl.String(),
}
POINT_COLUMNS = ("result_id", "gpu_model", "source", "provider", "price_per_hour",
                 "tokens_per_second", "dollars_per_m_tokens")  # fmt: skip


def source_label(source: str) -> str:
    """'measured' or 'published (reference)' for a `benchmark_results.source` value."""
    return SOURCE_LABELS.get(source, source)


def evidence_labels(column: str = "evidence") -> pl.Expr:
    """The capability's evidence text with published figures named as reference data.

    'published' -> 'published (reference)'; 'published (A100)' (borrowed from the A100
    family) -> 'published (reference, via A100)'; measured evidence reads as given.
    """
    text = pl.col(column)
    borrowed = text.str.strip_prefix("published (").str.strip_suffix(")")
    return (
        pl.when(text == "published")
        .then(pl.lit(PUBLISHED_LABEL))
        .when(text.str.starts_with("published ("))
        .then(pl.format("published (reference, via {})", borrowed))
        .otherwise(text)
        .alias(column)
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def models(db_path: Path) -> list[str]:
    """Every LLM model with a stored result (published or measured), sorted."""
    return stored_models(db_path)


def default_model_index(choices: list[str]) -> int:
    """Where `DEFAULT_MODEL` sits in `choices`, else the first."""
    return choices.index(DEFAULT_MODEL) if DEFAULT_MODEL in choices else 0


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def results(db_path: Path, model: str, include_published: bool) -> pl.DataFrame:
    """Valid results for `model`, newest first, `source` relabelled for display."""
    frame = list_results(db_path, model=model, source="all" if include_published else "measured")
    return frame.with_columns(pl.col("source").replace_strict(SOURCE_LABELS, default=None))


def leaderboard(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per GPU model and source, fastest first.

    Measured and published rows of one GPU stay on separate rows: a median over both
    would mix our runs with someone else's. Figures are medians over the group's
    results; $/M tokens is the median price over the median tokens/s, as
    `analytics.compare` computes it.
    """
    if frame.is_empty():
        return pl.DataFrame(schema=LEADERBOARD_SCHEMA)
    grouped = (
        frame.group_by("gpu_model", "source")
        .agg(
            pl.col("tokens_per_second").median(),
            pl.col("ttft_ms_p50").median(),
            pl.col("price_per_hour").median(),
            pl.len().alias("results"),
            pl.col("provider").drop_nulls().unique().sort().str.join(", ").alias("providers"),
        )
        .sort(["tokens_per_second", "gpu_model", "source"], descending=[True, False, False],
              nulls_last=True)
    )  # fmt: skip
    costs = [
        dollars_per_million_tokens(row["price_per_hour"], row["tokens_per_second"])
        for row in grouped.iter_rows(named=True)
    ]
    grouped = grouped.with_columns(pl.Series("dollars_per_m_tokens", costs, dtype=pl.Float64))
    return grouped.select(list(LEADERBOARD_SCHEMA)).cast(pl.Schema(LEADERBOARD_SCHEMA))


def cost_frontier(
    points: pl.DataFrame, price: str = "price_per_hour", speed: str = "tokens_per_second"
) -> pl.DataFrame:
    """`points` with `on_frontier`: True where no other point is both cheaper and faster.

    A point is on the cost frontier (the Pareto set) when every other point is dearer,
    slower, or the same on both; rows missing either figure are never on it. Worked
    example, ($/h, tok/s): F (0.10, 40), A (0.20, 100), D (0.30, 90), B (0.40, 150),
    C (0.40, 120), E (0.50, 150). By rising price: F is the cheapest, so on; A is faster
    than everything cheaper (100 > 40), on; D is not (A is cheaper and faster); at $0.40
    B is the faster of the two and beats 100, on, while C loses to B (same price,
    slower); E only equals B's 150 at a higher price, off. Frontier: F, A, B.
    """
    complete = pl.col(price).is_not_null() & pl.col(speed).is_not_null()
    # The fastest point at each price, and the fastest at any strictly lower price.
    best_here = pl.col(speed).max().over(price)
    by_price = (
        points.filter(complete)
        .group_by(price)
        .agg(pl.col(speed).max().cast(pl.Float64).alias("_best"))
        .sort(price)
    )
    by_price = by_price.with_columns(
        pl.col("_best").cum_max().shift(1).alias("_best_cheaper")
    ).select(price, "_best_cheaper")
    marked = points.with_row_index("_order").join(by_price, on=price, how="left")
    marked = marked.with_columns(
        on_frontier=(
            complete
            & (pl.col(speed) == best_here)
            & (pl.col("_best_cheaper").is_null() | (pl.col(speed) > pl.col("_best_cheaper")))
        ).fill_null(False)
    )
    return marked.sort("_order").drop("_order", "_best_cheaper")


def price_speed_points(frame: pl.DataFrame) -> pl.DataFrame:
    """The results the scatter can place (a price and a rate), with `on_frontier`."""
    placed = frame.select(POINT_COLUMNS).filter(
        pl.col("price_per_hour").is_not_null() & pl.col("tokens_per_second").is_not_null()
    )
    return cost_frontier(placed)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def recommendation(
    db_path: Path, model: str, max_price: float | None, min_vram: float | None
) -> pl.DataFrame:
    """GPU types for `model`, cheapest per M tokens first (see `advice.recommend`)."""
    frame = recommend(db_path, model, max_price_per_hour=max_price, min_vram_gb=min_vram)
    return frame.with_columns(evidence_labels())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def ranked_offers(
    db_path: Path, model: str, filters: OfferFilters | None = None, limit: int = 50
) -> OfferRanking:
    """Live offers by estimated $/M tokens (see `advice.rank_offers_for_model`)."""
    ranking = rank_offers_for_model(db_path, model, filters, limit=limit)
    return replace(ranking, offers=ranking.offers.with_columns(evidence_labels()))
