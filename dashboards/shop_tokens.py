"""The Shop page's "cheapest per M tokens" sort: offers ranked for one LLM model.

Inventory sorts by price, VRAM or reliability; this extra choice ranks the offers that
pass the Shop filters by estimated $/M tokens for a chosen model (offer price over the
benchmarked tokens/s of its GPU, `advice.rank_offers_for_model`). Offers that cannot
hold the model are left out and counted; offers without benchmark evidence come last,
with no estimate, and a note says how many.
"""

from pathlib import Path

import polars as pl
import streamlit as st

from dashboards import benchmarks_data
from shopper_pipelines.inventory.search import SORT_KEYS, OfferFilters

SORT_OPTION = "cheapest per M tokens"
SORT_CHOICES = [*SORT_KEYS, SORT_OPTION]
SORT_KEY = "sort"  # the Shop page's "Sort by" widget
MODEL_KEY = "tokens_model"
TABLE_COLUMNS = {
    "provider": st.column_config.TextColumn("Provider"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "gpu_count": st.column_config.NumberColumn("GPUs", format="%d"),
    "total_vram_gb": st.column_config.NumberColumn("Total VRAM (GB)", format="%.0f"),
    "price_per_hour": st.column_config.NumberColumn("$/h", format="$%.3f"),
    "est_dollars_per_m_tokens": st.column_config.NumberColumn("Est. $/M tokens", format="$%.2f"),
    "est_tokens_per_second": st.column_config.NumberColumn("Est. tokens/s", format="%.1f"),
    "evidence": st.column_config.TextColumn("Evidence"),
    "country": st.column_config.TextColumn("Country"),
    "location": st.column_config.TextColumn("Location"),
    "reliability": st.column_config.NumberColumn("Reliability", format="percent"),
}


def inventory_sort(choice: str) -> str:
    """The inventory sort key for a "Sort by" choice; this module's own sorts by price."""
    return choice if choice in SORT_KEYS else "price"


def chosen() -> bool:
    """Whether the user picked "cheapest per M tokens" in the Shop's "Sort by"."""
    return st.session_state.get(SORT_KEY) == SORT_OPTION


def show_ranking(db_path: Path, filters: OfferFilters) -> pl.DataFrame:
    """Model picker, notes and the ranked table; returns the offers shown (maybe none)."""
    models = benchmarks_data.models(db_path)
    if not models:
        st.info("No benchmark results yet, so no offer has a $/M-token estimate.")
        return pl.DataFrame()
    model = st.selectbox(
        "Cheapest per M tokens for model",
        models,
        index=benchmarks_data.default_model_index(models),
        key=MODEL_KEY,
    )
    ranking = benchmarks_data.ranked_offers(db_path, str(model), filters, filters.limit)
    notes = []
    if ranking.excluded_for_vram:
        need = f" ({ranking.vram_needed_gb:g} GB)" if ranking.vram_needed_gb else ""
        notes.append(f"{ranking.excluded_for_vram:,} matching offers cannot hold {model}{need}")
    without = ranking.matched - ranking.with_evidence
    if without:
        notes.append(
            f"{without:,} offers have no benchmark for their GPU and {model}: listed last, "
            "with no estimate"
        )
    if notes:
        st.caption(" · ".join(notes) + ".")
    if ranking.offers.is_empty():
        st.info(f"No offer matching these filters can hold {model}.")
        return ranking.offers
    st.dataframe(
        ranking.offers, hide_index=True, column_order=list(TABLE_COLUMNS),
        column_config=TABLE_COLUMNS,
    )  # fmt: skip
    return ranking.offers
