import copy
from datetime import UTC, datetime, timedelta

from shopper_pipelines.inventory.normalize import normalise
from shopper_pipelines.inventory.store import (
    merge_snapshot,
    record_unsuccessful_snapshot,
    stage_snapshot,
)
from shopper_pipelines.warehouse import connect
from shopper_pipelines.warehouse.migrations import MIGRATIONS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _ingest(db_path, records, at):
    batch = normalise("vastai", records, disk_gb=5)
    stage_snapshot(
        db_path,
        provider="vastai",
        source="sandbox",
        started_at=at,
        finished_at=at,
        records_seen=len(records),
        batch=batch,
    )
    return merge_snapshot(db_path, "vastai")


def _history(db_path):
    with connect(db_path, read_only=True) as con:
        return con.execute(
            "SELECT provider_offer_id, change, valid_from, valid_to, price_per_hour::DOUBLE,"
            " available FROM offer_history ORDER BY provider_offer_id, valid_from"
        ).fetchall()


def test_merge_writes_rows_only_on_change(db_path, vast_sample):
    first = _ingest(db_path, vast_sample, T0)
    again = _ingest(db_path, vast_sample, T0 + timedelta(minutes=5))
    assert (first.appeared, first.changed, first.disappeared, first.current) == (3, 0, 0, 3)
    assert (again.appeared, again.changed, again.disappeared, again.current) == (0, 0, 0, 3)
    assert len(_history(db_path)) == 3


def test_merge_records_price_change_disappearance_and_return(db_path, vast_sample):
    a, b, c = (str(record["id"]) for record in vast_sample)
    _ingest(db_path, vast_sample, T0)
    cheaper = copy.deepcopy(vast_sample)
    cheaper[0]["dph_base"] = 0.5
    counts = _ingest(db_path, cheaper[:2], T0 + timedelta(minutes=5))
    assert (counts.appeared, counts.changed, counts.disappeared) == (0, 1, 1)
    counts = _ingest(db_path, cheaper, T0 + timedelta(minutes=10))
    assert (counts.appeared, counts.changed, counts.disappeared) == (1, 0, 0)

    rows = _history(db_path)
    t5 = T0 + timedelta(minutes=5)
    assert [(r[0], r[1], r[2], r[3]) for r in rows if r[0] == a] == [
        (a, "appeared", T0, t5),
        (a, "changed", t5, None),
    ]
    assert [(r[1], r[5]) for r in rows if r[0] == c] == [
        ("appeared", True),
        ("disappeared", False),
        ("appeared", True),
    ]
    assert len([r for r in rows if r[0] == b]) == 1
    with connect(db_path, read_only=True) as con:
        current = con.execute("SELECT count(*) FROM offers_current").fetchone()
    assert current == (3,)


def test_merge_availability_change_is_a_change(db_path, vast_sample):
    _ingest(db_path, vast_sample, T0)
    rented = copy.deepcopy(vast_sample)
    rented[1]["rented"] = True
    counts = _ingest(db_path, rented, T0 + timedelta(minutes=5))
    assert (counts.changed, counts.disappeared) == (1, 0)


def test_failed_snapshot_leaves_history_untouched(db_path, vast_sample):
    _ingest(db_path, vast_sample, T0)
    record_unsuccessful_snapshot(
        db_path,
        provider="vastai",
        source="sandbox",
        started_at=T0 + timedelta(minutes=5),
        finished_at=T0 + timedelta(minutes=5),
        status="failed",
        error="vastai: gave up after 3 attempts",
    )
    assert merge_snapshot(db_path, "vastai") is None
    with connect(db_path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM offers_current").fetchone() == (3,)
        assert con.execute(
            "SELECT status, error FROM offer_snapshots ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchone() == ("failed", "vastai: gave up after 3 attempts")


def test_merge_writes_price_points_per_gpu_hour(db_path, vast_sample):
    _ingest(db_path, vast_sample, T0)
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            "SELECT gpu_model, offers, min_price::DOUBLE, max_price::DOUBLE FROM gpu_price_points"
        ).fetchone()
    per_gpu = [r["dph_total"] / r["num_gpus"] for r in vast_sample]
    assert row[0:2] == ("A100 SXM4", 3)
    assert round(row[2], 5) == round(min(per_gpu), 5)
    assert round(row[3], 5) == round(max(per_gpu), 5)


def test_migrations_are_idempotent_across_processes(db_path):
    from shopper_pipelines.warehouse import connection

    with connect(db_path) as con:
        con.execute("SELECT 1")
    connection._migrated.clear()  # as a fresh process would see it
    with connect(db_path) as con:
        versions = con.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(version,) for version, _, _ in MIGRATIONS]
