"""Inventory's warehouse queries: snapshot rows, staging, and the change-only merge.

A snapshot is stored in two steps, which are also two Dagster assets: `stage_snapshot`
writes the snapshot row and its normalised offers to `snapshot_offers`; `merge_snapshot`
folds the provider's latest staged snapshot into `offer_history`, writing a row only for
offers that appeared, changed price or availability, or disappeared.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
import pyarrow as pa

from shopper_pipelines.inventory.models import OFFER_COLUMNS, NormalisedBatch
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

_DATA_COLUMNS = ", ".join(OFFER_COLUMNS)


def _select(alias: str, **replaced: str) -> str:
    """The offer columns qualified by `alias`, with some replaced by expressions."""
    return ", ".join(replaced.get(name, f"{alias}.{name}") for name in OFFER_COLUMNS)


_ARROW_SCHEMA = pa.schema(
    [
        ("offer_key", pa.string()),
        ("provider", pa.string()),
        ("provider_offer_id", pa.string()),
        ("gpu_model", pa.string()),
        ("gpu_name_raw", pa.string()),
        ("gpu_count", pa.int32()),
        ("vram_gb", pa.float64()),
        ("total_vram_gb", pa.float64()),
        ("price_per_hour", pa.float64()),
        ("interruptible_price_per_hour", pa.float64()),
        ("disk_gb", pa.float64()),
        ("available", pa.bool_()),
        ("country", pa.string()),
        ("region", pa.string()),
        ("location", pa.string()),
        ("reliability", pa.float64()),
        ("cuda_version", pa.float64()),
        ("inet_down_mbps", pa.float64()),
        ("inet_up_mbps", pa.float64()),
        ("max_disk_gb", pa.float64()),
        ("cpu_cores", pa.float64()),
        ("ram_gb", pa.float64()),
        ("verified", pa.bool_()),
        ("raw", pa.string()),
    ]
)
assert tuple(_ARROW_SCHEMA.names) == OFFER_COLUMNS


@dataclass(frozen=True)
class MergeCounts:
    snapshot_id: int
    appeared: int
    changed: int
    disappeared: int
    current: int


def _arrow(batch: NormalisedBatch) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in OFFER_COLUMNS}
    for offer in batch.offers:
        for name in OFFER_COLUMNS[:-1]:
            columns[name].append(getattr(offer, name))
        columns["raw"].append(orjson.dumps(offer.raw).decode())
    return pa.Table.from_pydict(columns, schema=_ARROW_SCHEMA)


def stage_snapshot(
    db_path: Path,
    *,
    provider: str,
    source: str,
    started_at: datetime,
    finished_at: datetime,
    records_seen: int,
    batch: NormalisedBatch,
) -> int:
    """Write a successful fetch as a snapshot row plus its staged offers; return its id."""
    table = _arrow(batch)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        row = con.execute(
            "INSERT INTO offer_snapshots (provider, source, started_at, finished_at, status,"
            " offers_seen, offers_stored, offers_skipped, skip_reasons, duration_s)"
            " VALUES (?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?) RETURNING snapshot_id",
            [
                provider,
                source,
                started_at,
                finished_at,
                records_seen,
                len(batch.offers),
                batch.skipped_total,
                orjson.dumps(batch.skipped).decode(),
                (finished_at - started_at).total_seconds(),
            ],
        ).fetchone()
        assert row is not None
        snapshot_id = int(row[0])
        con.execute("DELETE FROM snapshot_offers WHERE provider = ?", [provider])
        con.register("incoming", table)
        con.execute(
            f"INSERT INTO snapshot_offers (snapshot_id, {_DATA_COLUMNS})"
            f" SELECT ?, {_DATA_COLUMNS} FROM incoming",
            [snapshot_id],
        )
        con.unregister("incoming")
        con.execute("COMMIT")
    return snapshot_id


def record_unsuccessful_snapshot(
    db_path: Path,
    *,
    provider: str,
    source: str,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    error: str,
    records_seen: int = 0,
) -> int:
    """A snapshot row for a fetch that failed or was skipped; history is left untouched."""
    with connect(db_path) as con:
        row = con.execute(
            "INSERT INTO offer_snapshots (provider, source, started_at, finished_at, status,"
            " offers_seen, duration_s, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING snapshot_id",
            [
                provider,
                source,
                started_at,
                finished_at,
                status,
                records_seen,
                (finished_at - started_at).total_seconds(),
                error,
            ],
        ).fetchone()
    assert row is not None
    return int(row[0])


_CHANGES = """
CREATE OR REPLACE TEMP TABLE merge_changes AS
WITH open_rows AS (
    SELECT offer_key, change, price_per_hour, interruptible_price_per_hour, available
    FROM offer_history WHERE provider = $provider AND valid_to IS NULL
), staged AS (
    SELECT * FROM snapshot_offers WHERE snapshot_id = $snapshot_id
)
SELECT s.offer_key,
       CASE WHEN o.offer_key IS NULL OR o.change = 'disappeared' THEN 'appeared'
            ELSE 'changed' END AS change
