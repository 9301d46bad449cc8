"""Storing measured benchmark results: from the runner's dict, one file, or a folder.

Idempotent by benchmark_id: a result already stored with the same content is a
duplicate (skipped, counted); the same id with different content is refused, since two
runs never share an id. A file that breaks the contract is skipped and counted with a
message naming the file and the field; it never sinks the rest of a folder. Files are
read and checked before the warehouse is opened, and all inserts of a folder share one
short connection.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import orjson

from shopper_pipelines.benchmarks.models import MeasuredResult, parse_result
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import PROVIDERS
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

OTHER_PROVIDER = "other"  # hardware rented anywhere else: the price still comes with it
LOAD_PROVIDERS = (*PROVIDERS, OTHER_PROVIDER)
MAX_PRICE_PER_HOUR = 1_000.0  # above this a price is a typo (cents for dollars), not a GPU
MAX_LOCATION_CHARS = 200
RESULT_GLOB = "benchmark_*.json"

STORED = "stored"
DUPLICATE = "duplicate"
REJECTED = "rejected"

_COLUMNS = ("result_id", "source", "run_id", "session_id", "gpu_model", "gpu_name_raw",
            "gpu_count", "vram_gb", "model", "runtime", "provider", "location",
            "price_per_hour", "tokens_per_second", "aggregate_tokens_per_second", "tps_p50",
            "tps_min", "tps_max", "ttft_ms_mean", "ttft_ms_p50", "ttft_ms_p95", "requests",
            "successful", "failed", "output_tokens", "wall_s", "duration_s", "max_tokens",
            "prompt_set", "quality_prompts", "quality_matches", "quality_match_rate",
            "gpu_samples", "gpu_util_pct_mean", "gpu_util_pct_max", "gpu_mem_used_mib_max",
            "gpu_temp_c_max", "gpu_power_w_mean", "gpu_power_w_max", "status", "valid",
            "flags", "error_type", "note", "started_at", "measured_at", "loaded_at",
            "file_sha256", "source_path", "raw")  # fmt: skip
INSERT_SQL = (
    f"INSERT INTO benchmark_results ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


@dataclass(frozen=True)
class Pricing:
    """Where and at what price a result was measured (checked once per load)."""

    provider: str
    price_per_hour: Decimal
    location: str | None


@dataclass(frozen=True)
class LoadOutcome:
    """What happened to one result: stored, duplicate (already there) or rejected."""

    path: str | None
    result_id: str | None
    outcome: str
    valid: bool | None = None  # for stored results: whether analytics use it
    flags: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class DirectoryLoad:
    directory: str
    outcomes: list[LoadOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.outcomes if item.outcome == outcome)

    @property
    def stored_invalid(self) -> int:
        return sum(1 for item in self.outcomes if item.outcome == STORED and not item.valid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "files": len(self.outcomes),
            "stored": self.count(STORED),
            "stored_invalid": self.stored_invalid,
            "duplicates": self.count(DUPLICATE),
            "rejected": self.count(REJECTED),
            "results": [item.__dict__ for item in self.outcomes],
        }


def check_pricing(provider: str, price_per_hour: float | Decimal, location: str | None) -> Pricing:
    """Validate the facts a result file does not carry; errors name the CLI flag."""
    name = (provider or "").strip().lower()
    if name not in LOAD_PROVIDERS:
        raise InvalidInputError(
            f"--provider must be one of {', '.join(LOAD_PROVIDERS)}, got {provider!r}"
        )
    try:
        price = Decimal(str(price_per_hour))
    except InvalidOperation:
        raise InvalidInputError(f"--price must be a number, got {price_per_hour!r}") from None
    if not price.is_finite() or not 0 < price <= Decimal(str(MAX_PRICE_PER_HOUR)):
        raise InvalidInputError(
            f"--price must be $/hour above 0 and at most {MAX_PRICE_PER_HOUR:g},"
            f" got {price_per_hour}"
        )
    place = None
    if location is not None:
        place = " ".join(location.split())
        if not place or len(place) > MAX_LOCATION_CHARS:
            raise InvalidInputError(
                f"--location must be 1-{MAX_LOCATION_CHARS} characters, got {location!r}"
            )
    return Pricing(name, price.quantize(Decimal("0.000001")), place)


def read_result_file(path: Path) -> MeasuredResult:
    """Decode and check one file; InvalidInputError names the file and what is wrong."""
    try:
        body = path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInputError(f"{path}: not valid JSON: {error}") from None
    return parse_result(data, str(path))


def store_result(
    db_path: Path,
    result: dict[str, Any],
    provider: str,
    price_per_hour: float | Decimal,
    location: str | None = None,
    run_id: str | None = None,
    session_id: str | None = None,
) -> str:
    """Store one result as the runner holds it (decoded JSON); return its result_id.

    Storing the same result again is a no-op. Raises InvalidInputError for a result that
    breaks the contract, or whose id is already stored with different content.
    """
    pricing = check_pricing(provider, price_per_hour, location)
    name = result.get("benchmark_id", "?") if isinstance(result, dict) else "?"
    parsed = parse_result(result, f"result {name!r}")
    with connect(db_path) as con:
        outcome = _insert(con, parsed, pricing, run_id, session_id, None)
    if outcome.outcome == REJECTED:
        raise InvalidInputError(outcome.message or "result refused")
    return parsed.result_id


def load_result_file(
    db_path: Path,
    path: Path,
    *,
    provider: str,
    price_per_hour: float | Decimal,
    location: str | None = None,
    run_id: str | None = None,
    session_id: str | None = None,
) -> LoadOutcome:
    """Load one result file; InvalidInputError if the file breaks the contract."""
    pricing = check_pricing(provider, price_per_hour, location)
    parsed = read_result_file(path)
    with connect(db_path) as con:
        return _insert(con, parsed, pricing, run_id, session_id, str(path))


def load_directory(
    db_path: Path,
    directory: Path,
    *,
    provider: str,
    price_per_hour: float | Decimal,
    location: str | None = None,
    run_id: str | None = None,
    session_id: str | None = None,
) -> DirectoryLoad:
    """Load every `benchmark_*.json` under `directory` (recursively), in name order."""
    pricing = check_pricing(provider, price_per_hour, location)
    if not directory.is_dir():
        raise InvalidInputError(f"DIR {directory} is not a folder")
    paths = sorted(path for path in directory.rglob(RESULT_GLOB) if path.is_file())
    outcomes: list[LoadOutcome] = []
    parsed: list[tuple[Path, MeasuredResult]] = []
    for path in paths:
        try:
            parsed.append((path, read_result_file(path)))
        except InvalidInputError as error:
            logger.warning("benchmark result skipped: %s", error)
            outcomes.append(LoadOutcome(str(path), None, REJECTED, message=str(error)))
    if parsed:
        with connect(db_path) as con:
            for path, result in parsed:
                outcome = _insert(con, result, pricing, run_id, session_id, str(path))
                outcomes.append(outcome)
    outcomes.sort(key=lambda item: item.path or "")
    return DirectoryLoad(str(directory), outcomes)


def results_partitions(db_path: Path) -> list[tuple[str, str]]:
    """Every (gpu_model, model) with a measured result, valid or not, sorted.

    The keys of the benchmark-results asset partitioned by GPU x model. An empty list
    when the warehouse does not exist yet.
    """
    if not db_path.is_file():
        return []
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT gpu_model, model FROM benchmark_results"
            " WHERE source = 'measured' ORDER BY gpu_model, model"
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _insert(
    con: duckdb.DuckDBPyConnection,
    result: MeasuredResult,
    pricing: Pricing,
    run_id: str | None,
    session_id: str | None,
    path: str | None,
) -> LoadOutcome:
    found = con.execute(
        "SELECT file_sha256, valid, flags FROM benchmark_results WHERE result_id = ?",
        [result.result_id],
    ).fetchone()
    if found is not None:
        if found[0] == result.sha256:
            flags = tuple(orjson.loads(found[2]))
            return LoadOutcome(path, result.result_id, DUPLICATE, found[1], flags)
        message = (
            f"{path or 'result'}: benchmark_id {result.result_id} is already stored with"
            " different content; a result id names one run, so this one is refused"
        )
        logger.warning("%s", message)
        return LoadOutcome(path, result.result_id, REJECTED, message=message)
    try:
        con.execute(INSERT_SQL, _row(result, pricing, run_id, session_id, path))
    except duckdb.ConstraintException:  # another process stored it a moment ago
        return LoadOutcome(path, result.result_id, DUPLICATE, result.valid, result.flags)
    logger.info(
        "benchmark result %s stored (%s on %s, valid=%s)",
        result.result_id,
        result.model,
        result.gpu_model,
        result.valid,
    )
    return LoadOutcome(path, result.result_id, STORED, result.valid, result.flags)


def _row(
    result: MeasuredResult,
    pricing: Pricing,
    run_id: str | None,
    session_id: str | None,
    path: str | None,
) -> list[Any]:
    summary, stats, config = result.summary, result.gpu_stats, result.config
    values: dict[str, Any] = {
        "result_id": result.result_id,
        "source": "measured",
        "run_id": run_id,
        "session_id": session_id,
        "gpu_model": result.gpu_model,
        "gpu_name_raw": result.gpu_name_raw,
        "gpu_count": result.gpu_count,
        "vram_gb": result.vram_gb,
        "model": result.model,
        "runtime": result.runtime,
        "provider": pricing.provider,
        "location": pricing.location,
        "price_per_hour": pricing.price_per_hour,
        **summary,  # its keys are the column names
        "duration_s": config["duration_s"],
        "max_tokens": config["max_tokens"],
        "prompt_set": config["prompt_set"],
        "gpu_samples": stats["samples"],
        "gpu_util_pct_mean": stats["utilization_pct_mean"],
        "gpu_util_pct_max": stats["utilization_pct_max"],
        "gpu_mem_used_mib_max": stats["memory_used_mib_max"],
        "gpu_temp_c_max": stats["temperature_c_max"],
        "gpu_power_w_mean": stats["power_w_mean"],
        "gpu_power_w_max": stats["power_w_max"],
        "status": result.status,
        "valid": result.valid,
        "flags": orjson.dumps(list(result.flags)).decode(),
        "error_type": result.error_type,
        "note": None,
        "started_at": result.started_at,
        "measured_at": result.finished_at,
        "loaded_at": datetime.now(UTC),
        "file_sha256": result.sha256,
        "source_path": path,
        "raw": result.raw_json,
    }
    return ordered_row(values)


def ordered_row(values: dict[str, Any]) -> list[Any]:
    """Values in INSERT_SQL's column order; a column not given is NULL."""
    unknown = set(values) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"not benchmark_results columns: {sorted(unknown)}")
    return [values.get(column) for column in _COLUMNS]
