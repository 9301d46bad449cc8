"""Static facts about the GPU models the sandbox lists, keyed by Vast's own spelling.

Figures are public spec-sheet values rounded the way Vast shows them; they only make the
records look right (compute capability, TFLOPS, memory bandwidth, board power).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSpec:
    """What a Vast offer says about one GPU of this model."""

    compute_cap: int  # CUDA compute capability x 100
    tflops: float  # FP32 TFLOPS per GPU
    mem_bw_gbs: float  # memory bandwidth, GB/s
    max_power_w: float


GPU_SPECS: dict[str, GpuSpec] = {
    "RTX 4090": GpuSpec(890, 82.6, 1008.0, 450.0),
    "RTX 5090": GpuSpec(1200, 104.8, 1792.0, 575.0),
    "H100 SXM": GpuSpec(900, 66.9, 3350.0, 700.0),
    "H100 NVL": GpuSpec(900, 60.0, 3900.0, 400.0),
    "H200": GpuSpec(900, 66.9, 4800.0, 700.0),
    "H200 NVL": GpuSpec(900, 60.0, 4800.0, 600.0),
    "B200": GpuSpec(1000, 75.0, 8000.0, 1000.0),
    "A100 SXM4": GpuSpec(800, 19.5, 1555.0, 400.0),
    "A100 PCIE": GpuSpec(800, 19.5, 1935.0, 300.0),
    "RTX 3090": GpuSpec(860, 35.6, 936.0, 350.0),
    "RTX 3090 Ti": GpuSpec(860, 40.0, 1008.0, 450.0),
    "L40S": GpuSpec(890, 91.6, 864.0, 350.0),
    "A40": GpuSpec(860, 37.4, 696.0, 300.0),
    "A10": GpuSpec(860, 31.2, 600.0, 150.0),
    "Tesla V100": GpuSpec(700, 15.7, 900.0, 300.0),
    "RTX A6000": GpuSpec(860, 38.7, 768.0, 300.0),
    "RTX A5000": GpuSpec(860, 27.8, 768.0, 230.0),
    "RTX A4000": GpuSpec(860, 19.2, 448.0, 140.0),
    "RTX A2000": GpuSpec(860, 8.0, 288.0, 70.0),
    "RTX 6000Ada": GpuSpec(890, 91.1, 960.0, 300.0),
    "RTX 5880Ada": GpuSpec(890, 69.3, 960.0, 285.0),
    "RTX PRO 6000 WS": GpuSpec(1200, 125.0, 1792.0, 600.0),
    "RTX PRO 6000 S": GpuSpec(1200, 125.0, 1792.0, 600.0),
    "RTX 5070 Ti": GpuSpec(1200, 43.9, 896.0, 300.0),
    "RTX 5070": GpuSpec(1200, 30.9, 672.0, 250.0),
    "RTX 5060 Ti": GpuSpec(1200, 23.7, 448.0, 180.0),
    "RTX 4080S": GpuSpec(890, 52.2, 736.0, 320.0),
    "RTX 4070S Ti": GpuSpec(890, 44.1, 672.0, 285.0),
    "RTX 4060 Ti": GpuSpec(890, 22.1, 288.0, 165.0),
    "RTX 3080": GpuSpec(860, 29.8, 760.0, 320.0),
    "RTX 3070": GpuSpec(860, 20.3, 448.0, 220.0),
    "RTX 3060 Ti": GpuSpec(860, 16.2, 448.0, 200.0),
    "RTX 3060": GpuSpec(860, 12.7, 360.0, 170.0),
    "RTX 2080 Ti": GpuSpec(750, 13.4, 616.0, 250.0),
}

# Used for a catalog variant missing from the table above (new models in a data refresh).
FALLBACK_SPEC = GpuSpec(860, 30.0, 800.0, 300.0)

# Vast variant -> (gpu_type, socket_type) series in neocloud_gpu_price_history.csv.
# Only datacenter models have their own series; everything else follows the market mean.
NEOCLOUD_SERIES: dict[str, tuple[str, str]] = {
    "A100 SXM4": ("A100_80GB", "SXM4"),
    "A100 PCIE": ("A100_80GB", "PCIe"),
    "H100 SXM": ("H100_80GB", "SXM5"),
    "H100 NVL": ("H100_80GB", "PCIe"),
    "H200": ("H200_141GB", ""),
    "H200 NVL": ("H200_141GB", ""),
    "B200": ("B200_180GB", ""),
}

# (driver_version, driver_vers, cuda_max_good) as real hosts report them; the first three
# are the samples. driver_vers packs the version as major * 10**6 + minor * 10**3 + patch.
DRIVERS: tuple[tuple[str, int, float], ...] = (
    ("595.58.03", 595058003, 13.2),
    ("565.57.01", 565057001, 12.7),
    ("570.195.03", 570195003, 12.8),
    ("550.127.05", 550127005, 12.4),
    ("575.64.03", 575064003, 12.9),
    ("580.82.07", 580082007, 13.0),
)

CPU_NAMES: tuple[str, ...] = (
    "AMD EPYC 7543 32-Core Processor",
    "AMD EPYC 7513 32-Core Processor",
    "AMD EPYC 9554 64-Core Processor",
    "Xeon® E5-2640 v3 ",
    "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    "AMD Ryzen 9 5950X 16-Core Processor",
    "AMD Ryzen Threadripper PRO 5975WX 32-Cores",
    "13th Gen Intel(R) Core(TM) i9-13900K",
)
