"""Inventory's Dagster definitions: snapshot -> history -> current, checks, schedule."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
    schedule,
)

from shopper_pipelines.inventory import checks, service
from shopper_pipelines.inventory.search import snapshot_status
from shopper_pipelines.resources import RESOURCES, ShopperSettings
from shopper_pipelines.settings import PROVIDERS, get_settings
from shopper_pipelines.warehouse import connect

provider_partitions = StaticPartitionsDefinition(list(PROVIDERS))


@asset(partitions_def=provider_partitions, group_name="inventory", kinds={"duckdb"})
def offer_snapshots(context: AssetExecutionContext, shopper: ShopperSettings) -> MaterializeResult:
    """Every offer one provider lists now, normalised and staged; one row per attempt."""
    settings = shopper.load()
    provider = context.partition_key
    context.log.info("fetching every %s offer", provider)

    outcome = service.snapshot_provider(settings, provider)

    if outcome.status == "failed":
        raise Failure(f"{provider} snapshot {outcome.snapshot_id} failed: {outcome.error}")
    context.log.info(
        "%s: %d offers seen, %d stored, %d skipped",
        provider,
        outcome.offers_seen,
        outcome.offers_stored,
        sum((outcome.skipped or {}).values()),
    )
    return MaterializeResult(
        metadata={
            "snapshot_id": outcome.snapshot_id,
            "status": outcome.status,
            "source": outcome.source,
            "offers_seen": outcome.offers_seen,
            "offers_stored": outcome.offers_stored,
            "skipped": str(outcome.skipped or {}),
            "note": outcome.error or "",
        }
    )


@asset(
    partitions_def=provider_partitions,
    deps=[offer_snapshots],
    group_name="inventory",
    kinds={"duckdb"},
)
def offers_history(context: AssetExecutionContext, shopper: ShopperSettings) -> MaterializeResult:
    """Change-only offer history: a row per appearance, price/availability change, exit."""
    settings = shopper.load()
    provider = context.partition_key

    merged = service.merge_provider(settings, provider)

    if merged is None:
        context.log.info("%s: nothing staged to merge", provider)
        return MaterializeResult(metadata={"merged": False})
    return MaterializeResult(
        metadata={
            "snapshot_id": merged.snapshot_id,
            "appeared": merged.appeared,
            "changed": merged.changed,
            "disappeared": merged.disappeared,
            "current_offers": merged.current,
        }
    )


@asset(
    partitions_def=provider_partitions,
    deps=[offers_history],
    group_name="inventory",
    kinds={"duckdb"},
)
def offers_current(context: AssetExecutionContext, shopper: ShopperSettings) -> MaterializeResult:
    """The view of offers listed now (open history rows that did not disappear)."""
    settings = shopper.load()
    with connect(settings.database_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(DISTINCT gpu_model), min(price_per_hour)"
            " FROM offers_current WHERE provider = ?",
            [context.partition_key],
        ).fetchone()
    count, models, cheapest = row if row else (0, 0, None)
    return MaterializeResult(
        metadata={
            "offers": int(count),
            "gpu_models": int(models),
            "cheapest_per_hour": float(cheapest) if cheapest is not None else -1.0,
        }
    )


def _result(outcome: checks.CheckOutcome, severity: AssetCheckSeverity) -> AssetCheckResult:
    return AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata=outcome.metadata,
    )


@asset_check(asset=offers_current, description="No current offer is priced at or below $0.")
def offers_price_positive_check(shopper: ShopperSettings) -> AssetCheckResult:
    return _result(checks.prices_positive(shopper.load()), AssetCheckSeverity.ERROR)


@asset_check(asset=offers_current, description="Each offer key appears once.")
def offers_unique_key_check(shopper: ShopperSettings) -> AssetCheckResult:
    return _result(checks.unique_keys(shopper.load()), AssetCheckSeverity.ERROR)


@asset_check(asset=offers_current, description="VRAM is one of the model's real sizes.")
def offers_vram_bounds_check(shopper: ShopperSettings) -> AssetCheckResult:
    return _result(checks.vram_within_bounds(shopper.load()), AssetCheckSeverity.WARN)


@asset_check(
    asset=offer_snapshots,
    description="Each configured provider had a successful snapshot recently.",
)
def offer_snapshots_freshness_check(shopper: ShopperSettings) -> AssetCheckResult:
    settings = shopper.load()
    outcome = checks.freshness(settings)
    recent = snapshot_status(settings.database_path, limit=len(PROVIDERS))
    errors = "; ".join(f"{row['provider']}: {row['error']}" for row in recent if row["error"])
    outcome.metadata["latest_errors"] = errors or "none"
    return _result(outcome, AssetCheckSeverity.WARN)


inventory_job = define_asset_job(
    "inventory_job",
    selection=[offer_snapshots, offers_history, offers_current],
    partitions_def=provider_partitions,
    description="Snapshot one provider's offers and fold them into the history.",
    # Each step is a second or two of work: a subprocess per step costs more than that.
    executor_def=in_process_executor,
)


@schedule(
    job=inventory_job,
    cron_schedule=get_settings().inventory_cron,  # INVENTORY_INTERVAL, every 5 minutes by default
    default_status=DefaultScheduleStatus.RUNNING,
)
def inventory_schedule(context: ScheduleEvaluationContext):
    """One run per provider each interval; the run key makes each tick run once."""
    tick = context.scheduled_execution_time.isoformat()
    for provider in PROVIDERS:
        yield RunRequest(run_key=f"{provider}:{tick}", partition_key=provider)


defs = Definitions(
    assets=[offer_snapshots, offers_history, offers_current],
    asset_checks=[
        offers_price_positive_check,
        offers_unique_key_check,
        offers_vram_bounds_check,
        offer_snapshots_freshness_check,
    ],
    jobs=[inventory_job],
    schedules=[inventory_schedule],
    resources=RESOURCES,
)
