"""Reports' Dagster assets materialised in process on a real warehouse, and their schedules."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dagster import DagsterInstance, build_schedule_context, materialize

from shopper_pipelines.definitions import defs
from shopper_pipelines.reports.defs import (
    daily_cost_report,
    daily_partitions,
    weekly_market_report,
    weekly_partitions,
)
from shopper_pipelines.resources import ShopperSettings
from shopper_pipelines.settings import Settings
from tests.reports.conftest import HISTORY_WEEK_ENDING, Filled


def values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata entries as plain values."""
    return {name: entry.value for name, entry in metadata.items()}


def _materialize(asset, partition_key: str, settings: Settings, monkeypatch):
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))
    return materialize(
        [asset],
        partition_key=partition_key,
        resources={"shopper": ShopperSettings(database_path=str(settings.database_path))},
        instance=DagsterInstance.ephemeral(),
    )


def test_daily_cost_report_materialises_files_and_metadata(
    report_settings: Settings, filled_warehouse: Filled, monkeypatch: pytest.MonkeyPatch
):
    day = filled_warehouse.day.isoformat()
    result = _materialize(daily_cost_report, day, report_settings, monkeypatch)

    assert result.success
    [materialization] = result.asset_materializations_for_node("daily_cost_report")
    metadata = values(materialization.metadata)
    folder = report_settings.reports_dir / "daily" / day
    assert metadata["markdown_path"] == str(folder / "report.md")
    assert metadata["html_path"] == str(folder / "report.html")
    assert (folder / "report.md").read_text() == metadata["report"]
    assert "Spent $5.80 on 2 sessions" in metadata["report"]
    assert metadata["total_cost_usd"] == 5.80
    assert metadata["sessions"] == 2
    assert metadata["top_consumer"] == "bob"
    charts = metadata["charts"]
    assert sorted(charts) == sorted(str(p) for p in folder.glob("*.png")) and len(charts) == 2


def test_weekly_market_report_materialises_for_the_week_of_its_monday(
    report_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monday = (HISTORY_WEEK_ENDING - timedelta(days=6)).isoformat()
    result = _materialize(weekly_market_report, monday, report_settings, monkeypatch)

    assert result.success
    [materialization] = result.asset_materializations_for_node("weekly_market_report")
    metadata = values(materialization.metadata)
    assert metadata["markdown_path"].endswith("weekly/2025-W46/report.md")
    assert "GPU market, week 2025-W46" in metadata["report"]
    assert metadata["gpu_models_priced"] > 0


def test_schedules_request_the_last_whole_day_and_week():
    repository = defs.get_repository_def()
    daily = repository.get_schedule_def("daily_cost_report_schedule")
    weekly = repository.get_schedule_def("weekly_market_report_schedule")
    assert (daily.cron_schedule, daily.execution_timezone) == ("0 6 * * *", "UTC")
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 7 * * 1", "UTC")
    assert daily.job_name == "daily_cost_report_job"
    assert weekly.job_name == "weekly_market_report_job"

    tick = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # a Monday
    context = build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
    [daily_run] = daily.evaluate_tick(context).run_requests or []
    [weekly_run] = weekly.evaluate_tick(context).run_requests or []
    assert (daily_run.partition_key, daily_run.run_key) == ("2026-12-06", "daily:2026-12-06")
    assert (weekly_run.partition_key, weekly_run.run_key) == ("2026-11-30", "weekly:2026-11-30")
    assert "2026-12-06" in daily_partitions.get_partition_keys(current_time=tick)
    assert "2026-11-30" in weekly_partitions.get_partition_keys(current_time=tick)
