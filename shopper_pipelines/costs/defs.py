"""Costs' Dagster definitions: the cost ledger asset and its checks, and the budget sensor.

The budget sensor evaluates every budget each minute, sends due threshold alerts (log,
`budget_alerts`, webhook) and launches the sessions capability's destroy job for
sessions of a `stop` budget that is used up, one run per session and month (run keys).
"""

from datetime import UTC, datetime, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
    sensor,
)

from shopper_pipelines.costs import checks
from shopper_pipelines.costs.alerts import STOP_REASON, send_budget_alerts, sessions_to_stop
from shopper_pipelines.costs.budgets import budget_status
from shopper_pipelines.costs.ledger import cost_summary, daily_costs
from shopper_pipelines.resources import RESOURCES, ShopperSettings
from shopper_pipelines.sessions.defs import destroy_session_job
from shopper_pipelines.settings import get_settings

BUDGET_SENSOR_INTERVAL_S = 60
LEDGER_DAYS = 31


@asset(group_name="costs", kinds={"duckdb"})
def cost_ledger(shopper: ShopperSettings) -> MaterializeResult:
    """What sessions cost per UTC day, consumer, provider and GPU (last 31 days)."""
    db = shopper.load().database_path
    now = datetime.now(UTC)
    frame = daily_costs(db, (now - timedelta(days=LEDGER_DAYS)).date(), None, now)
    month = cost_summary(db, start=now.date().replace(day=1), now=now)
    days = frame.group_by("day").agg(pl.sum("cost", "hours")).sort("day")
    return MaterializeResult(
        metadata={
            "rows": frame.height,
            "cost_31_days_usd": round(float(frame["cost"].sum() or 0.0), 2),
            "cost_this_month_usd": round(float(month["total"]["cost"]), 2),
            "running_sessions": month["total"]["running"],
            "by_day": MetadataValue.md(_markdown(days)),
        }
    )


def _markdown(frame: pl.DataFrame) -> str:
    lines = ["| day (UTC) | cost | hours |", "| --- | ---: | ---: |"]
    for row in frame.iter_rows(named=True):
        lines.append(f"| {row['day']} | ${row['cost']:.2f} | {row['hours']:.1f} |")
    return "\n".join(lines)


def _result(outcome: checks.CheckOutcome, severity: AssetCheckSeverity) -> AssetCheckResult:
    return AssetCheckResult(passed=outcome.passed, severity=severity,
                            description=outcome.description, metadata=outcome.metadata)  # fmt: skip


@asset_check(asset=cost_ledger, description="No billing price and no ledger row is negative.")
def cost_ledger_no_negative_check(shopper: ShopperSettings) -> AssetCheckResult:
    since = (datetime.now(UTC) - timedelta(days=LEDGER_DAYS)).date()
    return _result(checks.no_negative_costs(shopper.load().database_path, since),
                   AssetCheckSeverity.ERROR)  # fmt: skip


@asset_check(asset=cost_ledger, description="Nothing bills past its hard maximum unalerted.")
def cost_ledger_hard_max_check(shopper: ShopperSettings) -> AssetCheckResult:
    return _result(checks.past_hard_max_without_alert(shopper.load().database_path),
                   AssetCheckSeverity.ERROR)  # fmt: skip


@asset_check(asset=cost_ledger, description="No destroy unconfirmed for more than 30 minutes.")
def cost_ledger_unconfirmed_destroy_check(shopper: ShopperSettings) -> AssetCheckResult:
    return _result(checks.stale_unconfirmed_destroys(shopper.load().database_path),
                   AssetCheckSeverity.ERROR)  # fmt: skip


cost_ledger_job = define_asset_job(
    "cost_ledger_job", selection=[cost_ledger], executor_def=in_process_executor,
    description="Rebuild the cost ledger's metadata and run its checks.",
)  # fmt: skip
cost_ledger_schedule = ScheduleDefinition(
    job=cost_ledger_job, cron_schedule="7 * * * *", default_status=DefaultScheduleStatus.RUNNING
)


@sensor(job=destroy_session_job, minimum_interval_seconds=BUDGET_SENSOR_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING)  # fmt: skip
def budget_sensor(context: SensorEvaluationContext):
    """Alert thresholds crossed this month; stop sessions of used-up `stop` budgets."""
    settings = get_settings()
    if not settings.database_path.is_file():
        yield SkipReason("no warehouse yet")
        return
    now = datetime.now(UTC)
    statuses = budget_status(settings.database_path, now)
    for alert in send_budget_alerts(settings, now, statuses=statuses):
        context.log.warning("budget alert: %s (webhook %s)", alert["message"],
                            alert["channels"]["webhook"])  # fmt: skip
    for due in sessions_to_stop(settings.database_path, now, statuses=statuses):
        yield RunRequest(
            run_key=f"budget:{due['session_id']}:{due['month']:%Y-%m}",
            run_config={"ops": {"destroy_session_op": {"config": {
                "session_id": due["session_id"], "reason": STOP_REASON}}}},
            tags={"session_id": due["session_id"], "reason": "budget", "budget": due["budget"]},
        )  # fmt: skip


defs = Definitions(
    assets=[cost_ledger],
    asset_checks=[
        cost_ledger_no_negative_check,
        cost_ledger_hard_max_check,
        cost_ledger_unconfirmed_destroy_check,
    ],
    jobs=[cost_ledger_job],
    schedules=[cost_ledger_schedule],
    sensors=[budget_sensor],
    resources=RESOURCES,
)
