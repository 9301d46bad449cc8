"""nvidia-smi parsing and sampling: unreported values are null, a missing tool is an error."""

import os
import time
from pathlib import Path

import pytest

from benchmark_scripts.errors import GPU_QUERY_FAILED
from benchmark_scripts.gpu import (
    SAMPLE_FIELDS,
    GpuSampler,
    gpu_stats,
    host_info,
    parse_cuda_version,
    parse_query_csv,
)
from tests.benchmark_scripts.support import fake_nvidia_smi

# Two GPUs as a real driver prints them: a consumer card reports no power draw.
SAMPLE_CSV = """\
0, NVIDIA GeForce RTX 3090, 97, 18321, 24576, 71, [N/A]
1, NVIDIA A100-SXM4-80GB, [Not Supported], 4, 81920, 34, 61.52
"""

HEADER = """\
Fri Dec  4 17:05:09 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""


def test_parse_query_csv_turns_unreported_values_into_none():
    rows = parse_query_csv(SAMPLE_CSV, SAMPLE_FIELDS)
    assert rows == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 3090",
            "utilization.gpu": 97.0,
            "memory.used": 18321.0,
            "memory.total": 24576.0,
            "temperature.gpu": 71.0,
            "power.draw": None,
        },
        {
            "index": 1,
            "name": "NVIDIA A100-SXM4-80GB",
            "utilization.gpu": None,
            "memory.used": 4.0,
            "memory.total": 81920.0,
            "temperature.gpu": 34.0,
            "power.draw": 61.52,
        },
    ]


def test_parse_query_csv_keeps_a_name_with_a_comma():
    rows = parse_query_csv("0, Tesla K80, rev 2, 550.54.15\n", ("index", "name", "driver_version"))
    assert rows == [{"index": 0, "name": "Tesla K80, rev 2", "driver_version": "550.54.15"}]


def test_parse_query_csv_skips_blank_and_short_lines():
    assert parse_query_csv("\nNo devices were found\n", SAMPLE_FIELDS) == []


def test_parse_cuda_version():
    assert parse_cuda_version(HEADER) == "12.4"
    assert parse_cuda_version("NVIDIA-SMI has failed") is None


def test_gpu_stats_aggregates_per_sample_then_over_samples():
    """Sample 1: GPU0 util 97 (power N/A), GPU1 util N/A, power 61.52: the sample's util is
    97 (the GPUs that report), memory 18321 + 4 = 18325, hottest 71, power 61.52.
    Sample 2: one GPU at util 50, memory 1000, 40 C, power 100: util mean (97 + 50) / 2 =
    73.5, max 97; memory max 18325; power mean (61.52 + 100) / 2 = 80.76, max 100."""
    first = parse_query_csv(SAMPLE_CSV, SAMPLE_FIELDS)
    second = parse_query_csv("0, X, 50, 1000, 24576, 40, 100.00\n", SAMPLE_FIELDS)
    stats = gpu_stats([first, second])
    assert stats == {
        "samples": 2,
        "utilization_pct_mean": 73.5,
        "utilization_pct_max": 97.0,
        "memory_used_mib_max": 18325.0,
        "temperature_c_max": 71.0,
        "power_w_mean": pytest.approx(80.76),
        "power_w_max": 100.0,
    }


def test_gpu_stats_without_samples_are_null():
    stats = gpu_stats([])
    assert stats["samples"] == 0
    assert all(value is None for key, value in stats.items() if key != "samples")


def test_host_info_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake_nvidia_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    info, errors = host_info()
    assert errors == []
    assert info["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 4090",
            "memory_total_mib": 24564,
            "driver_version": "550.54.15",
        }
    ]
    assert info["cuda_version"] == "12.4"
    assert info["hostname"]


def test_sampler_calls_the_contract_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = fake_nvidia_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    sampler = GpuSampler(interval_s=0.05)
    sampler.start()
    deadline = time.monotonic() + 30
    while len(sampler.samples) < 3 and sampler.is_alive() and time.monotonic() < deadline:
        sampler.join(0.05)
    sampler.stop()
    assert sampler.errors == []
    assert sampler.samples[0][0]["power.draw"] == 312.45
    calls = set(log.read_text().splitlines())
    assert calls == {
        "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,"
        "power.draw --format=csv,noheader,nounits"
    }


def test_missing_nvidia_smi_is_an_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no nvidia-smi
    info, errors = host_info()
    assert info["gpus"] == [] and info["cuda_version"] is None
    assert [e.kind for e in errors] == [GPU_QUERY_FAILED]
    sampler = GpuSampler(interval_s=0.01)
    sampler.start()
    sampler.join(5)
    assert not sampler.is_alive()
    assert sampler.samples == []
    assert [e.kind for e in sampler.errors] == [GPU_QUERY_FAILED]
    assert sampler.errors[0].retry_suggested is False


def test_failing_nvidia_smi_stops_after_a_few_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A driver/library mismatch makes every call fail: three tries, one error."""
    script = tmp_path / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\necho 'Failed to initialize NVML: Driver/library version mismatch'\nexit 18\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    sampler = GpuSampler(interval_s=0.01)
    sampler.start()
    sampler.join(5)
    assert not sampler.is_alive()
    assert len(sampler.errors) == 1
    assert "exited 18" in sampler.errors[0].message
    assert "version mismatch" in sampler.errors[0].message
