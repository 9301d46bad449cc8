"""Loading measured results: the contract checked at the edge, idempotent, never sunk by
one bad file. A real DuckDB file per test."""

import json
import shutil
from decimal import Decimal

import pytest

from shopper_pipelines.benchmarks.analytics import cheapest
from shopper_pipelines.benchmarks.store import (
    DUPLICATE,
    REJECTED,
    STORED,
    load_directory,
    load_result_file,
    results_partitions,
    store_result,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.warehouse import connect
from tests.benchmarks.results_support import (
    DEGENERATE,
    FIXTURES,
    GOOD,
    MALFORMED,
    good_result,
    variant,
    write,
)

PRICED = {"provider": "vastai", "price_per_hour": 0.35, "location": "Quebec, CA"}


def _row(db_path, result_id, columns="*"):
    with connect(db_path, read_only=True) as con:
        frame = con.sql(
            f"SELECT {columns} FROM benchmark_results WHERE result_id = ?", params=[result_id]
        ).pl()
    return frame.to_dicts()[0] if not frame.is_empty() else None


def _measured_count(db_path):
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FROM benchmark_results WHERE source = 'measured'"
        ).fetchone()
    return row[0] if row else 0


def test_load_directory_stores_good_keeps_degenerate_invalid_and_skips_malformed(db_path, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(FIXTURES, folder)
    nested = folder / "run-2" / "node-a"
    nested.mkdir(parents=True)
    shutil.copy(GOOD, nested / GOOD.name)  # the same result again, deeper: a duplicate
    (folder / "notes.json").write_text("{}")  # not benchmark_*.json: not read

    loaded = load_directory(db_path, folder, **PRICED)

    by_name = {(o.path or "").removeprefix(str(folder)): o for o in loaded.outcomes}
    assert [o.outcome for o in by_name.values()].count(STORED) == 2
    assert by_name[f"/{GOOD.name}"].outcome == STORED
    assert by_name[f"/{GOOD.name}"].valid is True
    assert by_name[f"/run-2/node-a/{GOOD.name}"].outcome == DUPLICATE
    degenerate = by_name[f"/{DEGENERATE.name}"]
    assert degenerate.outcome == STORED and degenerate.valid is False
    assert "no_successful_requests" in degenerate.flags
    malformed = by_name[f"/{MALFORMED.name}"]
    assert malformed.outcome == REJECTED
    assert MALFORMED.name in (malformed.message or "")
    assert "summary.tokens_per_second" in (malformed.message or "")
    assert "'169 tok/s'" in (malformed.message or "")
    summary = loaded.as_dict()
    assert (summary["stored"], summary["stored_invalid"], summary["duplicates"],
            summary["rejected"], summary["files"]) == (2, 1, 1, 1, 4)  # fmt: skip
    assert _measured_count(db_path) == 2


def test_stored_row_carries_the_file_facts_in_warehouse_types(db_path):
    outcome = load_result_file(db_path, GOOD, **PRICED, run_id="run-1", session_id="ses-1")
    source = json.loads(GOOD.read_text())
    row = _row(db_path, outcome.result_id or "")
    assert row is not None
    assert row["result_id"] == source["benchmark_id"] == "bench-3f9a2c71d04e"
    assert (row["source"], row["run_id"], row["session_id"]) == ("measured", "run-1", "ses-1")
    assert (row["gpu_model"], row["gpu_name_raw"], row["gpu_count"]) == (
        "RTX 4090", "NVIDIA GeForce RTX 4090", 1
    )  # fmt: skip
    assert row["vram_gb"] == round(source["host"]["gpus"][0]["memory_total_mib"] / 1024, 1)
    assert row["tokens_per_second"] == source["summary"]["tokens_per_second"]
    assert row["ttft_ms_p95"] == source["summary"]["ttft_ms_p95"]
    assert row["quality_match_rate"] == source["summary"]["quality_match_rate"]
    assert row["gpu_samples"] == source["gpu_stats"]["samples"]
    assert row["gpu_power_w_max"] == source["gpu_stats"]["power_w_max"]
    assert row["price_per_hour"] == Decimal("0.350000")
    assert row["measured_at"].isoformat().startswith("2026-12-04T16:02:45")
    assert row["measured_at"].utcoffset().total_seconds() == 0
    assert (row["provider"], row["location"], row["valid"]) == ("vastai", "Quebec, CA", True)
    assert json.loads(row["raw"]) == source


def test_loading_a_file_twice_is_a_duplicate_not_a_second_row(db_path):
    first = load_result_file(db_path, GOOD, **PRICED)
    again = load_result_file(db_path, GOOD, **PRICED)
    assert (first.outcome, again.outcome) == (STORED, DUPLICATE)
    assert _measured_count(db_path) == 1


def test_runner_dict_then_the_same_file_is_a_duplicate(db_path):
    result_id = store_result(db_path, good_result(), "tensordock", Decimal("0.44"))
    assert result_id == "bench-3f9a2c71d04e"
    assert store_result(db_path, good_result(), "tensordock", Decimal("0.44")) == result_id
    assert load_result_file(db_path, GOOD, **PRICED).outcome == DUPLICATE
    assert _measured_count(db_path) == 1


def test_same_id_with_different_content_is_refused(db_path, tmp_path):
    load_result_file(db_path, GOOD, **PRICED)
    changed = good_result()
    changed["summary"]["tokens_per_second"] = 12.0
    path = write(tmp_path, changed, "benchmark_changed.json")
    outcome = load_result_file(db_path, path, **PRICED)
    assert outcome.outcome == REJECTED
    assert "bench-3f9a2c71d04e" in (outcome.message or "")
    assert _row(db_path, "bench-3f9a2c71d04e", "tokens_per_second") == {"tokens_per_second": 169.07}
    with pytest.raises(InvalidInputError, match="already stored with different content"):
        store_result(db_path, changed, "vastai", 0.35)


@pytest.mark.parametrize("tps", [0.0, 90_000.0, None])
def test_loader_marks_degenerate_rates_invalid_even_when_the_file_says_valid(db_path, tps):
    flag = "degenerate_tps"
    result = variant(tps=tps)
    assert result["valid"] is True
    result_id = store_result(db_path, result, "vastai", 0.35)
    row = _row(db_path, result_id, "valid, flags")
    assert row is not None
    assert row["valid"] is False
    assert flag in json.loads(row["flags"])


def test_gpu_model_is_canonical_from_host_gpus(db_path):
    h100 = store_result(db_path, variant(gpu_name="NVIDIA H100 80GB HBM3", gpus=2,
                                         memory_mib=81559), "vastai", 4.2)  # fmt: skip
    assert _row(db_path, h100, "gpu_model, gpu_count, vram_gb") == {
        "gpu_model": "H100 SXM", "gpu_count": 2, "vram_gb": 79.6
    }  # fmt: skip
    no_gpu = variant()
    no_gpu["host"]["gpus"] = []
    unknown = store_result(db_path, no_gpu, "vastai", 0.35)
    row = _row(db_path, unknown, "gpu_model, valid, flags")
    assert row is not None
    assert (row["gpu_model"], row["valid"]) == ("unknown", False)
    assert "no_gpu_info" in json.loads(row["flags"])


def test_a_gpu_no_catalogue_knows_is_stored_but_left_out_of_the_rankings(db_path):
    """Bug: a result from a GPU named "Potato 9000" loaded as valid and became the
    cheapest $/M for its model, a card nobody can rent. It is now flagged unknown_gpu,
    stored invalid and left out of `cheapest` (the real RTX 4090 result answers)."""
    real = store_result(db_path, variant(tps=100.0), "vastai", 0.35)
    potato = store_result(db_path, variant(gpu_name="Potato 9000", tps=5000.0), "other", 0.01)
    row = _row(db_path, potato, "gpu_model, valid, flags")
    assert row is not None and (row["gpu_model"], row["valid"]) == ("Potato 9000", False)
    assert "unknown_gpu" in json.loads(row["flags"])
    pick = cheapest(db_path, "llama3.1:8b", source="measured")
    assert pick is not None and pick["result_id"] == real


@pytest.mark.parametrize(
    ("gpus", "memory_mib", "flag"),
    [
        (["Potato 9000", "NVIDIA GeForce RTX 3060"], 12288, "unknown_gpu"),
        (["NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 3090"], 12288, "mixed_gpus"),
        (["NVIDIA H100 80GB HBM3"], 24564, "vram_mismatch"),
    ],
)
def test_results_whose_gpus_do_not_add_up_are_left_out(db_path, gpus, memory_mib, flag):
    """Bug: the unknown_gpu check looked only at the most common name, so an unknown card
    beside a known one (or two different cards) loaded as valid and won `cheapest`; an
    "H100" with 24 GB of memory was stored as an H100. Each is now flagged and invalid."""
    result = variant(tps=900.0)
    result["host"]["gpus"] = [
        {"index": i, "name": name, "memory_total_mib": memory_mib, "driver_version": "550.1"}
        for i, name in enumerate(gpus)
    ]
    result_id = store_result(db_path, result, "other", 0.01)
    row = _row(db_path, result_id, "valid, flags")
    assert row is not None and row["valid"] is False
    assert flag in json.loads(row["flags"])
    assert cheapest(db_path, "llama3.1:8b", source="measured") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(schema_version=2), "schema_version"),
        (lambda r: r.pop("summary"), "summary"),
        (lambda r: r.update(benchmark_id="run-42"), "benchmark_id"),
        (lambda r: r.update(status="great"), "status"),
        (lambda r: r.update(runtime="vllm"), "runtime"),
        (lambda r: r.update(started_at="yesterday"), "started_at"),
        (lambda r: r.update(finished_at="2026-12-04T16:02:45"), "finished_at"),
        (lambda r: r["summary"].update(successful=-1), "summary.successful"),
        (lambda r: r["host"]["gpus"][0].update(name=""), "host.gpus[0].name"),
        (lambda r: r["gpu_stats"].update(power_w_max="300W"), "gpu_stats.power_w_max"),
        (lambda r: r.update(errors=[{"message": "x"}]), "errors[0].type"),
    ],
)
def test_contract_errors_name_the_file_and_the_field(db_path, tmp_path, change, field):
    result = good_result()
    change(result)
    path = write(tmp_path, result, "benchmark_bad.json")
    with pytest.raises(InvalidInputError) as caught:
        load_result_file(db_path, path, **PRICED)
    message = str(caught.value)
    assert str(path) in message
    assert f"field {field} " in message