FROM staged s LEFT JOIN open_rows o USING (offer_key)
WHERE o.offer_key IS NULL OR o.change = 'disappeared'
   OR s.price_per_hour <> o.price_per_hour
   OR s.interruptible_price_per_hour IS DISTINCT FROM o.interruptible_price_per_hour
   OR s.available <> o.available
UNION ALL
SELECT o.offer_key, 'disappeared' AS change
FROM open_rows o ANTI JOIN staged s USING (offer_key)
WHERE o.change <> 'disappeared'
"""


def merge_snapshot(db_path: Path, provider: str) -> MergeCounts | None:
    """Fold the provider's staged snapshot into the history; None if nothing is staged."""
    with connect(db_path) as con:
        row = con.execute(
            "SELECT snapshot_id, finished_at FROM offer_snapshots"
            " WHERE provider = ? AND status = 'ok' AND merged_at IS NULL"
            "   AND snapshot_id IN (SELECT DISTINCT snapshot_id FROM snapshot_offers)"
            " ORDER BY snapshot_id DESC LIMIT 1",
            [provider],
        ).fetchone()
        if row is None:
            return None
        snapshot_id, observed_at = int(row[0]), row[1]
        params = {"provider": provider, "snapshot_id": snapshot_id}
        con.execute("BEGIN TRANSACTION")
        con.execute(_CHANGES, params)
        con.execute(
            "UPDATE offer_history SET valid_to = $at WHERE provider = $provider"
            " AND valid_to IS NULL AND offer_key IN (SELECT offer_key FROM merge_changes)",
            {"at": observed_at, "provider": provider},
        )
        con.execute(
            f"INSERT INTO offer_history (valid_from, change, snapshot_id, {_DATA_COLUMNS})"
            f" SELECT $at, m.change, $snapshot_id, {_select('s')}"
            " FROM snapshot_offers s JOIN merge_changes m USING (offer_key)"
            " WHERE s.snapshot_id = $snapshot_id",
            {"at": observed_at, "snapshot_id": snapshot_id},
        )
        # A disappearance repeats the offer's last known row, marked unavailable.
        con.execute(
            f"INSERT INTO offer_history (valid_from, change, snapshot_id, {_DATA_COLUMNS})"
            f" SELECT $at, 'disappeared', $snapshot_id, {_select('h', available='false')}"
            " FROM offer_history h JOIN merge_changes m USING (offer_key)"
            " WHERE m.change = 'disappeared' AND h.provider = $provider AND h.valid_to = $at"
            " QUALIFY row_number() OVER (PARTITION BY h.offer_key ORDER BY h.valid_from DESC) = 1",
            {"at": observed_at, "snapshot_id": snapshot_id, "provider": provider},
        )
        con.execute(
            "INSERT OR REPLACE INTO gpu_price_points"
            " SELECT $at, 'snapshot', $provider, gpu_model, count(*),"
            "   min(price_per_hour / gpu_count), median(price_per_hour / gpu_count),"
            "   max(price_per_hour / gpu_count)"
            " FROM snapshot_offers WHERE snapshot_id = $snapshot_id AND available"
            " GROUP BY gpu_model",
            {"at": observed_at, "snapshot_id": snapshot_id, "provider": provider},
        )
        counts = dict(
            con.execute("SELECT change, count(*) FROM merge_changes GROUP BY change").fetchall()
        )
        current_row = con.execute(
            "SELECT count(*) FROM offers_current WHERE provider = ?", [provider]
        ).fetchone()
        current = int(current_row[0]) if current_row else 0
        con.execute(
            "UPDATE offer_snapshots SET merged_at = now(), appeared = ?, changed = ?,"
            " disappeared = ? WHERE snapshot_id = ?",
            [
                counts.get("appeared", 0),
                counts.get("changed", 0),
                counts.get("disappeared", 0),
                snapshot_id,
            ],
        )
        con.execute("COMMIT")
    result = MergeCounts(
        snapshot_id,
        counts.get("appeared", 0),
        counts.get("changed", 0),
        counts.get("disappeared", 0),
        current,
    )
    logger.info(
        "%s: merged snapshot %d: %d appeared, %d changed, %d disappeared, %d current",
        provider,
        *(result.snapshot_id, result.appeared, result.changed, result.disappeared, current),
    )
    return result
