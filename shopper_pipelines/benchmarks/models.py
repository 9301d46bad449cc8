"""The benchmark result contract (schema version 1), read and checked at the edge.

`benchmark_scripts/` writes one JSON file per (model, runtime) run; this module turns one
into a typed `MeasuredResult` or raises InvalidInputError naming the file and the field.
On top of the script's own `valid` and `flags` it applies the loader's checks (no
successful request, missing or implausible tokens/s, no GPU named), so a degenerate run
is stored for the record but never feeds a $/M-token figure.
"""

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import canonical_name, lookup

SCHEMA_VERSION = 1
STATUSES = ("ok", "partial", "failed")
RUNTIMES = ("ollama", "openai")
UNKNOWN_GPU = "unknown"
# A single stream above this is a broken measurement, not a fast GPU: the fastest
# published single-stream figures are a few hundred tokens/s.
MAX_PLAUSIBLE_TPS = 5_000.0
MIB_PER_GB = 1024
_BENCHMARK_ID = re.compile(r"^bench-[0-9a-f]{12}$")

# Flags the loader adds (the script's own flags are kept as they are).
FLAG_NO_SUCCESS = "no_successful_requests"
FLAG_DEGENERATE_TPS = "degenerate_tps"
FLAG_NO_GPU = "no_gpu_info"
FLAG_MIXED_GPUS = "mixed_gpus"
# A GPU name no catalogue entry matches: its figures would rank a card nobody can rent.
FLAG_UNKNOWN_GPU = "unknown_gpu"
# Memory that no variant of the named model has: the name or the figures are wrong.
FLAG_VRAM_MISMATCH = "vram_mismatch"
VRAM_SLACK = 0.1  # nvidia-smi reports a little under the marketed size (snap_vram's 10 %)
# A result with any of these is kept but left out of analytics; a mixed host cannot say
# which card the rate belongs to.
INVALIDATING = frozenset({FLAG_NO_SUCCESS, FLAG_DEGENERATE_TPS, FLAG_NO_GPU, FLAG_UNKNOWN_GPU,
                          FLAG_VRAM_MISMATCH, FLAG_MIXED_GPUS})  # fmt: skip


@dataclass(frozen=True)
class MeasuredResult:
    """One result file's facts, flattened into the warehouse's columns."""

    result_id: str
    status: str
    valid: bool
    flags: tuple[str, ...]
    runtime: str
    model: str
    gpu_model: str
    gpu_name_raw: str | None
    gpu_count: int
    vram_gb: float | None
    started_at: datetime
    finished_at: datetime
    summary: dict[str, float | int | None]
    config: dict[str, float | int | str | None]
    gpu_stats: dict[str, float | int | None]
    error_type: str | None
    sha256: str
    raw_json: str


def content_sha256(data: dict[str, Any]) -> str:
    """Hash of the canonical JSON (sorted keys): the same result hashes the same whether
    it arrives as a file or as the runner's dict."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


class _Reader:
    """Field access that names the file and the dotted field in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, why: str, value: Any = ...) -> InvalidInputError:
        seen = "" if value is ... else f", got {_short(value)}"
        return InvalidInputError(f"{self.where}: field {field} {why}{seen}")

    def obj(self, parent: dict[str, Any], key: str, field: str) -> dict[str, Any]:
        if key not in parent:
            raise self.fail(field, "is missing")
        value = parent[key]
        if not isinstance(value, dict):
            raise self.fail(field, "must be an object", value)
        return value

    def array(self, parent: dict[str, Any], key: str, field: str) -> list[Any]:
        if key not in parent:
            raise self.fail(field, "is missing")
        value = parent[key]
        if not isinstance(value, list):
            raise self.fail(field, "must be a list", value)
        return value

    def text(self, parent: dict[str, Any], key: str, field: str) -> str:
        value = parent.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "must be a non-empty string", value)
        return value.strip()

    def number(self, parent: dict[str, Any], key: str, field: str) -> float | None:
        """A finite number or null; a missing key reads as null (not measured)."""
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, "must be a number or null", value)
        if not math.isfinite(value):
            raise self.fail(field, "must be finite (null when not measured)", value)
        return float(value)

    def count(self, parent: dict[str, Any], key: str, field: str) -> int | None:
        value = self.number(parent, key, field)
        if value is None:
            return None
        if value < 0 or value != int(value):
            raise self.fail(field, "must be a whole number, zero or more", parent[key])
        return int(value)

    def moment(self, parent: dict[str, Any], key: str, field: str) -> datetime:
        text = self.text(parent, key, field)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(field, "must be an ISO-8601 time", text) from None
        if moment.tzinfo is None:
            raise self.fail(field, "must carry a time zone (UTC, 'Z')", text)
        return moment.astimezone(UTC)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SUMMARY_NUMBERS = ("wall_s", "tokens_per_second", "aggregate_tokens_per_second", "tps_p50",
                    "tps_min", "tps_max", "ttft_ms_mean", "ttft_ms_p50", "ttft_ms_p95",
                    "quality_match_rate")  # fmt: skip
_SUMMARY_COUNTS = ("requests", "successful", "failed", "output_tokens", "quality_prompts",
                   "quality_matches")  # fmt: skip
_GPU_STAT_NUMBERS = ("utilization_pct_mean", "utilization_pct_max", "memory_used_mib_max",
                     "temperature_c_max", "power_w_mean", "power_w_max")  # fmt: skip


