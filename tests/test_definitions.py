"""The Dagster code location loads with every asset, check, job and schedule by name."""

import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from shopper_pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_code_location_has_every_definition_by_name():
    repository = defs.get_repository_def()
    assets = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    checks = {(key.asset_key, key.name) for key in repository.asset_graph.asset_check_keys}
    assert {
        "offer_snapshots",
        "offers_history",
        "offers_current",
        "cost_ledger",
        "daily_cost_report",
        "weekly_market_report",
        "published_benchmarks",
        "benchmark_results",
        "benchmark_run_records",
    } <= assets
    assert {
        (AssetKey("offers_current"), "offers_price_positive_check"),
        (AssetKey("offers_current"), "offers_unique_key_check"),
        (AssetKey("offers_current"), "offers_vram_bounds_check"),
        (AssetKey("offer_snapshots"), "offer_snapshots_freshness_check"),
        (AssetKey("cost_ledger"), "cost_ledger_no_negative_check"),
        (AssetKey("cost_ledger"), "cost_ledger_hard_max_check"),
        (AssetKey("cost_ledger"), "cost_ledger_unconfirmed_destroy_check"),
    } <= checks
    assert {
        "inventory_job",
        "provision_session_job",
        "destroy_session_job",
        "reconcile_job",
        "sample_activity_job",
        "cost_ledger_job",
        "daily_cost_report_job",
        "weekly_market_report_job",
        "benchmark_run_job",
        "benchmark_results_job",
    } <= set(repository.job_names)
    assert {s.name for s in repository.sensor_defs} == {
        "provision_requests_sensor",
        "session_limits_sensor",
        "run_failure_alert_sensor",
        "budget_sensor",
        "benchmark_results_sensor",
    }
    assert {s.name for s in repository.schedule_defs} == {
        "inventory_schedule",
        "reconcile_schedule",
        "activity_schedule",
        "cost_ledger_job_schedule",
        "daily_cost_report_schedule",
        "weekly_market_report_schedule",
    }
    assert repository.get_schedule_def("reconcile_schedule").cron_schedule == "*/5 * * * *"
    schedule = repository.get_schedule_def("inventory_schedule")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.job_name == "inventory_job"


def test_offer_assets_are_partitioned_by_provider():
    repository = defs.get_repository_def()
    for name in ("offer_snapshots", "offers_history", "offers_current"):
        partitions = repository.asset_graph.get(AssetKey(name)).partitions_def
        assert partitions is not None
        assert partitions.get_partition_keys() == ["vastai", "tensordock"]


def test_workspace_yaml_loads_with_dagster_cli(tmp_path, monkeypatch):
    # Regression: a second module-level Definitions object made the location unloadable.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schedule_interval_follows_settings(monkeypatch):
    monkeypatch.setenv("INVENTORY_INTERVAL", "15m")
    code = (
        "from shopper_pipelines.definitions import defs;"
        "print(defs.get_repository_def().get_schedule_def('inventory_schedule').cron_schedule)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "*/15 * * * *", out.stderr
