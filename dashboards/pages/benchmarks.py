"""Benchmarks: how fast each GPU runs a model, what a million tokens cost, what to rent.

Measured results (our runs and loaded result files) and published reference results sit
side by side but never merge: every row, point and piece of evidence says which it is,
and a sidebar toggle leaves the published ones out of every section. Recommendations and
the offer ranking use measured evidence for a GPU where there is any, published otherwise;
with the toggle off they keep only GPUs we measured.
"""

from pathlib import Path

import polars as pl
import streamlit as st

from dashboards import benchmarks_charts, benchmarks_data, data
from shopper_pipelines.errors import InvalidInputError, ShopperError
from shopper_pipelines.inventory.search import MAX_LIMIT

OFFERS_SHOWN = 25
RUN_HINT = (
    "Measure some with `uv run gpu-shopper benchmarks run --models {model} "
    '--gpus "RTX 3090,RTX 4090" --max-budget 1.00 --duration 5m`, or load result files '
    "you already have with `uv run gpu-shopper benchmarks load DIR --provider vastai "
    "--price 0.40`."
)
NO_WAREHOUSE = (
    "The warehouse does not exist yet. Fetch offers with `uv run gpu-shopper ingest`, then "
    "run benchmarks with `uv run gpu-shopper benchmarks run --models llama3.1:8b "
    '--gpus "RTX 4090" --max-budget 1.00 --duration 5m` and reload this page.'
)
NO_MODELS = "No benchmark results yet. " + RUN_HINT.format(model="llama3.1:8b")
_MONEY = "$%.3f"
LEADERBOARD_COLUMNS = {
    "gpu_model": st.column_config.TextColumn("GPU"),
    "source": st.column_config.TextColumn("Source"),
    "tokens_per_second": st.column_config.NumberColumn("Tokens/s", format="%.1f"),
    "ttft_ms_p50": st.column_config.NumberColumn("TTFT p50 (ms)", format="%.0f"),
    "price_per_hour": st.column_config.NumberColumn("$/h", format=_MONEY),
    "dollars_per_m_tokens": st.column_config.NumberColumn("$/M tokens", format="$%.2f"),
    "results": st.column_config.NumberColumn("Results", format="%d"),
    "providers": st.column_config.TextColumn("Providers"),
}
RECOMMEND_COLUMNS = {
    "rank": st.column_config.NumberColumn("#", format="%d"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "dollars_per_m_tokens": st.column_config.NumberColumn("$/M tokens", format="$%.2f"),
    "tokens_per_second": st.column_config.NumberColumn("Tokens/s", format="%.1f"),
    "price_per_hour": st.column_config.NumberColumn("$/h per GPU", format=_MONEY),
    "price_basis": st.column_config.TextColumn("Price from"),
    "live_offers": st.column_config.NumberColumn("Live offers", format="%d"),
    "vram_gb": st.column_config.NumberColumn("VRAM (GB)", format="%.0f"),
    "evidence": st.column_config.TextColumn("Evidence"),
    "reason": st.column_config.TextColumn("Why", width="large"),
}
OFFER_COLUMNS = {
    "id": st.column_config.TextColumn("Offer"),
    "provider": st.column_config.TextColumn("Provider"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "gpu_count": st.column_config.NumberColumn("GPUs", format="%d"),
    "price_per_hour": st.column_config.NumberColumn("$/h", format=_MONEY),
    "est_tokens_per_second": st.column_config.NumberColumn("Est. tokens/s", format="%.1f"),
    "est_dollars_per_m_tokens": st.column_config.NumberColumn("Est. $/M tokens", format="$%.2f"),
    "evidence": st.column_config.TextColumn("Evidence"),
    "country": st.column_config.TextColumn("Country"),
}


def sidebar_widgets(models: list[str]) -> tuple[str, bool, float | None, float | None]:
    """Model, whether to include published results, and the optional budget and VRAM."""
    bar = st.sidebar
    bar.header("Filters")
    model = bar.selectbox(
        "Model", models, index=benchmarks_data.default_model_index(models), key="bench_model"
    )
    include_published = bar.toggle(
        "Include published reference results",
        value=True,
        help="Public results of other benchmark runs; always labelled 'published (reference)'.",
        key="bench_published",
    )
    bar.subheader("Recommendation")
    max_price = bar.number_input(
        "Budget: max $/h per GPU", value=None, min_value=0.0, step=0.05, format="%.2f",
        key="bench_max_price",
    )  # fmt: skip
    min_vram = bar.number_input(
        "VRAM needed per GPU (GB)", value=None, min_value=0.0, step=8.0, key="bench_vram",
        help="On top of what the model itself needs.",
    )  # fmt: skip
    return str(model), include_published, max_price, min_vram


def show_leaderboard(results: pl.DataFrame) -> None:
    """One row per GPU and source, fastest first."""
    st.subheader("Leaderboard")
    board = benchmarks_data.leaderboard(results)
    st.dataframe(
        board, hide_index=True, column_order=list(LEADERBOARD_COLUMNS),
        column_config=LEADERBOARD_COLUMNS,
    )  # fmt: skip
    sources = set(board["source"])
    if benchmarks_data.PUBLISHED_LABEL in sources:
        st.caption(
            "Rows marked 'published (reference)' are public results of other runs, not "
            "measured here; medians per GPU and source."
        )


def show_chart(results: pl.DataFrame, model: str) -> None:
    """The scatter of tokens/s against price, with the cost frontier."""
    points = benchmarks_data.price_speed_points(results)
    if points.is_empty():
        st.info(f"No result for {model} has both a price and a token rate to plot.")
        return
    st.altair_chart(benchmarks_charts.speed_price_chart(points, model), width="stretch")
    frontier = points.filter(pl.col("on_frontier")).sort("price_per_hour")
    st.caption(
        "Cost frontier (green): no other result is both cheaper and faster — "
        + ", ".join(
            f"{row['gpu_model']} ({row['source']}) ${row['price_per_hour']:.2f}/h"
            for row in frontier.iter_rows(named=True)
        )
    )


def show_recommendation(
    db_path: Path,
    model: str,
    max_price: float | None,
    min_vram: float | None,
    include_published: bool,
) -> None:
    """Ranked GPU types for the model, the first spelled out, each with its evidence."""
    st.subheader("Recommendation")
    try:
        ranked = benchmarks_data.recommendation(db_path, model, max_price, min_vram)
    except InvalidInputError as error:
        st.error(str(error))
        return
    if not include_published:
        ranked = ranked.filter(pl.col("basis") == "measured")
    if ranked.is_empty():
        which = "usable" if include_published else "measured"
        limits = " within this budget and VRAM need" if max_price or min_vram else ""
        hint = RUN_HINT.format(model=model)
        st.info(f"No GPU type has {which} results for {model}{limits}. {hint}")
        return
    top = ranked.row(0, named=True)
    cost = top["dollars_per_m_tokens"]
    price = f"${cost:.2f} per million tokens" if cost is not None else "no price known"
    st.success(f"For **{model}**, rent **{top['gpu_model']}**: {price} ({top['evidence']}).")
    st.caption(f"Why: {top['reason']}.")
    st.dataframe(
        ranked, hide_index=True, column_order=list(RECOMMEND_COLUMNS),
        column_config=RECOMMEND_COLUMNS,
    )  # fmt: skip


def show_offers(db_path: Path, model: str, include_published: bool) -> None:
    """Live offers by estimated $/M tokens, each saying what evidence backs it.

    Without published results only offers whose GPU we measured remain, so the whole
    ranking is read and filtered before the first `OFFERS_SHOWN` are taken.
    """
    st.subheader("Live offers by estimated $/M tokens")
    limit = OFFERS_SHOWN if include_published else MAX_LIMIT
    ranking = benchmarks_data.ranked_offers(db_path, model, None, limit)
    if ranking.matched == 0:
        st.info(
            f"No current offer can hold {model}. Fetch offers with `uv run gpu-shopper ingest`."
        )
        return
    need = f" ({ranking.vram_needed_gb:g} GB)" if ranking.vram_needed_gb else ""
    notes = [
        f"{ranking.matched:,} offers can hold {model}{need}; "
        f"{ranking.with_evidence:,} have benchmark evidence for their GPU",
    ]
    if ranking.excluded_for_vram:
        notes.append(f"{ranking.excluded_for_vram:,} too small left out")
    offers = ranking.offers
    if include_published:
        notes.append("offers without evidence come last, with no estimate")
    else:
        offers = offers.filter(pl.col("n_measured") > 0)
        hidden = ranking.matched - offers.height
        notes.append(f"{hidden:,} with published-only or no evidence hidden")
    if offers.height > OFFERS_SHOWN:
        offers = offers.head(OFFERS_SHOWN)
        notes.append(f"showing the first {OFFERS_SHOWN}")
    elif ranking.matched > offers.height and include_published:
        notes.append(f"showing the first {offers.height}")
    st.caption(" · ".join(notes) + ".")
    if offers.is_empty():
        st.info(f"No current offer runs on a GPU with measured results for {model}.")
        return
    st.dataframe(
        offers, hide_index=True, column_order=list(OFFER_COLUMNS), column_config=OFFER_COLUMNS
    )


def render() -> None:
    """Widgets, then the leaderboard and chart, then the advice and the live offers."""
    st.title("Benchmarks")
    db_path = data.settings().database_path
    if not data.warehouse_exists(db_path):
        st.info(NO_WAREHOUSE)
        return
    models = benchmarks_data.models(db_path)
    if not models:
        st.info(NO_MODELS)
        return
    model, include_published, max_price, min_vram = sidebar_widgets(models)

    results = benchmarks_data.results(db_path, model, include_published)
    if results.is_empty():
        which = "results" if include_published else "measured results"
        st.info(f"No {which} for {model} yet. " + RUN_HINT.format(model=model))
    else:
        show_leaderboard(results)
        show_chart(results, model)
    show_recommendation(db_path, model, max_price, min_vram, include_published)
    show_offers(db_path, model, include_published)


try:
    render()
except ShopperError as error:
    st.error(str(error))
