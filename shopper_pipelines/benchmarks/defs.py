"""Benchmarks' Dagster definitions: runs launched from the UI, results per GPU x model,
the published reference data, and the sensor that keeps the partitions current.

Benchmark runs are dynamic partitions (`benchmark_runs`) of the `benchmark_run_records`
asset, which the run job reports as it finishes; runs started from the CLI join them
through the sensor. Results are partitioned by GPU x model, two dynamic dimensions grown
from what has been stored.
"""

import orjson
from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    Config,
    DefaultSensorStatus,
    Definitions,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    asset,
    define_asset_job,
    in_process_executor,
    job,
    op,
    sensor,
)
from pydantic import Field

from shopper_pipelines.benchmarks import runner_results, runner_store
from shopper_pipelines.benchmarks.reference import PUBLISHED_CSV, ensure_published
from shopper_pipelines.benchmarks.runner import execute_run, start_run
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan
from shopper_pipelines.benchmarks.store import results_partitions
from shopper_pipelines.resources import RESOURCES, ShopperSettings
from shopper_pipelines.settings import get_settings

RUNS = "benchmark_runs"
RUN_RECORDS = "benchmark_run_records"
GPUS = "benchmark_gpus"
MODELS = "benchmark_models"
SENSOR_INTERVAL_S = 30
RUNS_SYNCED = 200  # the newest runs the sensor makes sure have a partition

benchmark_run_partitions = DynamicPartitionsDefinition(name=RUNS)
gpu_partitions = DynamicPartitionsDefinition(name=GPUS)
model_partitions = DynamicPartitionsDefinition(name=MODELS)
result_partitions = MultiPartitionsDefinition({"gpu": gpu_partitions, "model": model_partitions})

benchmark_run_records = AssetSpec(
    RUN_RECORDS,
    partitions_def=benchmark_run_partitions,
    group_name="benchmarks",
    description="One benchmark run (rows in benchmark_runs and benchmark_run_items).",
    kinds={"duckdb"},
)


class BenchmarkRunConfig(Config):
    """A grid to measure: every model on every GPU model, within a budget."""

    models: list[str] = Field(description="Ollama tags, e.g. llama3.1:8b")
    gpus: list[str] = Field(description="GPU models, e.g. RTX 4090")
    max_budget: float = Field(description="Stop before the spend would pass this, USD")
    duration: str = Field(default="5m", description="Measured phase per model: 20s, 5m")
    providers: list[str] = Field(default=[], description="Empty: every provider")
    runtime: str = Field(default="ollama", description="ollama or openai")
    concurrency: list[int] = Field(default=[1], description="Concurrency levels to sweep")


@op
def benchmark_run_op(
    context: OpExecutionContext, config: BenchmarkRunConfig, shopper: ShopperSettings
) -> str:
    """Create the run (a new `benchmark_runs` partition), then rent, measure and destroy."""
    settings = shopper.load()
    plan = BenchmarkPlan.parse(
        models=config.models, gpus=config.gpus, max_budget=config.max_budget,
        duration=config.duration, providers=config.providers or None,
        runtime=config.runtime, concurrency=config.concurrency,
    )  # fmt: skip
    run_id = start_run(settings, plan)
    context.instance.add_dynamic_partitions(RUNS, [run_id])
    context.log.info("benchmark run %s: %d combinations", run_id, len(plan.combinations))

    outcome = execute_run(settings, run_id, progress=context.log.info)

    run = runner_store.require_run(settings.database_path, run_id)
    context.log_event(
        AssetMaterialization(
            asset_key=RUN_RECORDS,
            partition=run_id,
            metadata={
                "status": outcome.status,
                "items_done": outcome.items_done,
                "items_failed": outcome.items_failed,
                "spent_usd": float(outcome.spent_usd),
                "max_budget_usd": float(run["max_budget_usd"]),
                "error": outcome.error or "",
            },
        )
    )
    if outcome.status == "failed":
        raise Failure(f"benchmark run {run_id} failed: {outcome.error}")
    return run_id


@job(tags={"capability": "benchmarks"}, executor_def=in_process_executor)
def benchmark_run_job() -> None:
    benchmark_run_op()


