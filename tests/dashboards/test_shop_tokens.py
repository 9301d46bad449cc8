"""The Shop page's "cheapest per M tokens" sort through AppTest, on a sandbox ingest with
the published results and one measured RTX 4090 run of llama3.1:8b."""

from pathlib import Path

import polars as pl
import pytest

from dashboards.shop_tokens import SORT_OPTION
from shopper_pipelines.benchmarks.llm_models import require
from shopper_pipelines.inventory.gpu_models import lookup
from tests.dashboards.bench_support import (
    MEASURED_TPS,
    MODEL,
    PUBLISHED_LLAMA,
    per_million,
    run_app,
    warehouse_with_results,
)

# Tokens/s behind each GPU's estimate for llama3.1:8b: the measured run where we have
# one (the RTX 4090), else the published figure.
TPS_BY_GPU = {gpu: tps for gpu, (_, tps) in PUBLISHED_LLAMA.items()} | {"RTX 4090": MEASURED_TPS}


@pytest.fixture(scope="module")
def bench_warehouse(sandbox_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warehouse_with_results(sandbox_warehouse, tmp_path_factory.mktemp("shop-tokens"))


def expected_tps(gpu_model: str) -> float | None:
    """The rate by hand: the GPU's own, else its family's (an 'A100 SXM4' uses 'A100')."""
    if gpu_model in TPS_BY_GPU:
        return TPS_BY_GPU[gpu_model]
    known = lookup(gpu_model)
    return TPS_BY_GPU.get(known.family) if known else None


def test_tokens_sort_ranks_by_hand_computed_cost_per_million(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    """Each offer's estimate is its own $/h over its GPU's tokens/s: an RTX 3090 offer at
    $0.15/h makes 145 × 3600 = 522,000 tokens an hour, so 0.15 / 522,000 × 1e6 = $0.287
    per M; an RTX 4090 at $0.30/h with our 169.07 tok/s: 0.30 / 608,652 × 1e6 = $0.493.
    The table must come in the order of these hand-computed figures, offers of GPUs
    without any result last."""
    assert per_million(0.15, 145.0) == pytest.approx(0.2874, abs=1e-4)
    assert per_million(0.30, MEASURED_TPS) == pytest.approx(0.4929, abs=1e-4)
    app = run_app(app_env, bench_warehouse)

    app.selectbox(key="sort").set_value(SORT_OPTION).run()
    app.number_input(key="limit").set_value(2000).run()

    assert not app.exception
    assert app.selectbox(key="tokens_model").value == MODEL
    offers = pl.from_pandas(app.dataframe[0].value)
    by_hand = [
        per_million(row["price_per_hour"], tps) if (tps := expected_tps(row["gpu_model"])) else None
        for row in offers.iter_rows(named=True)
    ]
    estimated = [cost for cost in by_hand if cost is not None]
    assert len(estimated) > 10
    assert by_hand[: len(estimated)] == estimated, "offers without evidence must come last"
    assert estimated == sorted(estimated)
    assert offers["est_dollars_per_m_tokens"].head(len(estimated)).to_list() == pytest.approx(
        estimated
    )
    assert offers["evidence"].tail(offers.height - len(estimated)).to_list() == ["none"] * (
        offers.height - len(estimated)
    )
    need = require(MODEL).min_vram_gb
    assert all(vram >= need for vram in offers["total_vram_gb"])
    notes = " ".join(caption.value for caption in app.caption)
    assert "listed last, with no estimate" in notes


def test_tokens_sort_labels_evidence_and_feeds_the_provision_form(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse)

    app.selectbox(key="gpu").set_value("RTX 4090")
    app.selectbox(key="sort").set_value(SORT_OPTION).run()

    offers = pl.from_pandas(app.dataframe[0].value)
    assert offers.height > 0
    assert set(offers["gpu_model"]) == {"RTX 4090"}
    assert set(offers["evidence"]) == {"measured n=1"}
    assert offers["est_tokens_per_second"].unique().to_list() == [MEASURED_TPS]
    assert offers["price_per_hour"].to_list() == sorted(offers["price_per_hour"])
    labels = app.selectbox(key="provision_offer").options  # "<id> — <GPU> x1, $/h, country"
    assert [label.split(" — ")[0] for label in labels] == offers["id"].to_list()

    app.selectbox(key="tokens_model").set_value("deepseek-r1:32b").run()
    published = set(app.dataframe[0].value["evidence"])
    assert published == {"published (reference)"}


def test_tokens_sort_notes_offers_too_small_for_the_model(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse)

    app.selectbox(key="sort").set_value(SORT_OPTION).run()
    app.selectbox(key="tokens_model").set_value("deepseek-r1:32b").run()

    need = require("deepseek-r1:32b").min_vram_gb
    notes = " ".join(caption.value for caption in app.caption)
    assert f"cannot hold deepseek-r1:32b ({need:g} GB)" in notes
    assert all(vram >= need for vram in app.dataframe[0].value["total_vram_gb"].tolist())


def test_other_sorts_keep_the_plain_table(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse)

    app.selectbox(key="sort").set_value("vram").run()

    offers = app.dataframe[0].value
    assert "est_dollars_per_m_tokens" not in offers.columns
    vram = offers["total_vram_gb"].tolist()
    assert vram == sorted(vram, reverse=True)
    assert not any(box.key == "tokens_model" for box in app.selectbox)
