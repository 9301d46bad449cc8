"""The result document (schema version 1): request records, summary, flags, the file.

The contract lives in benchmark_scripts/README.md; `benchmarks/` on
the control side reads these files. Everything that cannot be measured is None (JSON
null), never 0 or infinity: `clean()` turns any non-finite float into None before
writing, and the writer refuses NaN outright.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timezone

from . import SCHEMA_VERSION
from .errors import BenchError
from .prompts import matches
from .streams import (
    DEGENERATE_TPS,
    MAX_PLAUSIBLE_TPS,
    MISSING_DURATIONS,
    MISSING_TOKEN_COUNTS,
    Measurement,
)

MIN_SUCCESSFUL = 3  # fewer successful throughput requests than this is a short run
# A shorter answer (the quality prompts ask for a number or a word) says more about
# per-request overhead than about decoding: its rate is kept on the request but left out
# of the summary's rates and of the run's degenerate_tps flag.
MIN_RATE_TOKENS = 32
SHORT_RUN_SHARE = 0.9  # a throughput phase ending before 90 % of --duration was cut short

NO_SUCCESSFUL_REQUESTS = "no_successful_requests"
NO_GPU_SAMPLES = "no_gpu_samples"
SHORT_RUN = "short_run"
SHORT_ANSWERS = "short_answers"  # requests succeeded, none long enough for a rate
# Request-level flags that make the run's numbers suspect when a measured request has them.
REQUEST_FLAGS = (DEGENERATE_TPS, MISSING_TOKEN_COUNTS, MISSING_DURATIONS)


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def request_record(
    prompt: dict,
    phase: str,
    concurrency: int,
    measured: Measurement | None = None,
    error: BenchError | None = None,
) -> dict:
    """One entry of `requests`; `match` only for quality prompts that were answered."""
    record = {
        "prompt_id": prompt["id"],
        "category": prompt["category"],
        "phase": phase,
        "concurrency": concurrency,
        "ttft_ms": None,
        "output_tokens": None,
        "prompt_tokens": None,
        "prompt_cached": None,
        "tokens_per_second": None,
        "total_ms": None,
        "match": None,
        "error": error.kind if error is not None else None,
        "flags": [],
    }
    if measured is not None and error is None:
        record.update(
            ttft_ms=_round(_ms(measured.ttft_s), 1),
            output_tokens=measured.output_tokens,
            prompt_tokens=measured.prompt_tokens,
            prompt_cached=measured.prompt_cached,
            tokens_per_second=_round(measured.tokens_per_second, 2),
            total_ms=_round(_ms(measured.total_s), 1),
            flags=list(measured.flags),
        )
        if phase == "quality":
            record["match"] = matches(measured.text, prompt.get("expect"))
    return record


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def percentile(values: list[float], share: float) -> float | None:
    """Linear-interpolated percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _present(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if r.get(key) is not None]


def aggregate_rate(records: list[dict], wall_s: float | None, concurrency: int = 1) -> float | None:
    """Output tokens of the successful requests over the phase's wall time."""
    tokens = _present([r for r in records if r["error"] is None], "output_tokens")
    if not tokens or not wall_s or wall_s <= 0:
        return None
    rate = sum(tokens) / wall_s
    return _round(rate, 2) if 0 < rate <= MAX_PLAUSIBLE_TPS * concurrency else None


def rated(records: list[dict]) -> list[dict]:
    """The records long enough for their decode rate to count (MIN_RATE_TOKENS)."""
    return [r for r in records if (r["output_tokens"] or 0) >= MIN_RATE_TOKENS]