def test_a_file_that_is_not_json_is_rejected_with_its_name(db_path, tmp_path):
    path = tmp_path / "benchmark_cut.json"
    path.write_text(GOOD.read_text()[:300])
    with pytest.raises(InvalidInputError, match=r"benchmark_cut\.json: not valid JSON"):
        load_result_file(db_path, path, **PRICED)


@pytest.mark.parametrize(
    ("provider", "price", "location", "flag"),
    [
        ("runpod", 0.35, None, "--provider"),
        ("vastai", 0, None, "--price"),
        ("vastai", -0.2, None, "--price"),
        ("vastai", float("nan"), None, "--price"),
        ("vastai", 35_000, None, "--price"),
        ("vastai", 0.35, "  ", "--location"),
    ],
)
def test_pricing_is_checked_before_any_file_is_read(db_path, provider, price, location, flag):
    with pytest.raises(InvalidInputError, match=f"^{flag} ") as caught:
        load_directory(db_path, FIXTURES, provider=provider, price_per_hour=price,
                       location=location)  # fmt: skip
    assert "got" in str(caught.value)
    assert not db_path.exists()


def test_other_provider_is_accepted_and_names_are_normalised(db_path):
    outcome = load_result_file(db_path, GOOD, provider=" Other ", price_per_hour=Decimal("0.5"),
                               location="home lab")  # fmt: skip
    assert _row(db_path, outcome.result_id or "", "provider, price_per_hour") == {
        "provider": "other", "price_per_hour": Decimal("0.500000")
    }  # fmt: skip


def test_load_directory_that_is_not_a_folder(db_path, tmp_path):
    with pytest.raises(InvalidInputError, match="is not a folder"):
        load_directory(db_path, tmp_path / "missing", **PRICED)


def test_results_partitions_are_the_measured_gpu_model_pairs(db_path):
    assert results_partitions(db_path) == []
    store_result(db_path, variant(), "vastai", 0.35)
    store_result(db_path, variant(), "vastai", 0.35)
    store_result(db_path, variant(gpu_name="NVIDIA GeForce RTX 3090", model="mistral:7b"),
                 "vastai", 0.2)  # fmt: skip
    assert results_partitions(db_path) == [
        ("RTX 3090", "mistral:7b"), ("RTX 4090", "llama3.1:8b")
    ]  # fmt: skip
