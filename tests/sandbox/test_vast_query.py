"""Vast's search language as the sandbox applies it."""

import pytest

from shopper_pipelines.sandbox.market import Market
from shopper_pipelines.sandbox.vast_query import DEFAULT_LIMIT, QueryError, parse_query, run_query


@pytest.fixture(scope="module")
def offers() -> list[dict]:
    return Market(3, vast_offer_count=1500).vast_offers(0)


def _run(offers: list[dict], query: dict) -> list[dict]:
    return run_query(offers, parse_query(query))


def test_query_operators_filter_as_named(offers: list[dict]) -> None:
    found = _run(offers, {"num_gpus": {"gte": 2, "lt": 8}, "limit": 10_000})
    assert found and all(2 <= offer["num_gpus"] < 8 for offer in found)
    names = ["RTX 4090", "H100 SXM"]
    found = _run(offers, {"gpu_name": {"in": names}, "limit": 10_000})
    assert {offer["gpu_name"] for offer in found} == set(names)
    found = _run(offers, {"gpu_name": {"notin": names}, "limit": 10_000})
    assert found and not {offer["gpu_name"] for offer in found} & set(names)
    found = _run(offers, {"gpu_name": {"neq": "RTX 4090"}, "dph_total": {"lte": 0.3}})
    assert all(offer["gpu_name"] != "RTX 4090" and offer["dph_total"] <= 0.3 for offer in found)
    assert _run(offers, {"no_such_field": {"eq": 1}}) == []


def test_query_virtual_keys_verified_geolocation_external(offers: list[dict]) -> None:
    verified = _run(offers, {"verified": {"eq": True}, "external": {"eq": False}, "limit": 9999})
    assert verified and all(offer["verification"] == "verified" for offer in verified)
    found = _run(offers, {"geolocation": {"in": ["US", "CA"]}, "limit": 10_000})
    assert found and all(offer["geolocation"][-2:] in ("US", "CA") for offer in found)
    elsewhere = _run(offers, {"geolocation": {"notin": ["US", "CA"]}, "limit": 10_000})
    assert len(found) + len(elsewhere) < len(offers)  # null geolocation matches neither


def test_query_paging_by_id_returns_every_offer_once(offers: list[dict]) -> None:
    seen: list[int] = []
    last = 0
    while True:
        query = {"id": {"gt": last}, "order": [["id", "asc"]], "limit": 250}
        page = _run(offers, query)
        if not page:
            break
        seen.extend(offer["id"] for offer in page)
        last = page[-1]["id"]
    assert seen == sorted({offer["id"] for offer in offers})


def test_query_default_limit_and_cap(offers: list[dict]) -> None:
    assert len(_run(offers, {})) == DEFAULT_LIMIT
    assert parse_query({"limit": 50_000}).limit == 10_000


def test_query_order_descending_puts_nulls_last(offers: list[dict]) -> None:
    found = _run(offers, {"order": [["dph_total", "desc"]], "limit": 10_000})
    prices = [offer["dph_total"] for offer in found]
    known = [price for price in prices if price is not None]
    assert known == sorted(known, reverse=True)
    assert prices[-1] is None


def test_query_allocated_storage_reprices_dph_total(offers: list[dict]) -> None:
    found = _run(offers, {"allocated_storage": 100, "order": [["id", "asc"]], "limit": 50})
    originals = {offer["id"]: offer for offer in offers}
    for offer in found:
        if offer["dph_base"] is None:
            continue
        storage = 100 * offer["storage_cost"] / 720
        assert offer["dph_total"] == pytest.approx(offer["dph_base"] + storage)
        assert offer["storage_total_cost"] == pytest.approx(storage)
        assert offer["search"]["totalHour"] == offer["dph_total"]
        assert originals[offer["id"]]["dph_total"] != offer["dph_total"]  # source untouched


def test_query_interruptible_prices_at_min_bid(offers: list[dict]) -> None:
    for offer in _run(offers, {"type": "bid", "dph_base": {"gt": 0}}):
        assert offer["is_bid"] is True
        assert offer["dph_base"] == offer["min_bid"]


@pytest.mark.parametrize(
    "query",
    [{"limit": "many"}, {"type": "spot"}, {"num_gpus": {"near": 1}}, {"order": "id"}, []],
)
def test_query_rejects_unreadable_input(query: object) -> None:
    with pytest.raises(QueryError):
        parse_query(query)
