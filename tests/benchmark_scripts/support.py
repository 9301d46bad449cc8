"""Helpers for running `bench.py` as a node would: a copied folder, a fake `nvidia-smi`."""

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmark_scripts"
TOP_KEYS = {
    "schema_version",
    "benchmark_id",
    "status",
    "valid",
    "flags",
    "runtime",
    "model",
    "server_url",
    "started_at",
    "finished_at",
    "config",
    "host",
    "summary",
    "concurrency_sweep",
    "gpu_stats",
    "requests",
    "errors",
}
REQUEST_KEYS = {
    "prompt_id",
    "category",
    "phase",
    "concurrency",
    "ttft_ms",
    "output_tokens",
    "prompt_tokens",
    "prompt_cached",
    "tokens_per_second",
    "total_ms",
    "match",
    "error",
}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def environment(node: Path, gpu: bool = True, **extra: str) -> dict[str, str]:
    path = str(node / "bin") if gpu else str(node / "empty")
    return {"PATH": path, "LANG": "C.UTF-8", **extra}


def bench(node: Path, *args: str, env: dict[str, str]) -> tuple[int, dict | None, str, str]:
    """Run bench.py; (exit code, the result document, stdout, stderr)."""
    command = [sys.executable, "-I", str(node / "node-bench" / "bench.py"), *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=node, timeout=120, check=False
    )
    lines = done.stdout.strip().splitlines()
    document = json.loads(Path(lines[-1]).read_text()) if lines else None
    return done.returncode, document, done.stdout, done.stderr


def fake_nvidia_smi(folder: Path) -> Path:
    """An `nvidia-smi` that logs its arguments and prints one GPU."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'case "$1" in\n'
        '  --query-gpu=index,name,utilization.gpu*) echo "0, NVIDIA GeForce RTX 4090, 87, '
        '20123, 24564, 61, 312.45" ;;\n'
        '  --query-gpu=index,name,memory.total,driver_version) echo "0, NVIDIA GeForce RTX '
        '4090, 24564, 550.54.15" ;;\n'
        '  "") echo "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |"'
        " ;;\n"
        '  *) echo "bad arguments: $*" >&2; exit 2 ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log