def parse_result(data: Any, where: str) -> MeasuredResult:
    """Check one decoded result against the contract; `where` names it in errors."""
    read = _Reader(where)
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: a result must be a JSON object, got {_short(data)}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise read.fail("schema_version", f"must be {SCHEMA_VERSION}", version)
    result_id = read.text(data, "benchmark_id", "benchmark_id")
    if not _BENCHMARK_ID.match(result_id):
        raise read.fail("benchmark_id", "must look like bench-<12 hex digits>", result_id)
    status = data.get("status")
    if status not in STATUSES:
        raise read.fail("status", f"must be one of {', '.join(STATUSES)}", status)
    if not isinstance(data.get("valid"), bool):
        raise read.fail("valid", "must be true or false", data.get("valid"))
    flags = read.array(data, "flags", "flags")
    if not all(isinstance(flag, str) for flag in flags):
        raise read.fail("flags", "must be a list of strings", flags)
    runtime = data.get("runtime")
    if runtime not in RUNTIMES:
        raise read.fail("runtime", f"must be one of {', '.join(RUNTIMES)}", runtime)
    model = read.text(data, "model", "model").lower()
    started = read.moment(data, "started_at", "started_at")
    finished = read.moment(data, "finished_at", "finished_at")
    if finished < started:
        raise read.fail("finished_at", f"is before started_at ({started.isoformat()})")

    config_in = read.obj(data, "config", "config")
    config = {
        "duration_s": read.number(config_in, "duration_s", "config.duration_s"),
        "max_tokens": read.count(config_in, "max_tokens", "config.max_tokens"),
        "prompt_set": config_in.get("prompt_set")
        if isinstance(config_in.get("prompt_set"), str)
        else None,
    }
    summary_in = read.obj(data, "summary", "summary")
    summary: dict[str, float | int | None] = {
        key: read.number(summary_in, key, f"summary.{key}") for key in _SUMMARY_NUMBERS
    }
    summary.update({key: read.count(summary_in, key, f"summary.{key}") for key in _SUMMARY_COUNTS})
    stats_in = read.obj(data, "gpu_stats", "gpu_stats")
    gpu_stats: dict[str, float | int | None] = {
        key: read.number(stats_in, key, f"gpu_stats.{key}") for key in _GPU_STAT_NUMBERS
    }
    gpu_stats["samples"] = read.count(stats_in, "samples", "gpu_stats.samples")
    read.array(data, "requests", "requests")
    errors = read.array(data, "errors", "errors")
    error_type = _first_error_type(read, errors)
    gpu_model, raw_name, gpu_count, vram_gb, gpu_flags = _gpus(read, data)

    all_flags = list(dict.fromkeys([*flags, *gpu_flags, *_loader_flags(summary)]))
    valid = bool(data["valid"]) and status != "failed" and not (INVALIDATING & set(all_flags))
    return MeasuredResult(
        result_id=result_id,
        status=status,
        valid=valid,
        flags=tuple(all_flags),
        runtime=runtime,
        model=model,
        gpu_model=gpu_model,
        gpu_name_raw=raw_name,
        gpu_count=gpu_count,
        vram_gb=vram_gb,
        started_at=started,
        finished_at=finished,
        summary=summary,
        config=config,
        gpu_stats=gpu_stats,
        error_type=error_type,
        sha256=content_sha256(data),
        raw_json=orjson.dumps(data).decode(),
    )


def _first_error_type(read: _Reader, errors: list[Any]) -> str | None:
    for index, error in enumerate(errors):
        if not isinstance(error, dict) or not isinstance(error.get("type"), str):
            raise read.fail(f"errors[{index}].type", "must be a string", error)
    return errors[0]["type"] if errors else None


def _gpus(read: _Reader, data: dict[str, Any]) -> tuple[str, str | None, int, float | None, list]:
    """Canonical GPU model, raw name, count and per-GPU VRAM from host.gpus."""
    host = read.obj(data, "host", "host")
    gpus = read.array(host, "gpus", "host.gpus")
    names: list[str] = []
    vram: list[float] = []
    for index, gpu in enumerate(gpus):
        if not isinstance(gpu, dict):
            raise read.fail(f"host.gpus[{index}]", "must be an object", gpu)
        names.append(read.text(gpu, "name", f"host.gpus[{index}].name"))
        mib = read.number(gpu, "memory_total_mib", f"host.gpus[{index}].memory_total_mib")
        if mib is not None and mib > 0:
            vram.append(mib / MIB_PER_GB)
    if not names:
        return UNKNOWN_GPU, None, 0, None, [FLAG_NO_GPU]
    canonical = [canonical_name(name) for name in names]
    # The most common model names the result; a mixed host or a name (any of them) the
    # catalogue does not know is flagged: stored, but left out of analytics.
    chosen = max(set(canonical), key=canonical.count)
    flags = [FLAG_MIXED_GPUS] if len(set(canonical)) > 1 else []
    raw_name = names[canonical.index(chosen)]
    if any(lookup(name) is None for name in names):
        flags.append(FLAG_UNKNOWN_GPU)
    model = lookup(raw_name)
    if model is not None and any(not _fits(model.vram_gb, gb) for gb in vram):
        flags.append(FLAG_VRAM_MISMATCH)
    return chosen, raw_name, len(names), round(min(vram), 1) if vram else None, flags


def _fits(sizes: tuple[int, ...], measured_gb: float) -> bool:
    """Whether a measured per-GPU memory is one of the model's sizes, within 10 %."""
    return any(abs(size - measured_gb) <= VRAM_SLACK * size for size in sizes)


def _loader_flags(summary: dict[str, float | int | None]) -> list[str]:
    flags = []
    if not summary["successful"]:
        flags.append(FLAG_NO_SUCCESS)
    tps = summary["tokens_per_second"]
    if tps is None or tps <= 0 or tps > MAX_PLAUSIBLE_TPS:
        flags.append(FLAG_DEGENERATE_TPS)
    return flags
