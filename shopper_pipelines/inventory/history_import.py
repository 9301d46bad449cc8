"""Load real public price history into `gpu_price_points`, so charts have a past.

Two file kinds are understood, told apart by their header (see data/market/README.md):
- the neocloud tracker series (`snapshot_at,gpu_type,socket_type,scope,...`): one row per
  GPU type and time with min and median $/GPU-hour; the `scope=all` rows are loaded;
- Vast catalog snapshots (`snapshot_at,catalog_version,InstanceType,...`): median
  whole-instance prices per shape; only rows with a known date are loaded, since a price
  without a time is no history.
Loading is idempotent: a row is keyed by time, source, provider and GPU model.
"""

import csv
import logging
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import canonical_name
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

NEOCLOUD = "neocloud"
VAST_CATALOG = "vast_catalog"
_NEOCLOUD_HEADER = ("snapshot_at", "gpu_type", "socket_type", "scope")
_VAST_HEADER = ("snapshot_at", "catalog_version", "InstanceType", "AcceleratorName")
_POINT_COLUMNS = (
    "observed_at", "source", "provider", "gpu_model", "offers", "min_price", "median_price",
    "max_price",
)  # fmt: skip


@dataclass(frozen=True)
class ImportResult:
    kind: str
    rows_read: int
    points_loaded: int
    rows_skipped: int
    skip_reasons: dict[str, int]
    first: datetime | None
    last: datetime | None


def _kind(header: list[str], path: Path) -> str:
    if tuple(header[: len(_NEOCLOUD_HEADER)]) == _NEOCLOUD_HEADER:
        return NEOCLOUD
    if tuple(header[: len(_VAST_HEADER)]) == _VAST_HEADER:
        return VAST_CATALOG
    raise InvalidInputError(
        f"{path}: not a known price-history file (header starts {','.join(header[:4])!r}); "
        "expected the neocloud series or the Vast catalog history from data/market/"
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _neocloud_model(gpu_type: str, socket: str) -> str:
    # "A100_80GB" + "SXM4" -> "A100 SXM4"; "H200_141GB" + "" -> "H200"
    family = gpu_type.split("_")[0]
    return canonical_name(f"{family} {socket}".strip())


def _vast_model(instance_type: str) -> str:
    # "2x-RTX_4090-32-65536" -> "RTX 4090"
    parts = instance_type.split("-")
    return canonical_name(parts[1].replace("_", " ") if len(parts) >= 2 else instance_type)


def _read_neocloud(rows: list[dict[str, str]], skipped: dict[str, int]) -> list[tuple]:
    points = []
    for row in rows:
        if row.get("scope") != "all":
            skipped["per-provider row"] += 1
            continue
        try:
            at = _time(row["snapshot_at"])
            low, median = float(row["min_price"]), float(row["median_price"])
            offers = int(row["offer_count"] or 0)
            high = float(row["max_price"]) if row.get("max_price") else None
        except (KeyError, ValueError):
            skipped["unreadable row"] += 1
            continue
        model = _neocloud_model(row["gpu_type"], row.get("socket_type") or "")
        points.append((at, f"import:{NEOCLOUD}", NEOCLOUD, model, offers, low, median, high))
    return points


def _read_vast(rows: list[dict[str, str]], skipped: dict[str, int]) -> list[tuple]:
    per_gpu: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    for row in rows:
        if not row.get("snapshot_at"):
            skipped["snapshot date unknown"] += 1
            continue
        try:
            price = float(row["Price"]) / int(row["AcceleratorCount"])
            at = _time(row["snapshot_at"])
        except (KeyError, ValueError, ZeroDivisionError):
            skipped["unreadable row"] += 1
            continue
        per_gpu[(at, _vast_model(row["InstanceType"]))].append(price)
    return [
        (at, f"import:{VAST_CATALOG}", "vastai", model, len(prices), min(prices),
         statistics.median(prices), max(prices))
        for (at, model), prices in sorted(per_gpu.items())
    ]  # fmt: skip


def import_history(db_path: Path, path: Path) -> ImportResult:
    """Load one history file; re-loading the same file changes nothing."""
    if not path.is_file():
        raise InvalidInputError(f"FILE {path} does not exist or is not a file")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            kind = _kind(list(reader.fieldnames or []), path)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError(f"FILE {path} is not a CSV text file ({error})") from None
    skipped: dict[str, int] = defaultdict(int)
    points = _read_neocloud(rows, skipped) if kind == NEOCLOUD else _read_vast(rows, skipped)
    if points:
        table = pa.Table.from_pylist(
            [dict(zip(_POINT_COLUMNS, point, strict=True)) for point in points]
        )
        with connect(db_path) as con:
            con.register("incoming_points", table)
            con.execute(
                "INSERT OR REPLACE INTO gpu_price_points"
                f" SELECT {', '.join(_POINT_COLUMNS)} FROM incoming_points"
            )
            con.unregister("incoming_points")
    times = [point[0] for point in points]
    result = ImportResult(
        kind,
        len(rows),
        len(points),
        sum(skipped.values()),
        dict(skipped),
        min(times) if times else None,
        max(times) if times else None,
    )
    logger.info("imported %s: %d points from %d rows", path.name, len(points), len(rows))
    return result
