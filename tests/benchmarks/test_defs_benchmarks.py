"""Benchmarks' Dagster job, assets and sensor, run in-process against the sandbox with a
real DuckDB file."""

import httpx
import pytest
from dagster import (
    DagsterInstance,
    MultiPartitionKey,
    SensorResult,
    build_sensor_context,
    materialize,
)

from shopper_pipelines.benchmarks import runner_store
from shopper_pipelines.benchmarks.defs import (
    benchmark_results,
    benchmark_results_sensor,
    benchmark_run_job,
    published_benchmarks,
)
from shopper_pipelines.benchmarks.runner import start_run
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.resources import ShopperSettings
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.settings import get_settings
from shopper_pipelines.warehouse import connect


@pytest.fixture
def world(tmp_path, monkeypatch):
    with running_sandbox(seed=43, boot_seconds=0.2, workdir=tmp_path / "inst",
                         inference_speed=10) as url:  # fmt: skip
        for name, value in {
            "DATABASE_PATH": str(tmp_path / "w.duckdb"), "SANDBOX_URL": url,
            "DEPLOYMENT_ID": "dagbench", "READINESS_TIMEOUT": "20s",
            "SSH_POLL_INTERVAL_S": "0.2", "DESTROY_BACKOFF_S": "0.05",
            "BENCHMARK_RESULTS_DIR": str(tmp_path / "results"),
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        ingest(settings)
        yield settings, url
        get_settings.cache_clear()


def _run_config(**values):
    return {"ops": {"benchmark_run_op": {"config": values}}}


def _sensor(instance, cursor=None) -> SensorResult:
    result = benchmark_results_sensor(build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, SensorResult)
    return result


def test_run_job_then_sensor_then_results_partition(world):
    settings, url = world
    with DagsterInstance.ephemeral() as instance:
        ran = benchmark_run_job.execute_in_process(
            run_config=_run_config(models=["llama3.1:8b"], gpus=["RTX 4090"], max_budget=1.0,
                                   duration="3s", providers=["vastai"]),
            instance=instance, resources={"shopper": ShopperSettings()},
        )  # fmt: skip
        assert ran.success
        run_id = ran.output_for_node("benchmark_run_op")
        assert instance.get_dynamic_partitions("benchmark_runs") == [run_id]
        [record] = [
            e.event_specific_data.materialization  # type: ignore[union-attr]
            for e in ran.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        ]
        assert record.partition == run_id
        assert record.metadata["status"].value == "completed"
        assert record.metadata["items_done"].value == 1
        live = httpx.get(f"{url}/_sandbox/instances").json()["instances"]
        assert [i["destroyed"] for i in live] == [True]

        # A run started from the CLI (queued here) joins the runs' partitions too.
        queued = start_run(settings, BenchmarkPlan.parse(
            models="mistral:7b", gpus="RTX 3090", max_budget=1, duration="3s"))  # fmt: skip
        first = _sensor(instance)
        adds = {r.partitions_def_name: list(r.partition_keys or [])
                for r in first.dynamic_partitions_requests or []}  # fmt: skip
        assert adds == {"benchmark_gpus": ["RTX 4090"], "benchmark_models": ["llama3.1:8b"],
                        "benchmark_runs": [queued]}  # fmt: skip
        [request] = first.run_requests or []
        key = MultiPartitionKey({"gpu": "RTX 4090", "model": "llama3.1:8b"})
        assert request.partition_key == key
        for name, keys in adds.items():
            instance.add_dynamic_partitions(name, keys)
        again = _sensor(instance, first.cursor)  # nothing new: nothing requested
        assert again.run_requests == [] and again.dynamic_partitions_requests == []

        resources = {"shopper": ShopperSettings()}
        assert materialize([published_benchmarks], instance=instance, resources=resources).success
        summary = materialize([benchmark_results], partition_key=key, instance=instance,
                              resources=resources)  # fmt: skip
    assert summary.success
    metadata = summary.asset_materializations_for_node("benchmark_results")[0].metadata
    with connect(settings.database_path, read_only=True) as con:
        row = con.execute(
            "SELECT tokens_per_second, price_per_hour FROM benchmark_results"
            " WHERE run_id = ? AND source = 'measured'",
            [run_id],
        ).fetchone()
    assert row is not None
    tps, price = row
    assert metadata["results_measured"].value == 1
    assert metadata["results_published_reference"].value == 1  # RTX 4090 on TensorDock
    assert metadata["median_tps_measured"].value == pytest.approx(tps, abs=0.001)
    # $/M tokens = price per hour / (tokens/s x 3600) x 1,000,000
    expected = float(price) / (tps * 3600) * 1_000_000
    assert metadata["median_usd_per_m_tokens_measured"].value == pytest.approx(expected, abs=1e-3)
    # The published reference (169 tokens/s at $0.41/h mean) is reported beside it, as such.
    assert metadata["median_tps_published_reference"].value == pytest.approx(169)
    assert "1 published (reference)" in str(metadata["source_mix"].value)
    assert runner_store.require_run(settings.database_path, run_id)["status"] == "completed"


def test_run_job_refuses_bad_config_naming_the_field(world):
    settings, _ = world
    with DagsterInstance.ephemeral() as instance:
        ran = benchmark_run_job.execute_in_process(
            run_config=_run_config(models=["llama3.1:8b"], gpus=["RTX 9999"], max_budget=1.0),
            instance=instance, resources={"shopper": ShopperSettings()}, raise_on_error=False,
        )  # fmt: skip
        assert not ran.success
        failure = next(e for e in ran.all_events if e.event_type_value == "STEP_FAILURE")
        assert "--gpus 'RTX 9999' is not a GPU model we know" in str(failure.event_specific_data)
        assert instance.get_dynamic_partitions("benchmark_runs") == []
    assert runner_store.latest_run(settings.database_path) is None


def test_sensor_on_an_empty_warehouse_requests_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "none.duckdb"))
    get_settings.cache_clear()
    with DagsterInstance.ephemeral() as instance:
        result = _sensor(instance)
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert not (tmp_path / "none.duckdb").exists()  # a sensor tick never creates it
