"""Inventory's storage: snapshot rows, staged snapshot files, and the change-only merge.

A snapshot is stored in two steps, which are also two Dagster assets. `stage_snapshot`
writes the normalised offers to a Parquet file beside the warehouse
(`snapshots/<provider>/`) and a snapshot row pointing at it; `merge_snapshot` folds the
provider's latest staged file into `offer_history`, writing a row only for offers that
appeared, changed price or availability, or disappeared. Staging through a file keeps
the raw records out of the database unless they changed (a 10,000-offer Vast snapshot is
~28 MB of JSON), and leaves the last few snapshots on disk for replay and debugging.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import orjson
import polars as pl

from shopper_pipelines.errors import ShopperError
from shopper_pipelines.inventory.models import OFFER_COLUMNS, NormalisedBatch
from shopper_pipelines.warehouse import connect, ensure_schema

logger = logging.getLogger(__name__)

_DATA_COLUMNS = ", ".join(OFFER_COLUMNS)
SNAPSHOT_FILES_KEPT = 12  # per provider: an hour of snapshots at the default interval


def _select(alias: str, **replaced: str) -> str:
    """The offer columns qualified by `alias`, with some replaced by expressions."""
    return ", ".join(replaced.get(name, f"{alias}.{name}") for name in OFFER_COLUMNS)


# Polars, not pyarrow, builds the staging frame: converting Python lists with pyarrow
# imports pandas (over a second) in every fresh run process.
_FLOAT_COLUMNS = (
    "vram_gb", "total_vram_gb", "price_per_hour", "interruptible_price_per_hour", "disk_gb",
    "reliability", "cuda_version", "inet_down_mbps", "inet_up_mbps", "max_disk_gb",
    "cpu_cores", "ram_gb",
)  # fmt: skip
_SPECIAL_TYPES: dict[str, pl.DataType] = {name: pl.Float64() for name in _FLOAT_COLUMNS}
_SPECIAL_TYPES.update(gpu_count=pl.Int32(), available=pl.Boolean(), verified=pl.Boolean())
_FRAME_SCHEMA: dict[str, pl.DataType] = {
    name: _SPECIAL_TYPES.get(name, pl.String()) for name in OFFER_COLUMNS
}


@dataclass(frozen=True)
class MergeCounts:
    snapshot_id: int
    appeared: int
    changed: int
    disappeared: int
    current: int


def _frame(batch: NormalisedBatch) -> pl.DataFrame:
    if not batch.offers:
        return pl.DataFrame(schema=_FRAME_SCHEMA)
    columns = dict(zip(OFFER_COLUMNS, zip(*batch.offers, strict=True), strict=True))
    columns["raw"] = tuple(orjson.dumps(raw).decode() for raw in columns["raw"])
    return pl.DataFrame(columns, schema=_FRAME_SCHEMA)


def snapshot_dir(db_path: Path, provider: str) -> Path:
    return db_path.resolve().parent / "snapshots" / provider


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
    """Write a successful fetch as a staged Parquet file plus a snapshot row; return its id."""
    ensure_schema(db_path)  # a bad DATABASE_PATH fails here, before any file is written
    folder = snapshot_dir(db_path, provider)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started_at:%Y%m%dT%H%M%S%f}-{uuid4().hex[:8]}.parquet"
    _frame(batch).write_parquet(path, compression="lz4")  # the fastest round trip measured
    with connect(db_path) as con:
        row = con.execute(
            "INSERT INTO offer_snapshots (provider, source, started_at, finished_at, status,"
            " offers_seen, offers_stored, offers_skipped, skip_reasons, duration_s,"
            " staged_path) VALUES (?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, ?) RETURNING snapshot_id",
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
                str(path),
            ],
        ).fetchone()
    assert row is not None
    return int(row[0])


def _prune(folder: Path, keep: int = SNAPSHOT_FILES_KEPT) -> None:
    for stale in sorted(folder.glob("*.parquet"))[:-keep]:
        stale.unlink(missing_ok=True)


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
    SELECT * FROM staged_offers
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
            "SELECT snapshot_id, finished_at, staged_path FROM offer_snapshots"
            " WHERE provider = ? AND status = 'ok' AND merged_at IS NULL"
            "   AND staged_path IS NOT NULL"
            " ORDER BY snapshot_id DESC LIMIT 1",
            [provider],
        ).fetchone()
        if row is None:
            return None
        snapshot_id, observed_at, staged_path = int(row[0]), row[1], row[2]
        if not Path(staged_path).is_file():
            raise ShopperError(
                f"{provider}: staged snapshot {snapshot_id} file {staged_path} is missing; "
                "run the snapshot again"
            )
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE staged_offers AS SELECT * REPLACE ("
            " price_per_hour::DECIMAL(12, 6) AS price_per_hour,"
            " interruptible_price_per_hour::DECIMAL(12, 6) AS interruptible_price_per_hour)"
            " FROM read_parquet($path)",
            {"path": staged_path},
        )
        con.execute(_CHANGES, {"provider": provider})
        con.execute(
            "UPDATE offer_history SET valid_to = $at WHERE provider = $provider"
            " AND valid_to IS NULL AND offer_key IN (SELECT offer_key FROM merge_changes)",
            {"at": observed_at, "provider": provider},
        )
        con.execute(
            f"INSERT INTO offer_history (valid_from, change, snapshot_id, {_DATA_COLUMNS})"
            f" SELECT $at, m.change, $snapshot_id, {_select('s')}"
            " FROM staged_offers s JOIN merge_changes m USING (offer_key)",
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
            " FROM staged_offers WHERE available"
            " GROUP BY gpu_model",
            {"at": observed_at, "provider": provider},
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
    _prune(Path(staged_path).parent)
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
