"""Recommendations and the live offer ranking, against offers ingested from the real
sandbox marketplace over HTTP into a real DuckDB file."""

import pytest

from shopper_pipelines.benchmarks.advice import (
    current_gpu_prices,
    rank_offers_for_model,
    recommend,
)
from shopper_pipelines.benchmarks.analytics import compare, dollars_per_million_tokens
from shopper_pipelines.benchmarks.llm_models import require
from shopper_pipelines.benchmarks.store import store_result
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.search import OfferFilters
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.settings import load_settings
from tests.benchmarks.results_support import variant


@pytest.fixture(scope="module")
def market(tmp_path_factory, sandbox_url):
    """Current sandbox offers, two measured RTX 4090 runs of llama3.1:8b (160 and 171
    tok/s, median 165.5) and the published reference rows. Tests only read it."""
    db_path = tmp_path_factory.mktemp("market") / "warehouse.duckdb"
    outcomes = ingest(load_settings(database_path=db_path, sandbox_url=sandbox_url,
                                    http_max_attempts=3))  # fmt: skip
    assert all(outcome.snapshot.status == "ok" for outcome in outcomes)
    store_result(db_path, variant(tps=171.0), "vastai", 0.40)
    store_result(db_path, variant(tps=160.0), "vastai", 0.40)
    return db_path


def test_ranked_offers_estimate_dollars_per_million_from_their_gpu_evidence(market):
    ranking = rank_offers_for_model(market, "llama3.1:8b", limit=10_000)
    offers = ranking.offers.to_dicts()
    assert ranking.matched == len(offers) > 0
    assert 0 < ranking.with_evidence < ranking.matched
    evidence = {row["gpu_model"]: row for row in compare(market, "llama3.1:8b").to_dicts()}
    rtx4090 = [offer for offer in offers if offer["gpu_model"] == "RTX 4090"]
    assert rtx4090
    for offer in rtx4090:
        assert offer["evidence"] == "measured n=2"
        assert offer["est_tokens_per_second"] == 165.5
        assert offer["est_dollars_per_m_tokens"] == pytest.approx(
            offer["price_per_hour"] / (165.5 * 3600) * 1e6
        )
    rtx3090 = next(offer for offer in offers if offer["gpu_model"] == "RTX 3090")
    assert rtx3090["evidence"] == "published"
    assert rtx3090["est_tokens_per_second"] == evidence["RTX 3090"]["tokens_per_second"]
    estimated = [o["est_dollars_per_m_tokens"] for o in offers if o["evidence"] != "none"]
    assert estimated == sorted(estimated)
    first_none = next(i for i, o in enumerate(offers) if o["evidence"] == "none")
    assert all(o["evidence"] == "none" for o in offers[first_none:])
    assert all(o["est_dollars_per_m_tokens"] is None for o in offers[first_none:])


def test_offers_that_cannot_hold_the_model_are_left_out_and_counted(market):
    need = require("llama3.1:70b").min_vram_gb
    ranking = rank_offers_for_model(market, "llama3.1:70b", limit=10_000)
    assert ranking.vram_needed_gb == need
    assert ranking.excluded_for_vram > 0
    assert all(offer["total_vram_gb"] >= need for offer in ranking.offers.to_dicts())
    everything = rank_offers_for_model(market, "llama3.2:3b", limit=10_000)
    assert ranking.matched + ranking.excluded_for_vram == (
        everything.matched + everything.excluded_for_vram
    )


def test_a_variant_borrows_its_family_evidence_and_says_so(market):
    """The published data names 'A100 80GB' (canonical family 'A100'); the sandbox
    lists A100 SXM4 and A100 PCIe offers, which use it and say where it came from."""
    ranking = rank_offers_for_model(market, "deepseek-r1:14b", OfferFilters(gpu="A100"),
                                    limit=50)  # fmt: skip
    offers = ranking.offers.to_dicts()
    assert offers
    assert {offer["evidence"] for offer in offers} == {"published (A100)"}


def test_ranking_honours_the_inventory_filters(market):
    ranking = rank_offers_for_model(
        market, "llama3.1:8b", OfferFilters(provider="tensordock", max_price=0.5), limit=100
    )
    offers = ranking.offers.to_dicts()
    assert offers
    assert all(o["provider"] == "tensordock" and o["price_per_hour"] <= 0.5 for o in offers)


def test_recommend_prices_gpu_types_at_the_live_median(market):
    frame = recommend(market, "llama3.1:8b")
    rows = {row["gpu_model"]: row for row in frame.to_dicts()}
    prices = current_gpu_prices(market, require("llama3.1:8b").min_vram_gb)
    r4090 = rows["RTX 4090"]
    assert (r4090["evidence"], r4090["price_basis"]) == ("measured n=2", "live median")
    assert r4090["live_offers"] == prices["RTX 4090"]["offers"]
    assert r4090["price_per_hour"] == pytest.approx(prices["RTX 4090"]["median"])
    assert r4090["dollars_per_m_tokens"] == pytest.approx(
        dollars_per_million_tokens(prices["RTX 4090"]["median"], 165.5)
    )
    assert "2 measured runs" in r4090["reason"]
    assert rows["RTX 3090"]["evidence"] == "published"
    assert "not measured by us" in rows["RTX 3090"]["reason"]
    costs = frame["dollars_per_m_tokens"].to_list()
    assert costs == sorted(costs)
    assert frame["rank"].to_list() == list(range(1, frame.height + 1))


def test_recommend_applies_the_budget_and_the_vram_need(market):
    cheap = recommend(market, "llama3.1:8b", max_price_per_hour=0.3)
    assert cheap.height > 0
    assert all(price <= 0.3 for price in cheap["price_per_hour"].to_list())
    assert "RTX 4090" not in cheap["gpu_model"].to_list()  # its live median is above 0.3
    big = recommend(market, "llama3.1:8b", min_vram_gb=40)
    assert big["gpu_model"].to_list() == ["RTX A6000"]


def test_recommend_without_offers_uses_the_benchmark_price(db_path):
    store_result(db_path, variant(tps=171.0), "vastai", 0.40)
    rows = {row["gpu_model"]: row for row in recommend(db_path, "llama3.1:8b").to_dicts()}
    assert rows["RTX 4090"]["price_basis"] == "benchmark"
    assert rows["RTX 4090"]["live_offers"] == 0
    assert rows["RTX 4090"]["price_per_hour"] == pytest.approx(0.40)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"max_price_per_hour": 0}, "--max-price"), ({"min_vram_gb": -1}, "--vram")],
)
def test_recommend_rejects_bad_limits(db_path, kwargs, flag):
    with pytest.raises(InvalidInputError, match=f"^{flag} must be"):
        recommend(db_path, "llama3.1:8b", **kwargs)


def test_unknown_model_in_the_ranking_names_the_flag(db_path):
    with pytest.raises(InvalidInputError, match=r"^--model 'llama9:1t' is not a model we know"):
        rank_offers_for_model(db_path, "llama9:1t")
