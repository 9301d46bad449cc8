"""Fixtures of the benchmark script's tests."""

import shutil
from pathlib import Path

import pytest

from tests.benchmark_scripts.support import SCRIPTS, fake_nvidia_smi


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """The scripts as uploaded to a node, under a folder name that is not `benchmark_scripts`
    (so nothing of the project can be imported by accident), with a fake nvidia-smi."""
    shutil.copytree(SCRIPTS, tmp_path / "node-bench", ignore=shutil.ignore_patterns("__pycache__"))
    fake_nvidia_smi(tmp_path / "bin")
    return tmp_path
