"""Result documents for tests, derived from the realistic fixture file."""

import copy
import json
import secrets
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "benchmark_llama3.1-8b_20261204T160211Z.json"
DEGENERATE = FIXTURES / "benchmark_mistral-7b_20261204T160502Z.json"
MALFORMED = FIXTURES / "benchmark_qwen2-7b_20261204T161000Z.json"


def good_result() -> dict[str, Any]:
    return json.loads(GOOD.read_text())


def variant(
    *,
    gpu_name: str = "NVIDIA GeForce RTX 4090",
    tps: float | None = 169.07,
    model: str = "llama3.1:8b",
    gpus: int = 1,
    memory_mib: int = 24564,
    finished_at: str = "2026-12-04T16:02:45Z",
) -> dict[str, Any]:
    """The good fixture measured again on other hardware: new id, GPU and rate."""
    result = copy.deepcopy(good_result())
    result["benchmark_id"] = f"bench-{secrets.token_hex(6)}"
    result["model"] = model
    result["finished_at"] = finished_at
    result["summary"]["tokens_per_second"] = tps
    result["host"]["gpus"] = [
        {"index": i, "name": gpu_name, "memory_total_mib": memory_mib, "driver_version": "550.1"}
        for i in range(gpus)
    ]
    return result


def write(folder: Path, result: dict[str, Any], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"benchmark_{result['benchmark_id']}.json")
    path.write_text(json.dumps(result, indent=2))
    return path