@asset(group_name="benchmarks", kinds={"duckdb"})
def published_benchmarks(shopper: ShopperSettings) -> MaterializeResult:
    """The published results (data/reference/published_benchmarks.csv) as reference rows:
    source 'published', always shown as such, never mixed into measured figures."""
    settings = shopper.load()
    loaded = ensure_published(settings.database_path)
    return MaterializeResult(metadata={"rows_loaded_now": loaded, "file": PUBLISHED_CSV.name})


@asset(
    partitions_def=result_partitions,
    deps=[published_benchmarks],
    group_name="benchmarks",
    kinds={"duckdb"},
)
def benchmark_results(
    context: AssetExecutionContext, shopper: ShopperSettings
) -> MaterializeResult:
    """Stored benchmark results of one GPU model x LLM model: counts by source, median
    tokens/s and $/M tokens (measured, and the published reference beside it)."""
    settings = shopper.load()
    key = context.partition_key
    assert isinstance(key, MultiPartitionKey)
    gpu, model = key.keys_by_dimension["gpu"], key.keys_by_dimension["model"]

    summary = runner_results.summarise_pair(settings.database_path, gpu, model)

    context.log.info("%s x %s: %s measured, %s published", gpu, model,
                     summary["measured"], summary["published"])  # fmt: skip
    return MaterializeResult(
        metadata={
            "results_measured": summary["measured"],
            "results_measured_invalid": summary["measured_invalid"],
            "results_published_reference": summary["published"],
            "median_tps_measured": _number(summary["measured_tps"]),
            "median_tps_published_reference": _number(summary["published_tps"]),
            "median_usd_per_m_tokens_measured": _number(summary["measured_usd_per_m"]),
            "median_usd_per_m_tokens_published_reference": _number(summary["published_usd_per_m"]),
            "median_ttft_ms_p50": _number(summary["ttft_ms_p50"]),
            "source_mix": f"{summary['measured']} measured, {summary['published']} published"
            " (reference)",
            "providers": summary["providers"] or "",
        }
    )


def _number(value: float | None) -> float:
    """Dagster metadata has no null float: -1 marks "not measured"."""
    return round(value, 3) if value is not None else -1.0


benchmark_results_job = define_asset_job(
    "benchmark_results_job",
    selection=[benchmark_results],
    partitions_def=result_partitions,
    description="Summarise the stored results of one GPU x model.",
    executor_def=in_process_executor,
)


@sensor(job=benchmark_results_job, minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING)  # fmt: skip
def benchmark_results_sensor(context: SensorEvaluationContext) -> SensorResult:
    """New GPU/model partitions from stored results; a materialisation per pair whose
    results changed since the cursor; CLI-started runs join `benchmark_runs`."""
    db = get_settings().database_path
    seen: dict[str, str] = orjson.loads(context.cursor) if context.cursor else {}
    pairs = results_partitions(db)
    current = runner_results.pair_fingerprints(db)
    instance = context.instance
    requests = []
    new_gpus = sorted(
        {g for g, _ in pairs} - set(instance.get_dynamic_partitions("benchmark_gpus"))
    )
    new_models = sorted(
        {m for _, m in pairs} - set(instance.get_dynamic_partitions("benchmark_models"))
    )
    if new_gpus:
        requests.append(gpu_partitions.build_add_request(new_gpus))
    if new_models:
        requests.append(model_partitions.build_add_request(new_models))
    runs = [r["run_id"] for r in runner_store.list_runs(db, RUNS_SYNCED)] if db.is_file() else []
    new_runs = sorted(set(runs) - set(instance.get_dynamic_partitions(RUNS)))
    if new_runs:
        requests.append(benchmark_run_partitions.build_add_request(new_runs))
    run_requests = [
        RunRequest(
            run_key=f"{gpu}|{model}:{current[f'{gpu}|{model}']}",
            partition_key=MultiPartitionKey({"gpu": gpu, "model": model}),
        )
        for gpu, model in pairs
        if f"{gpu}|{model}" in current and seen.get(f"{gpu}|{model}") != current[f"{gpu}|{model}"]
    ]
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=requests,
        cursor=orjson.dumps(current).decode(),
    )


defs = Definitions(
    assets=[published_benchmarks, benchmark_results, benchmark_run_records],
    jobs=[benchmark_run_job, benchmark_results_job],
    sensors=[benchmark_results_sensor],
    resources=RESOURCES,
)
