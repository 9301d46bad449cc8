"""Turn a well-formed Vast record into one of the odd or bad shapes real searches return.

What each kind imitates is listed in the docstring of `shopper_pipelines.sandbox.market`.
"""

from typing import Any

from shopper_pipelines.sandbox.vast_pricing import DEFAULT_ALLOCATED_STORAGE_GB, price_fields

# Odd but valid: a normaliser must keep these (positions inside every block of 100 slots).
ODD_KINDS: tuple[str, ...] = (
    "null_geolocation",
    "null_cuda_max_good",
    "null_reliability2",
    "null_inet_up",
    "geforce_spelling",
    "underscore_spelling",
    "nvidia_smi_spelling",
    "tesla_prefix",
    "modded_4090_hk",
    "eight_gpus",
)
# Truly bad: a normaliser must skip these (positions inside every block of 1000 slots).
BAD_KINDS: tuple[str, ...] = ("zero_gpus", "null_dph_total", "negative_dph_total", "null_gpu_name")
ODD_BLOCK, ODD_FIRST_POSITION = 100, 10
BAD_BLOCK, BAD_FIRST_POSITION = 1000, 0

# Kinds that only make sense for one GPU variant (Vast spelling).
FORCED_VARIANT: dict[str, str] = {
    "geforce_spelling": "RTX 4090",
    "underscore_spelling": "RTX 4090",
    "modded_4090_hk": "RTX 4090",
    "nvidia_smi_spelling": "A100 SXM4",
    "tesla_prefix": "Tesla V100",
    "eight_gpus": "H100 SXM",
}
MODDED_4090_VRAM_MIB = 49140
A100_80GB_VRAM_MIB = 81920
EIGHT = 8


def oddity_for_slot(slot: int) -> str | None:
    """The fixed oddity of a slot, or None for an ordinary one."""
    bad_position = slot % BAD_BLOCK - BAD_FIRST_POSITION
    if 0 <= bad_position < len(BAD_KINDS):
        return BAD_KINDS[bad_position]
    odd_position = slot % ODD_BLOCK - ODD_FIRST_POSITION
    if 0 <= odd_position < len(ODD_KINDS):
        return ODD_KINDS[odd_position]
    return None


def _resize(offer: dict[str, Any], num_gpus: int) -> None:
    per_gpu = offer["dph_base"] / offer["num_gpus"]
    scale = num_gpus / offer["num_gpus"]
    for field in ("total_flops", "dlperf", "score", "min_bid"):
        offer[field] *= scale
    offer["num_gpus"] = num_gpus
    offer["gpu_frac"] = 1.0
    offer["gpu_ids"] = [offer["gpu_ids"][0] + index for index in range(num_gpus)]
    offer["dph_base"] = per_gpu * num_gpus


def apply_oddity(offer: dict[str, Any], kind: str) -> dict[str, Any]:
    """Reshape `offer` (a fresh record, changed in place) into `kind`; returns it."""
    if kind.startswith("null_") and kind != "null_dph_total":
        offer[kind.removeprefix("null_")] = None
        return offer
    if kind == "geforce_spelling":
        offer["gpu_name"] = "GeForce RTX 4090"
    elif kind == "underscore_spelling":
        offer["gpu_name"] = "RTX_4090"
    elif kind == "tesla_prefix":
        offer["gpu_name"] = "Tesla V100"
    elif kind == "nvidia_smi_spelling":
        offer["gpu_name"] = "NVIDIA A100-SXM4-80GB"
        offer["gpu_ram"] = A100_80GB_VRAM_MIB
    elif kind == "modded_4090_hk":
        offer["gpu_ram"] = MODDED_4090_VRAM_MIB
        offer["geolocation"] = "Hong Kong, HK"
    elif kind == "eight_gpus":
        _resize(offer, EIGHT)
    elif kind == "zero_gpus":
        offer["num_gpus"] = 0
        offer["gpu_ids"] = []
    elif kind == "null_dph_total":
        offer["dph_base"] = None
    elif kind == "negative_dph_total":
        offer["dph_base"] = -abs(offer["dph_base"])
    offer["gpu_total_ram"] = offer["gpu_ram"] * offer["num_gpus"]
    offer.update(price_fields(offer, DEFAULT_ALLOCATED_STORAGE_GB))
    return offer
