"""The name `nvidia-smi` prints for a GPU, from the provider's own spelling of it.

Vast lists "RTX 4090" where the driver says "NVIDIA GeForce RTX 4090"; TensorDock lists
v0 names such as "geforcertx4090-pcie-24gb". An instance reports the driver's spelling.
"""

# Vast spelling -> driver spelling, where it is not simply "NVIDIA " + the name.
_VAST_TO_DRIVER: dict[str, str] = {
    "H100 SXM": "NVIDIA H100 80GB HBM3",
    "H100 NVL": "NVIDIA H100 NVL",
    "A100 PCIE": "NVIDIA A100 80GB PCIe",
    "RTX 6000Ada": "NVIDIA RTX 6000 Ada Generation",
    "RTX 5880Ada": "NVIDIA RTX 5880 Ada Generation",
    "RTX PRO 6000 WS": "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
    "RTX PRO 6000 S": "NVIDIA RTX PRO 6000 Blackwell Server Edition",
    "RTX 4080S": "NVIDIA GeForce RTX 4080 SUPER",
    "RTX 4070S Ti": "NVIDIA GeForce RTX 4070 Ti SUPER",
    "Tesla V100": "Tesla V100-SXM2-32GB",
}
_TENSORDOCK_TO_DRIVER: dict[str, str] = {
    "geforcertx4090-pcie-24gb": "NVIDIA GeForce RTX 4090",
    "geforcertx3090-pcie-24gb": "NVIDIA GeForce RTX 3090",
    "geforcertx3080-pcie-10gb": "NVIDIA GeForce RTX 3080",
    "rtxa6000-pcie-48gb": "NVIDIA RTX A6000",
    "a100-pcie-80gb": "NVIDIA A100 80GB PCIe",
    "h100-sxm5-80gb": "NVIDIA H100 80GB HBM3",
}
UNKNOWN_DEVICE = "NVIDIA Graphics Device"
MIB_PER_GB = 1024
A100_40GB_MIB = 40_960


def driver_name_for_vast(gpu_name: str | None, gpu_ram_mib: float | None) -> str:
    """'RTX 4090' -> 'NVIDIA GeForce RTX 4090'; odd spellings land on the same name."""
    if not gpu_name:
        return UNKNOWN_DEVICE
    name = gpu_name.replace("_", " ").strip()
    if name.startswith(("NVIDIA ", "Tesla V100-")):
        return name
    name = name.removeprefix("GeForce ")
    if name == "A100 SXM4":
        size = 40 if (gpu_ram_mib or 0) <= A100_40GB_MIB else 80
        return f"NVIDIA A100-SXM4-{size}GB"
    if name in _VAST_TO_DRIVER:
        return _VAST_TO_DRIVER[name]
    if name.startswith(("RTX 2", "RTX 3", "RTX 4", "RTX 5", "GTX ")):
        return f"NVIDIA GeForce {name}"
    return f"NVIDIA {name}"


def driver_name_for_tensordock(v0_name: str, display_name: str | None = None) -> str:
    """'geforcertx4090-pcie-24gb' -> 'NVIDIA GeForce RTX 4090'."""
    if v0_name in _TENSORDOCK_TO_DRIVER:
        return _TENSORDOCK_TO_DRIVER[v0_name]
    if display_name:
        # "NVIDIA L40S PCIe 48GB" -> "NVIDIA L40S": drop the form factor and size.
        words = [w for w in display_name.split() if w not in ("PCIe", "SXM4", "SXM5")]
        return " ".join(w for w in words if not (w.endswith("GB") and w[:-2].isdigit()))
    return UNKNOWN_DEVICE


def tensordock_vram_mib(v0_name: str) -> int:
    """Per-GPU memory from the v0 name's size suffix ('...-24gb' -> 24576)."""
    suffix = v0_name.rsplit("-", 1)[-1].lower()
    if suffix.endswith("gb") and suffix[:-2].isdigit():
        return int(suffix[:-2]) * MIB_PER_GB
    return 0
