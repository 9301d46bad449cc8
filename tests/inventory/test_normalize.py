import copy

import pytest

from shopper_pipelines.inventory.normalize import normalise


def test_normalise_vast_real_sample_units_and_prices(vast_sample):
    batch = normalise("vastai", vast_sample, disk_gb=5)
    assert batch.skipped == {}
    first, _, multi = batch.offers
    # The sample was priced by Vast for 5 GB: our all-in price must match its dph_total.
    assert first.price_per_hour == pytest.approx(vast_sample[0]["dph_total"], abs=1e-6)
    assert first.interruptible_price_per_hour == pytest.approx(
        vast_sample[0]["min_bid"] + 5 * vast_sample[0]["storage_cost"] / 720, abs=1e-6
    )
    assert (first.gpu_model, first.vram_gb, first.country, first.region) == (
        "A100 SXM4",
        40.0,
        "CA",
        "Alberta",
    )
    assert (multi.gpu_count, multi.vram_gb, multi.total_vram_gb) == (4, 80.0, 320.0)
    assert first.offer_key == f"vastai:{vast_sample[0]['id']}"
    assert first.raw is vast_sample[0]


def test_normalise_vast_reprices_for_requested_disk(vast_sample):
    record = vast_sample[0]
    offer = normalise("vastai", [record], disk_gb=100).offers[0]
    expected = record["dph_base"] + 100 * record["storage_cost"] / 720
    assert offer.price_per_hour == pytest.approx(expected, abs=1e-6)
    assert offer.disk_gb == 100


def test_normalise_vast_null_fields_keep_the_offer(vast_sample):
    record = copy.deepcopy(vast_sample[0])
    for field in ("geolocation", "cuda_max_good", "reliability2", "reliability", "inet_up"):
        record[field] = None
    record["gpu_ram"] = None  # recovered from gpu_total_ram
    offer = normalise("vastai", [record], disk_gb=5).offers[0]
    assert offer.country is None and offer.location is None
    assert offer.cuda_version is None and offer.reliability is None
    assert offer.vram_gb == 40.0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"num_gpus": 0}, "gpu count not a positive integer"),
        ({"gpu_name": None}, "gpu name missing"),
        ({"dph_base": None, "dph_total": None}, "price missing"),
        ({"dph_base": -0.3, "storage_cost": 0}, "price not positive"),
        ({"id": "abc"}, "offer id missing"),
        ({"gpu_ram": None, "gpu_total_ram": None}, "gpu memory missing"),
    ],
)
def test_normalise_vast_bad_record_is_skipped_and_counted(vast_sample, change, reason):
    bad = {**copy.deepcopy(vast_sample[0]), **change}
    batch = normalise("vastai", [bad, vast_sample[1], "not a dict"], disk_gb=5)
    assert [offer.provider_offer_id for offer in batch.offers] == [str(vast_sample[1]["id"])]
    assert batch.skipped == {reason: 1, "not an object": 1}


def test_normalise_vast_duplicate_ids_counted_once(vast_sample):
    batch = normalise("vastai", [vast_sample[0], vast_sample[0]], disk_gb=5)
    assert len(batch.offers) == 1
    assert batch.skipped == {"duplicate offer id": 1}


def test_normalise_tensordock_real_location_one_offer_per_gpu_count(tensordock_locations_body):
    location = tensordock_locations_body["data"]["locations"][0]
    site = {key: value for key, value in location.items() if key != "gpus"}
    records = [{"location": site, "gpu": gpu} for gpu in location["gpus"]]
    batch = normalise("tensordock", records, disk_gb=50)
    assert [offer.gpu_count for offer in batch.offers] == [1, 2, 4]  # max_count is 4
    one = batch.offers[0]
    assert (one.gpu_model, one.vram_gb, one.country, one.region) == (
        "RTX 4090",
        24.0,
        "US",
        "Idaho",
    )
    assert one.price_per_hour == pytest.approx(0.3966)  # the sample omits per-unit pricing
    assert one.disk_gb == 100  # TensorDock's minimum disk


def test_normalise_tensordock_adds_cpu_ram_and_disk_pricing():
    record = {
        "location": {"id": "loc-1", "city": "Berlin", "country": "Germany"},
        "gpu": {
            "v0Name": "rtxa6000-pcie-48gb",
            "displayName": "NVIDIA RTX A6000 PCIe 48GB",
            "max_count": 1,
            "price_per_hr": 0.40,
            "resources": {"max_vcpus": 4, "max_ram_gb": 64, "max_storage_gb": 2000},
            "pricing": {"per_vcpu_hr": 0.003, "per_gb_ram_hr": 0.002, "per_gb_storage_hr": 5e-5},
        },
    }
    offer = normalise("tensordock", [record], disk_gb=200).offers[0]
    # 1 GPU + 4 vCPUs (capped by max_vcpus) + 32 GB RAM + 200 GB disk
    assert offer.price_per_hour == pytest.approx(0.40 + 4 * 0.003 + 32 * 0.002 + 200 * 5e-5)
    assert (offer.gpu_model, offer.vram_gb, offer.country) == ("RTX A6000", 48.0, "DE")


def test_normalise_tensordock_bad_record_is_skipped():
    batch = normalise(
        "tensordock",
        [{"location": {"id": "x"}, "gpu": {"v0Name": "geforcertx4090-pcie-24gb"}}, {}],
        disk_gb=100,
    )
    assert batch.offers == []
    assert batch.skipped == {"price_per_hr missing": 1, "location or gpu missing": 1}
