"""Decode rates for the sandbox's stand-in LLM server: published where known, else estimated.

Published: `data/reference/published_benchmarks.csv`, one rate per row (the mean of
`tps_low` and `tps_high`); where several rows name the same GPU and model (two providers,
a stress test), the median of those rows, so one odd run does not drag the rate.

Estimated, for a pair the file does not have (decoding is memory-bound, so tokens/s goes
with memory bandwidth and inversely with the model's size in memory):

1. the same model on every GPU that has it, each scaled by the bandwidth ratio;
2. else every published model on the same GPU, each scaled by the size ratio;
3. else every published pair, scaled by both.

The estimate is the median of those figures, so one odd published run (the RTX 3090 rows
for deepseek-r1:32b, partly offloaded to the CPU) does not decide it; deterministic.

GPU names are canonical (`inventory.gpu_models`); the file names a family with its memory
("A100 80GB"), which matches that family's variants when the instance's per-GPU memory is
that size.
"""

import csv
import re
import statistics
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from shopper_pipelines.benchmarks.llm_models import LLM_MODELS, LlmModel
from shopper_pipelines.inventory.gpu_models import canonical_name, lookup
from shopper_pipelines.sandbox.gpu_specs import FALLBACK_SPEC, GPU_SPECS

PUBLISHED_FILE = (
    Path(__file__).resolve().parents[2] / "data" / "reference" / ("published_benchmarks.csv")
)
PUBLISHED, ESTIMATED = "published", "estimated"
MIB_PER_GB = 1024
_SIZE_IN_NAME = re.compile(r"\b(\d+)\s*GB\b", re.IGNORECASE)

# Bandwidth (GB/s) of canonical models `gpu_specs` does not list (it is keyed by Vast's
# spellings); spec-sheet figures. "A100" is the 80 GB part the published file names.
_EXTRA_BANDWIDTH_GBS: dict[str, float] = {
    "RTX 5080": 960.0,
    "RTX 4090D": 1008.0,
    "RTX 4080": 717.0,
    "RTX 4070 Ti": 504.0,
    "RTX 4070 Super": 504.0,
    "RTX 4070": 504.0,
    "RTX 4060": 272.0,
    "RTX 3080 Ti": 912.0,
    "RTX 5060": 448.0,
    "L4": 300.0,
    "L40": 864.0,
    "A100": 1935.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,
    "GH200": 4000.0,
    "Tesla T4": 320.0,
}

Source = Literal["published", "estimated"]


@dataclass(frozen=True)
class Rate:
    """How fast `model` decodes on one `gpu`, and where the figure comes from."""

    gpu: str  # canonical GPU name
    model: str
    tokens_per_second: float
    source: Source
    basis: str  # human-readable: which rows or which scaling gave the figure

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Row:
    gpu: str  # canonical name of the file's GPU ("A100" for "A100 80GB")
    size_gb: int | None  # memory named in the file's GPU name, if any
    model: str
    tps: float


@lru_cache(maxsize=4)
def published_rows(path: Path = PUBLISHED_FILE) -> tuple[_Row, ...]:
    """Every usable row of the published file (rows with no rate are skipped)."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            try:
                low, high = float(raw["tps_low"]), float(raw["tps_high"])
            except (KeyError, TypeError, ValueError):
                continue
            if not (low > 0 and high > 0):
                continue
            size = _SIZE_IN_NAME.search(raw["gpu"])
            rows.append(
                _Row(
                    gpu=canonical_name(raw["gpu"]),
                    size_gb=int(size.group(1)) if size else None,
                    model=raw["model"].strip().lower(),
                    tps=(low + high) / 2,
                )
            )
    return tuple(rows)


def published_rates(path: Path = PUBLISHED_FILE) -> dict[tuple[str, str], float]:
    """(canonical GPU, model) -> published tokens/s (median of the rows' midpoints)."""
    grouped: dict[tuple[str, str], list[float]] = {}
    for row in published_rows(path):
        grouped.setdefault((row.gpu, row.model), []).append(row.tps)
    return {key: statistics.median(values) for key, values in grouped.items()}


def gpu_name(text: str) -> str:
    """The canonical GPU name for any spelling an instance carries."""
    return canonical_name(text)


def bandwidth_gbs(gpu: str) -> float:
    """Memory bandwidth of a canonical GPU model (a fallback figure when unknown)."""
    return _bandwidths().get(gpu, _EXTRA_BANDWIDTH_GBS.get(gpu, FALLBACK_SPEC.mem_bw_gbs))


@lru_cache(maxsize=1)
def _bandwidths() -> dict[str, float]:
    return {canonical_name(name): spec.mem_bw_gbs for name, spec in GPU_SPECS.items()}


def _published_gpu(gpu: str, vram_mib: int | None, rates_gpus: set[str]) -> str | None:
    """The file's GPU name that this instance's GPU is, if any (exact, or family + size)."""
    if gpu in rates_gpus:
        return gpu
    model = lookup(gpu)
    if model is None or model.family not in rates_gpus:
        return None
    sizes = {row.size_gb for row in published_rows() if row.gpu == model.family}
    if vram_mib is None or None in sizes:
        return model.family
    per_gpu_gb = round(vram_mib / MIB_PER_GB)
    return model.family if any(abs(per_gpu_gb - s) <= 0.1 * s for s in sizes if s) else None


def rate_for(
    gpu: str, model: LlmModel, vram_mib: int | None = None, path: Path = PUBLISHED_FILE
) -> Rate:
    """The decode rate of `model` on `gpu` (any spelling); `vram_mib` is per GPU."""
    canonical = gpu_name(gpu)
    rates = published_rates(path)
    gpus = {g for g, _ in rates}
    same = _published_gpu(canonical, vram_mib, gpus)
    if same is not None and (same, model.name) in rates:
        count = sum(1 for r in published_rows(path) if (r.gpu, r.model) == (same, model.name))
        basis = f"{count} published row(s) for {same} x {model.name}"
        return Rate(canonical, model.name, round(rates[same, model.name], 2), PUBLISHED, basis)
    bandwidth = bandwidth_gbs(canonical)
    sizes = {name: LLM_MODELS[name].size_gb for _, name in rates if name in LLM_MODELS}
    if any(name == model.name for _, name in rates):
        # The same model elsewhere, scaled by bandwidth.
        scaled = {g: tps * bandwidth / bandwidth_gbs(g) for (g, m), tps in rates.items()
                  if m == model.name}  # fmt: skip
        how = f"{model.name} on {len(scaled)} GPU(s) x memory bandwidth"
    elif same is not None:
        # Other models on the same GPU, scaled by size.
        scaled = {m: tps * sizes[m] / model.size_gb for (g, m), tps in rates.items()
                  if g == same and m in sizes}  # fmt: skip
        how = f"{len(scaled)} model(s) on {same} x model size"
    else:
        scaled = {
            f"{g}/{m}": tps * bandwidth / bandwidth_gbs(g) * sizes[m] / model.size_gb
            for (g, m), tps in rates.items()
            if m in sizes
        }
        how = f"{len(scaled)} published pair(s) x memory bandwidth x model size"
    tps = statistics.median(scaled.values())
    return Rate(canonical, model.name, round(tps, 2), ESTIMATED, f"median of {how}")
