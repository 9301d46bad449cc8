"""The sandbox market: deterministic, realistically churning, priced from the real data."""

import statistics
import time

import pytest

from shopper_pipelines.sandbox.market import Market
from shopper_pipelines.sandbox.oddities import BAD_KINDS

SMALL = 1200


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(0, vast_offer_count=SMALL)


def _ids(offers: list[dict]) -> set[int]:
    return {offer["id"] for offer in offers}


def _usable(offer: dict) -> bool:
    return bool(offer["gpu_name"]) and offer["num_gpus"] > 0 and (offer["dph_base"] or 0) > 0


def test_market_same_seed_and_tick_gives_identical_offers(market: Market) -> None:
    again = Market(0, vast_offer_count=SMALL)
    assert again.vast_offers(7) == market.vast_offers(7)
    assert again.tensordock_locations(7) == market.tensordock_locations(7)
    assert again.tensordock_hostnodes(7) == market.tensordock_hostnodes(7)


def test_market_different_seed_gives_different_offers(market: Market) -> None:
    other = Market(1, vast_offer_count=SMALL)
    assert other.vast_offers(0) != market.vast_offers(0)
    assert other.tensordock_locations(0) != market.tensordock_locations(0)


def test_market_one_tick_churns_only_a_few_ids(market: Market) -> None:
    before, after = _ids(market.vast_offers(10)), _ids(market.vast_offers(11))
    survived = len(before & after) / len(before)
    assert 0.9 <= survived < 1.0
    assert 0 < len(after - before) < 0.1 * len(after)


def test_market_one_tick_reprices_only_a_few_offers(market: Market) -> None:
    before = {offer["id"]: offer["dph_total"] for offer in market.vast_offers(20)}
    after = [offer for offer in market.vast_offers(21) if offer["id"] in before]
    changed = sum(1 for offer in after if offer["dph_total"] != before[offer["id"]])
    assert 0 < changed < 0.1 * len(after)


def test_market_offer_count_follows_the_setting() -> None:
    for count in (300, 3000):
        listed = len(Market(2, vast_offer_count=count).vast_offers(0))
        assert 0.9 * count <= listed <= 1.1 * count


def test_market_rtx_4090_prices_come_from_catalog_levels(market: Market) -> None:
    median = next(v for v in market.data.variants if v.name == "RTX 4090").median_per_gpu
    prices = [
        offer["dph_base"] / offer["num_gpus"]
        for tick in (0, 300, 600)
        for offer in market.vast_offers(tick)
        if offer["gpu_name"] == "RTX 4090" and _usable(offer)
    ]
    assert any(price <= 0.5 for price in prices)
    assert all(0.5 * median <= price <= 1.6 * median for price in prices)
    assert 0.3 <= statistics.median(prices) <= 0.5


def test_market_every_price_stays_near_its_variant_level(market: Market) -> None:
    medians = {variant.name: variant.median_per_gpu for variant in market.data.variants}
    for offer in market.vast_offers(0):
        if _usable(offer) and offer["gpu_name"] in medians:
            ratio = offer["dph_base"] / offer["num_gpus"] / medians[offer["gpu_name"]]
            assert 0.5 <= ratio <= 1.6, offer["id"]


def test_market_dph_total_adds_five_gb_of_storage(market: Market) -> None:
    for offer in market.vast_offers(0)[:200]:
        if offer["dph_base"] is not None:
            expected = offer["dph_base"] + 5.0 * offer["storage_cost"] / 720
            assert offer["dph_total"] == pytest.approx(expected)
            assert offer["search"]["totalHour"] == offer["dph_total"]


def test_market_odd_records_present_every_tick(market: Market) -> None:
    for tick in (0, 1, 500):
        offers = market.vast_offers(tick)
        names = {offer["gpu_name"] for offer in offers}
        assert {"GeForce RTX 4090", "RTX_4090", "NVIDIA A100-SXM4-80GB", "Tesla V100"} <= names
        assert any(offer["geolocation"] is None for offer in offers)
        assert any(offer["cuda_max_good"] is None for offer in offers)
        assert any(offer["reliability2"] is None for offer in offers)
        assert any(offer["inet_up"] is None for offer in offers)
        assert any(
            offer["gpu_ram"] == 49140 and offer["geolocation"] == "Hong Kong, HK"
            for offer in offers
        )
        assert {2, 4, 8} <= {offer["num_gpus"] for offer in offers}


def test_market_bad_records_are_few_and_present(market: Market) -> None:
    offers = market.vast_offers(0)
    bad = [offer for offer in offers if not _usable(offer)]
    assert len(bad) >= len(BAD_KINDS)
    assert len(bad) < 0.01 * len(offers)
    assert any(offer["num_gpus"] == 0 for offer in bad)
    assert any(offer["dph_total"] is None for offer in bad)
    assert any((offer["dph_total"] or 0) < 0 for offer in bad)
    assert any(offer["gpu_name"] is None for offer in bad)


def test_market_public_ips_are_documentation_addresses(market: Market) -> None:
    for offer in market.vast_offers(0):
        assert offer["public_ipaddr"].startswith(("203.0.113.", "198.51.100."))


def test_market_tensordock_locations_have_real_prices(market: Market) -> None:
    locations = market.tensordock_locations(0)
    offers = [(place, gpu) for place in locations for gpu in place["gpus"]]
    assert 100 <= len(offers) <= 300
    assert any(place["city"] == "Chubbuck" for place in locations)
    for _place, gpu in offers:
        if gpu["v0Name"] == "geforcertx4090-pcie-24gb":
            assert 0.33 <= gpu["price_per_hr"] <= 0.47
        assert set(gpu) >= {"displayName", "max_count", "resources", "pricing"}
    node = market.tensordock_hostnodes(0)[0]
    assert set(node["available_resources"]) >= {"gpus", "vcpu_count", "available_ports"}


def test_market_ten_thousand_offers_build_quickly() -> None:
    big = Market(5, vast_offer_count=10_000)
    started = time.perf_counter()
    offers = big.vast_offers(0)
    first = time.perf_counter() - started
    started = time.perf_counter()
    big.vast_offers(1)
    next_tick = time.perf_counter() - started
    print(f"10k offers: first tick {first:.3f}s, next tick {next_tick:.3f}s")
    assert len(offers) >= 9_000
    assert first < 2.0 and next_tick < 0.5
