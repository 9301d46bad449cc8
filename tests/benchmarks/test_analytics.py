"""$/M tokens and the result queries, on a real DuckDB file with measured and published
results side by side."""

import pytest

from shopper_pipelines.benchmarks.analytics import (
    best,
    cheapest,
    compare,
    dollars_per_million_tokens,
    get_result,
    list_results,
)
from shopper_pipelines.benchmarks.store import store_result
from shopper_pipelines.errors import InvalidInputError
from tests.benchmarks.results_support import variant

RTX_3090 = "NVIDIA GeForce RTX 3090"


def test_dollars_per_million_tokens_issue_example():
    """44 tok/s × 3600 s = 158,400 tokens per hour. A million tokens take
    1,000,000 ÷ 158,400 = 6.3131 h; at $0.44/h that is 6.3131 × 0.44 = $2.7778 ≈ $2.78
    (not $0.003, which would be 0.44 ÷ (44 × 3600) × 1000: per thousand tokens)."""
    cost = dollars_per_million_tokens(0.44, 44)
    assert cost is not None
    assert round(cost, 2) == 2.78
    assert cost == pytest.approx(2.7778, abs=1e-4)


def test_dollars_per_million_tokens_more_worked_examples():
    """169.07 tok/s at $0.35/h: 169.07 × 3600 = 608,652 tokens/h;
    0.35 ÷ 608,652 × 1,000,000 = $0.5750.
    3.6 tok/s at $0.08/h (deepseek-r1:32b spilling out of a 3090): 3.6 × 3600 = 12,960
    tokens/h; 0.08 ÷ 12,960 × 1,000,000 = $6.1728."""
    assert dollars_per_million_tokens(0.35, 169.07) == pytest.approx(0.5750, abs=1e-4)
    assert dollars_per_million_tokens(0.08, 3.6) == pytest.approx(6.1728, abs=1e-4)


@pytest.mark.parametrize(
    ("price", "tps"),
    [(0.44, None), (0.44, 0.0), (0.44, -5.0), (None, 44.0), (0.44, float("nan"))],
)
def test_dollars_per_million_tokens_is_none_without_a_usable_rate(price, tps):
    assert dollars_per_million_tokens(price, tps) is None


@pytest.fixture
def measured(db_path):
    """llama3.1:8b measured three times on RTX 4090 and twice on RTX 3090, plus one
    degenerate run; the published reference rows come along."""
    ids = {
        "4090_fast": store_result(db_path, variant(tps=171.0), "vastai", 0.40),
        "4090_mid": store_result(db_path, variant(tps=169.0), "tensordock", 0.44),
        "4090_slow": store_result(db_path, variant(tps=160.0), "vastai", 0.36),
        "3090_a": store_result(db_path, variant(gpu_name=RTX_3090, tps=140.0), "vastai", 0.20),
        "3090_b": store_result(db_path, variant(gpu_name=RTX_3090, tps=150.0), "vastai", 0.22),
        "broken": store_result(db_path, variant(tps=0.0), "vastai", 0.10),
    }
    return ids


def test_list_results_leaves_invalid_out_and_marks_the_source(db_path, measured):
    frame = list_results(db_path, model="llama3.1:8b")
    assert measured["broken"] not in frame["result_id"].to_list()
    assert set(frame["source"]) == {"measured", "published"}
    sources = frame["source"].to_list()
    assert sources.index("published") > max(i for i, s in enumerate(sources) if s == "measured")
    everything = list_results(db_path, model="llama3.1:8b", include_invalid=True)
    assert measured["broken"] in everything["result_id"].to_list()
    only_ours = list_results(db_path, model="llama3.1:8b", source="measured")
    assert only_ours.height == 5


def test_list_results_filters_by_gpu_spelling(db_path, measured):
    frame = list_results(db_path, gpu="rtx_3090", source="measured")
    assert sorted(frame["result_id"].to_list()) == sorted([measured["3090_a"], measured["3090_b"]])


