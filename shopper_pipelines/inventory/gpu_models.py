"""The canonical GPU catalogue: one name for every spelling a provider or a user writes.

A canonical model keeps the variants that change what you get (A100 SXM4 vs PCIe,
H100 SXM vs NVL); a *family* ("A100") groups them, so `-g A100` finds every A100 while
`-g "A100 SXM4"` finds only that variant. VRAM sizes are the real ones, including known
modded cards (48 GB RTX 4090s), so a snapshot can snap MiB figures to them.
"""

import difflib
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuModel:
    name: str
    family: str
    vram_gb: tuple[int, ...]
    aliases: tuple[str, ...] = ()


_CATALOGUE: tuple[GpuModel, ...] = (
    GpuModel("RTX 5090", "RTX 5090", (32,)),
    GpuModel("RTX 5080", "RTX 5080", (16,)),
    GpuModel("RTX 5070 Ti", "RTX 5070 Ti", (16,)),
    GpuModel("RTX 5070", "RTX 5070", (12,)),
    GpuModel("RTX 5060 Ti", "RTX 5060 Ti", (8, 16)),
    GpuModel("RTX 5060", "RTX 5060", (8,)),
    GpuModel("RTX 4090", "RTX 4090", (24, 48)),
    GpuModel("RTX 4090D", "RTX 4090D", (24, 48)),
    GpuModel("RTX 4080 Super", "RTX 4080 Super", (16,), ("rtx4080s",)),
    GpuModel("RTX 4080", "RTX 4080", (16,)),
    GpuModel("RTX 4070 Ti Super", "RTX 4070 Ti Super", (16,), ("rtx4070sti", "rtx4070tis")),
    GpuModel("RTX 4070 Ti", "RTX 4070 Ti", (12,)),
    GpuModel("RTX 4070 Super", "RTX 4070 Super", (12,), ("rtx4070s",)),
    GpuModel("RTX 4070", "RTX 4070", (12,)),
    GpuModel("RTX 4060 Ti", "RTX 4060 Ti", (8, 16)),
    GpuModel("RTX 4060", "RTX 4060", (8,)),
    GpuModel("RTX 3090 Ti", "RTX 3090 Ti", (24,)),
    GpuModel("RTX 3090", "RTX 3090", (24,)),
    GpuModel("RTX 3080 Ti", "RTX 3080 Ti", (12,)),
    GpuModel("RTX 3080", "RTX 3080", (10, 12)),
    GpuModel("RTX 3070", "RTX 3070", (8,)),
    GpuModel("RTX 3060 Ti", "RTX 3060 Ti", (8,)),
    GpuModel("RTX 3060", "RTX 3060", (8, 12)),
    GpuModel("RTX 2080 Ti", "RTX 2080 Ti", (11,)),
    GpuModel("RTX A2000", "RTX A2000", (6, 12)),
    GpuModel("RTX A4000", "RTX A4000", (16,)),
    GpuModel("RTX A5000", "RTX A5000", (24,)),
    GpuModel("RTX A6000", "RTX A6000", (48,)),
    GpuModel("RTX 6000 Ada", "RTX 6000 Ada", (48,), ("rtx6000ada", "6000ada")),
    GpuModel("RTX 5880 Ada", "RTX 5880 Ada", (48,), ("rtx5880ada",)),
    GpuModel("RTX PRO 6000", "RTX PRO 6000", (96,), ("rtxpro6000s", "rtxpro6000ws")),
    GpuModel("A10", "A10", (24,)),
    GpuModel("A40", "A40", (48,)),
    GpuModel("L4", "L4", (24,)),
    GpuModel("L40", "L40", (48,)),
    GpuModel("L40S", "L40S", (48,)),
    GpuModel("A100 PCIe", "A100", (40, 80), ("a100pcie",)),
    GpuModel("A100 SXM4", "A100", (40, 80), ("a100sxm4", "a100sxm")),
    GpuModel("A100", "A100", (40, 80)),
    GpuModel("H100 PCIe", "H100", (80,), ("h100pcie",)),
    GpuModel("H100 SXM", "H100", (80,), ("h100sxm", "h100sxm5", "h100hbm3")),
    GpuModel("H100 NVL", "H100", (94,), ("h100nvl",)),
    GpuModel("H100", "H100", (80, 94)),
    GpuModel("H200", "H200", (141,), ("h200sxm",)),
    GpuModel("H200 NVL", "H200", (141,), ("h200nvl",)),
    GpuModel("GH200", "GH200", (96,)),
    GpuModel("B200", "B200", (180, 192)),
    GpuModel("V100", "V100", (16, 32), ("teslav100", "v100sxm2", "v100pcie")),
    GpuModel("Tesla T4", "Tesla T4", (16,), ("t4", "teslat4")),
)

_MEMORY = re.compile(r"\d+gb")


def _key(text: str) -> str:
    lowered = unicodedata.normalize("NFKC", text).lower()
    lowered = _MEMORY.sub("", lowered)
    lowered = re.sub(r"[^a-z0-9]+", "", lowered)
    lowered = lowered.replace("nvidia", "").replace("geforce", "")
    return lowered


_BY_KEY: dict[str, GpuModel] = {}
for _model in _CATALOGUE:
    for _alias in (_model.name, *_model.aliases):
        _BY_KEY.setdefault(_key(_alias), _model)
_FAMILIES: dict[str, list[GpuModel]] = {}
for _model in _CATALOGUE:
    _FAMILIES.setdefault(_key(_model.family), []).append(_model)

# Form-factor suffixes that say nothing for consumer cards ("RTX 4090 PCIe").
_DROPPABLE_SUFFIXES = ("pcie", "sxm", "sxm4", "sxm5")


def lookup(text: str | None) -> GpuModel | None:
    """The catalogue entry for any spelling, or None when the model is unknown."""
    if not text or not text.strip():
        return None
    key = _key(text)
    if key.isdigit():  # "4090" is what people type for an RTX 4090
        key = f"rtx{key}"
    if key in _BY_KEY:
        return _BY_KEY[key]
    for suffix in _DROPPABLE_SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in _BY_KEY:
            return _BY_KEY[key[: -len(suffix)]]
    return None


def canonical_name(text: str) -> str:
    """The canonical model name, or a tidied form of an unknown spelling."""
    model = lookup(text)
    if model is not None:
        return model.name
    return " ".join(text.replace("_", " ").split())


def resolve_query(text: str) -> list[str]:
    """The canonical names a user's `-g` value selects.

    An exact model selects itself; a family name selects all its variants; a spelling
    we do not know selects itself verbatim (tidied), so a new model still filters.
    """
    key = _key(text)
    if key in _FAMILIES:
        return [model.name for model in _FAMILIES[key]]
    model = lookup(text)
    if model is not None:
        return [model.name]
    return [canonical_name(text)]


def snap_vram(model: GpuModel | None, measured_gb: float) -> float:
    """Snap a measured per-GPU VRAM (from MiB) to the model's real size when close."""
    if model is not None:
        nearest = min(model.vram_gb, key=lambda size: abs(size - measured_gb))
        if abs(nearest - measured_gb) <= 0.1 * nearest:
            return float(nearest)
    return float(round(measured_gb))


def known_models() -> tuple[GpuModel, ...]:
    return _CATALOGUE


def suggestions(text: str, extra_names: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Catalogue (and extra) names that look like `text`, best first."""
    names = {model.name for model in _CATALOGUE} | set(extra_names)
    by_key = {_key(name): name for name in names}
    close = difflib.get_close_matches(_key(text), list(by_key), n=3, cutoff=0.5)
    return [by_key[key] for key in close]
