"""The `nvidia-smi` stand-in and the driver spellings it reports."""

import json
from pathlib import Path

import pytest

from shopper_pipelines.sandbox import nvidia_smi
from shopper_pipelines.sandbox.gpu_names import (
    driver_name_for_tensordock,
    driver_name_for_vast,
    tensordock_vram_mib,
)

STATE = {
    "name": "NVIDIA H100 80GB HBM3",
    "count": 2,
    "vram_mib": 81559,
    "cuda": "12.8",
    "driver": "570.195.03",
    "max_power_w": 700.0,
    "utilization": 40,
    "power_w": 350.5,
    "memory_used_mib": 1024,
    "temperature_c": 55,
    "uuid_stem": "0badcafe",
}


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(STATE))
    monkeypatch.setenv(nvidia_smi.STATE_ENV, str(path))
    return path


def test_nvidia_smi_query_csv_with_and_without_units(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = "--query-gpu=name,memory.total,memory.used,utilization.gpu,power.draw,driver_version"
    assert nvidia_smi.main([fields, "--format=csv,noheader,nounits"]) == 0
    assert (
        capsys.readouterr().out.splitlines()
        == ["NVIDIA H100 80GB HBM3, 81559, 1024, 40, 350.50, 570.195.03"] * 2
    )
    assert nvidia_smi.main(["--query-gpu", "memory.total,temperature.gpu", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "memory.total [MiB], temperature.gpu",
        "81559 MiB, 55",
        "81559 MiB, 55",
    ]


def test_nvidia_smi_table_list_and_errors(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert nvidia_smi.main([]) == 0
    table = capsys.readouterr().out
    assert "Driver Version: 570.195.03" in table and "CUDA Version: 12.8" in table
    assert table.count("NVIDIA H100 80GB HBM3") == 2 and "350W / 700W" in table
    assert "1024MiB / 81559MiB" in table
    assert nvidia_smi.main(["-L", "-i", "1"]) == 0
    assert capsys.readouterr().out.startswith("GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0badcafe-")
    assert nvidia_smi.main(["--query-gpu=bogus", "--format=csv"]) == nvidia_smi.BAD_ARGS
    assert 'Field "bogus" is not a valid field' in capsys.readouterr().out
    assert nvidia_smi.main(["--query-gpu=name"]) == nvidia_smi.BAD_ARGS
    assert nvidia_smi.main(["--frobnicate"]) == nvidia_smi.BAD_ARGS
    state_file.write_text(json.dumps({**STATE, "count": 0}))
    assert nvidia_smi.main([]) == nvidia_smi.NOT_FOUND


@pytest.mark.parametrize(
    ("vast", "ram", "driver"),
    [
        ("RTX 4090", 24564, "NVIDIA GeForce RTX 4090"),
        ("GeForce RTX 4090", 24564, "NVIDIA GeForce RTX 4090"),
        ("RTX_4090", 24564, "NVIDIA GeForce RTX 4090"),
        ("A100 SXM4", 40960, "NVIDIA A100-SXM4-40GB"),
        ("A100 SXM4", 81920, "NVIDIA A100-SXM4-80GB"),
        ("NVIDIA A100-SXM4-80GB", 81920, "NVIDIA A100-SXM4-80GB"),
        ("H100 SXM", 81559, "NVIDIA H100 80GB HBM3"),
        ("RTX 6000Ada", 49140, "NVIDIA RTX 6000 Ada Generation"),
        ("RTX A6000", 49140, "NVIDIA RTX A6000"),
        ("L40S", 46068, "NVIDIA L40S"),
        ("Tesla V100", 32768, "Tesla V100-SXM2-32GB"),
        (None, 0, "NVIDIA Graphics Device"),
    ],
)
def test_gpu_names_vast_spellings_become_driver_names(
    vast: str | None, ram: int, driver: str
) -> None:
    assert driver_name_for_vast(vast, ram) == driver


def test_gpu_names_tensordock() -> None:
    assert driver_name_for_tensordock("geforcertx4090-pcie-24gb") == "NVIDIA GeForce RTX 4090"
    assert driver_name_for_tensordock("l40s-pcie-48gb", "NVIDIA L40S PCIe 48GB") == "NVIDIA L40S"
    assert tensordock_vram_mib("a100-pcie-80gb") == 81920