def test_best_prefers_measured_and_picks_the_highest_rate(db_path, measured):
    top = best(db_path, "llama3.1:8b")
    assert top is not None
    assert (top["result_id"], top["source"], top["tokens_per_second"]) == (
        measured["4090_fast"], "measured", 171.0
    )  # fmt: skip
    reference = best(db_path, "llama3.1:8b", "published")
    assert reference is not None and reference["source"] == "published"


def test_cheapest_is_the_lowest_dollars_per_million(db_path, measured):
    """Measured $/M: 4090s 0.40/(171×3600)e6 = $0.650, 0.44/(169×3600)e6 = $0.723,
    0.36/(160×3600)e6 = $0.625; 3090s 0.20/(140×3600)e6 = $0.397,
    0.22/(150×3600)e6 = $0.407. The cheapest is the $0.20/h 3090."""
    top = cheapest(db_path, "llama3.1:8b")
    assert top is not None
    assert top["result_id"] == measured["3090_a"]
    assert top["dollars_per_m_tokens"] == pytest.approx(0.3968, abs=1e-4)


def test_best_falls_back_to_published_for_a_model_we_never_measured(db_path, measured):
    top = best(db_path, "deepseek-r1:14b")
    assert top is not None and top["source"] == "published"
    assert best(db_path, "llama3.2:3b") is None  # in the catalogue, no result at all


def test_compare_uses_measured_figures_where_they_exist(db_path, measured):
    """RTX 4090: measured 160, 169, 171 → median 169, range 160-171, median price $0.40,
    $/M = 0.40 ÷ (169 × 3600) × 1e6 = $0.6575. RTX 3090: 140 and 150 → median 145.
    RTX A6000 and RTX 5060 Ti have only the published figures."""
    frame = compare(db_path, "llama3.1:8b")
    rows = {row["gpu_model"]: row for row in frame.to_dicts()}
    r4090 = rows["RTX 4090"]
    assert (r4090["basis"], r4090["n_measured"], r4090["n_published"]) == ("measured", 3, 1)
    assert (r4090["tokens_per_second"], r4090["tps_low"], r4090["tps_high"]) == (169, 160, 171)
    assert r4090["price_per_hour"] == pytest.approx(0.40)
    assert r4090["dollars_per_m_tokens"] == pytest.approx(0.6575, abs=1e-4)
    assert rows["RTX 3090"]["tokens_per_second"] == 145
    assert rows["RTX A6000"]["basis"] == "published"
    assert frame["tokens_per_second"].to_list() == sorted(
        frame["tokens_per_second"].to_list(), reverse=True
    )


def test_get_result_returns_every_column(db_path, measured):
    row = get_result(db_path, measured["4090_mid"])
    assert row is not None
    assert (row["provider"], row["price_per_hour"], row["tokens_per_second"]) == (
        "tensordock", 0.44, 169.0
    )  # fmt: skip
    assert row["dollars_per_m_tokens"] == pytest.approx(0.44 / (169.0 * 3600) * 1e6)
    assert get_result(db_path, "bench-000000000000") is None


def test_unknown_model_names_the_flag_and_the_known_models(db_path, measured):
    with pytest.raises(InvalidInputError) as caught:
        best(db_path, "gpt-5")
    message = str(caught.value)
    assert message.startswith("--model 'gpt-5' is not a model we know; known:")
    assert "llama3.1:8b" in message and "mistral:7b" in message


def test_a_stored_model_outside_the_catalogue_can_be_queried(db_path):
    store_result(db_path, variant(model="qwen3:8b"), "vastai", 0.3)
    top = best(db_path, "qwen3:8b")
    assert top is not None and top["model"] == "qwen3:8b"


def test_bad_source_names_the_flag(db_path):
    with pytest.raises(InvalidInputError, match=r"^--source must be one of"):
        list_results(db_path, source="vendor")