def summarize(requests: list[dict], wall_s: float | None) -> dict:
    """Contract `summary`: throughput phase (concurrency 1) numbers, quality match rate."""
    throughput = [r for r in requests if r["phase"] == "throughput"]
    ok = [r for r in throughput if r["error"] is None]
    tps = _present(rated(ok), "tokens_per_second")
    ttft = _present(ok, "ttft_ms")
    answered = [r for r in requests if r["phase"] == "quality" and r["match"] is not None]
    hits = sum(1 for r in answered if r["match"])
    return {
        "requests": len(throughput),
        "successful": len(ok),
        "failed": len(throughput) - len(ok),
        "output_tokens": sum(_present(ok, "output_tokens")) if ok else None,
        "wall_s": _round(wall_s, 3),
        "tokens_per_second": _round(sum(tps) / len(tps), 2) if tps else None,
        "aggregate_tokens_per_second": aggregate_rate(throughput, wall_s),
        "tps_p50": _round(percentile(tps, 0.5), 2),
        "tps_min": _round(min(tps), 2) if tps else None,
        "tps_max": _round(max(tps), 2) if tps else None,
        "ttft_ms_mean": _round(sum(ttft) / len(ttft), 1) if ttft else None,
        "ttft_ms_p50": _round(percentile(ttft, 0.5), 1),
        "ttft_ms_p95": _round(percentile(ttft, 0.95), 1),
        "quality_prompts": len(answered),
        "quality_matches": hits,
        "quality_match_rate": _round(hits / len(answered), 4) if answered else None,
    }


def sweep_entry(concurrency: int, records: list[dict], wall_s: float | None) -> dict:
    ok = [r for r in records if r["error"] is None]
    return {
        "concurrency": concurrency,
        "requests": len(records),
        "successful": len(ok),
        "aggregate_tokens_per_second": aggregate_rate(records, wall_s, concurrency),
        "ttft_ms_p50": _round(percentile(_present(ok, "ttft_ms"), 0.5), 1),
    }


def run_flags(
    requests: list[dict], summary: dict, gpu_samples: int, duration_s: float
) -> list[str]:
    """Contract `flags`: what makes the numbers suspect or unusable, in a stable order."""
    flags = []
    if not summary["successful"]:
        flags.append(NO_SUCCESSFUL_REQUESTS)
    if gpu_samples == 0:
        flags.append(NO_GPU_SAMPLES)
    measured = [r for r in requests if r["phase"] != "quality" and r["error"] is None]
    for flag in REQUEST_FLAGS:
        among = rated(measured) if flag == DEGENERATE_TPS else measured
        if any(flag in r["flags"] for r in among):
            flags.append(flag)
    if summary["successful"] and not rated([r for r in measured if r["phase"] == "throughput"]):
        flags.append(SHORT_ANSWERS)
    wall_s = summary["wall_s"] or 0.0
    if summary["successful"] < MIN_SUCCESSFUL or wall_s < duration_s * SHORT_RUN_SHARE:
        flags.append(SHORT_RUN)
    return flags


def outcome(summary: dict, requests: list[dict], errors: list[dict]) -> tuple[str, bool]:
    """(status, valid): failed without a successful throughput request; partial when
    anything failed or the run was cut short; valid when a decode rate was measured."""
    valid = summary["tokens_per_second"] is not None
    if not summary["successful"]:
        return "failed", valid
    cut_short = any(e["type"] != "gpu_query_failed" for e in errors)
    if cut_short or any(r["error"] is not None for r in requests):
        return "partial", valid
    return "ok", valid


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017


def model_slug(model: str) -> str:
    """`llama3.1:8b` → `llama3.1-8b`; anything outside [A-Za-z0-9._-] becomes '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"


def clean(value: object) -> object:
    """A copy with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value


def write_result(document: dict, out_dir: str, model: str, started: datetime) -> str:
    """Write `<out_dir>/benchmark_<slug>_<YYYYmmddTHHMMSSZ>.json` atomically; its path."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")  # noqa: UP017
    base = os.path.join(out_dir, f"benchmark_{model_slug(model)}_{stamp}")
    path, copy = base + ".json", 1
    while os.path.exists(path):  # two runs in one second keep both files
        copy += 1
        path = f"{base}-{copy}.json"
    text = json.dumps(clean(document), indent=2, allow_nan=False)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)
    return os.path.abspath(path)


def document_skeleton(
    benchmark_id: str, runtime: str, model: str, server_url: str, config: dict
) -> dict:
    """The document with every contract key, before anything was measured."""
    return {
        "schema_version": SCHEMA_VERSION,
        "benchmark_id": benchmark_id,
        "status": "failed",
        "valid": False,
        "flags": [],
        "runtime": runtime,
        "model": model,
        "server_url": server_url,
        "started_at": None,
        "finished_at": None,
        "config": config,
        "host": {"hostname": None, "gpus": [], "cuda_version": None},
        "summary": summarize([], None),
        "concurrency_sweep": [],
        "gpu_stats": {},
        "requests": [],
        "errors": [],
    }
