"""Reports' Dagster definitions: the daily cost report and the weekly market report.

Each is a partitioned asset (one UTC day; one ISO week, Monday to Sunday) whose
materialisation writes the report folder and carries its paths, headline figures and
Markdown as metadata, so the report reads in the Dagster UI.
"""

from datetime import UTC, date, timedelta

from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    WeeklyPartitionsDefinition,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
)

from shopper_pipelines.reports.daily import build_daily_report
from shopper_pipelines.reports.weekly import build_weekly_report
from shopper_pipelines.reports.writer import Report
from shopper_pipelines.resources import RESOURCES, ShopperSettings

FIRST_DAY = "2025-10-13"  # a Monday, before the oldest imported market history
daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
# day_offset=1: weeks start on Monday (ISO weeks); the key is the Monday's date.
weekly_partitions = WeeklyPartitionsDefinition(start_date=FIRST_DAY, day_offset=1, timezone="UTC")


def _value(value: object) -> MetadataValue:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MetadataValue.text(str(value))
    return MetadataValue.int(value) if isinstance(value, int) else MetadataValue.float(value)


def _metadata(report: Report) -> dict[str, MetadataValue]:
    """The report's Markdown (shown in the UI), its paths and every headline figure."""
    return {
        "report": MetadataValue.md(report.markdown),
        "markdown_path": MetadataValue.path(str(report.markdown_path)),
        "html_path": MetadataValue.path(str(report.html_path)),
        "charts": MetadataValue.json([str(path) for path in report.charts]),
        "build_seconds": MetadataValue.float(round(report.duration_s, 3)),
        **{name: _value(value) for name, value in report.headline.items()},
    }


@asset(partitions_def=daily_partitions, group_name="reports", kinds={"duckdb", "markdown"})
def daily_cost_report(
    context: AssetExecutionContext, shopper: ShopperSettings
) -> MaterializeResult:
    """One UTC day's spend by consumer, provider and GPU, running sessions, budgets, alerts;
    written to `reports/daily/YYYY-MM-DD/`."""
    day = date.fromisoformat(context.partition_key)
    context.log.info("building the daily cost report for %s", day)

    report = build_daily_report(shopper.load(), day)

    context.log.info(
        "daily report %s: $%.2f over %d sessions, written to %s",
        day, report.headline["total_cost_usd"], report.headline["sessions"], report.folder,
    )  # fmt: skip
    return MaterializeResult(metadata=_metadata(report))


@asset(partitions_def=weekly_partitions, group_name="reports", kinds={"duckdb", "markdown"})
def weekly_market_report(
    context: AssetExecutionContext, shopper: ShopperSettings
) -> MaterializeResult:
    """One ISO week's price moves per GPU model, cheapest offers and $/M-token leaders;
    written to `reports/weekly/YYYY-Www/`."""
    week_ending = date.fromisoformat(context.partition_key) + timedelta(days=6)
    context.log.info("building the weekly market report for the week ending %s", week_ending)

    report = build_weekly_report(shopper.load(), week_ending)

    context.log.info("weekly report %s written to %s", report.period, report.folder)
    return MaterializeResult(metadata=_metadata(report))


daily_cost_report_job = define_asset_job(
    "daily_cost_report_job",
    selection=[daily_cost_report],
    partitions_def=daily_partitions,
    description="Write the daily cost report of one UTC day.",
    executor_def=in_process_executor,
)
weekly_market_report_job = define_asset_job(
    "weekly_market_report_job",
    selection=[weekly_market_report],
    partitions_def=weekly_partitions,
    description="Write the weekly market report of one ISO week.",
    executor_def=in_process_executor,
)


@schedule(
    job=daily_cost_report_job,
    cron_schedule="0 6 * * *",  # every day at 06:00 UTC
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_cost_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Yesterday's report (the last whole UTC day); the run key makes each day run once."""
    day = context.scheduled_execution_time.astimezone(UTC).date() - timedelta(days=1)
    return RunRequest(run_key=f"daily:{day}", partition_key=day.isoformat())


@schedule(
    job=weekly_market_report_job,
    cron_schedule="0 7 * * 1",  # Mondays at 07:00 UTC
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def weekly_market_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Last week's report (the ISO week that ended on Sunday), keyed by its Monday."""
    today = context.scheduled_execution_time.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return RunRequest(run_key=f"weekly:{monday}", partition_key=monday.isoformat())


defs = Definitions(
    assets=[daily_cost_report, weekly_market_report],
    jobs=[daily_cost_report_job, weekly_market_report_job],
    schedules=[daily_cost_report_schedule, weekly_market_report_schedule],
    resources=RESOURCES,
)
