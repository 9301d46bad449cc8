"""Inventory's Dagster assets, checks and schedule, run in-process against the sandbox."""

from datetime import UTC, datetime

from dagster import DagsterInstance, build_schedule_context, materialize

from shopper_pipelines.inventory.defs import (
    inventory_schedule,
    offer_snapshots,
    offer_snapshots_freshness_check,
    offers_current,
    offers_history,
    offers_price_positive_check,
    offers_unique_key_check,
    offers_vram_bounds_check,
)
from shopper_pipelines.resources import ShopperSettings
from tests.sandbox_support import queue_faults


def _materialize(db_path, provider, *, raise_on_error=True):
    return materialize(
        [
            offer_snapshots,
            offers_history,
            offers_current,
            offers_price_positive_check,
            offers_unique_key_check,
            offers_vram_bounds_check,
            offer_snapshots_freshness_check,
        ],
        partition_key=provider,
        resources={"shopper": ShopperSettings(database_path=str(db_path))},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def test_materialize_each_partition_and_every_check_passes(db_path, sandbox_url, monkeypatch):
    monkeypatch.setenv("SANDBOX_URL", sandbox_url)
    for provider in ("vastai", "tensordock"):
        result = _materialize(db_path, provider)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} == {
            "offers_price_positive_check",
            "offers_unique_key_check",
            "offers_vram_bounds_check",
            "offer_snapshots_freshness_check",
        }
        failed = [(c.check_name, c.description) for c in checks if not c.passed]
        # Freshness passes only once both providers have a snapshot.
        expected = [] if provider == "tensordock" else ["offer_snapshots_freshness_check"]
        assert [name for name, _ in failed] == expected, failed
        metadata = result.asset_materializations_for_node("offers_history")[0].metadata
        assert metadata["appeared"].value > 0


def test_failed_snapshot_fails_the_run_and_history_is_not_merged(
    db_path, fresh_sandbox_url, monkeypatch
):
    monkeypatch.setenv("SANDBOX_URL", fresh_sandbox_url)
    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "2")
    queue_faults(fresh_sandbox_url, "tensordock.locations", {"status": 502}, {"status": 502})
    result = _materialize(db_path, "tensordock", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "gave up after 2 attempts: HTTP 502" in str(failure.event_specific_data)
    assert result.asset_materializations_for_node("offers_history") == []


def test_schedule_requests_one_run_per_provider_with_run_keys():
    tick = datetime(2026, 12, 4, 12, 5, tzinfo=UTC)
    context = build_schedule_context(scheduled_execution_time=tick)
    requests = list(inventory_schedule(context))  # type: ignore[arg-type]
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("vastai", f"vastai:{tick.isoformat()}"),
        ("tensordock", f"tensordock:{tick.isoformat()}"),
    ]
