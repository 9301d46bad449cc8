"""GPU facts and load from `nvidia-smi`: host info once, then one sample per second.

One call per sample (no `-l`): a hung call then costs one sample, not the run. Values
the driver does not report (`[N/A]`, `[Not Supported]`) become None. A node without a
working `nvidia-smi` gives one `gpu_query_failed` error and no samples, never a crash.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

from .errors import GPU_QUERY_FAILED, BenchError

SAMPLE_FIELDS = (
    "index",
    "name",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
)
SAMPLE_COMMAND = [
    "nvidia-smi",
    "--query-gpu=" + ",".join(SAMPLE_FIELDS),
    "--format=csv,noheader,nounits",
]
HOST_COMMAND = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.total,driver_version",
    "--format=csv,noheader,nounits",
]
SAMPLE_INTERVAL_S = 1.0
CALL_TIMEOUT_S = 5.0
MAX_FAILED_CALLS = 3  # then stop asking: the tool is broken on this node
_CUDA_VERSION = re.compile(r"CUDA Version:\s*([0-9][0-9.]*)")
_UNREPORTED = {"", "[n/a]", "n/a", "[not supported]", "[unknown error]", "[gpu is lost]"}


def _number(text: str) -> float | None:
    cleaned = text.strip()
    if cleaned.lower() in _UNREPORTED:
        return None
    cleaned = cleaned.split(" ")[0]  # tolerate a unit left in ("312.45 W")
    try:
        return float(cleaned)
    except ValueError:
        return None


def parse_query_csv(text: str, fields: tuple[str, ...] | list[str]) -> list[dict]:
    """Rows of `--format=csv,noheader,nounits` output, one dict per GPU line.

    Names may contain commas, so the name field takes whatever the numeric fields
    around it leave over.
    """
    rows = []
    name_at = list(fields).index("name") if "name" in fields else None
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if not line.strip() or len(cells) < len(fields):
            continue
        if name_at is not None and len(cells) > len(fields):
            extra = len(cells) - len(fields)
            joined = ", ".join(cells[name_at : name_at + extra + 1])
            cells = [*cells[:name_at], joined, *cells[name_at + extra + 1 :]]
        row: dict = {}
        for key, cell in zip(fields, cells):  # noqa: B905 (zip(strict=) needs Python 3.10)
            if key in ("name", "driver_version"):
                row[key] = None if cell.lower() in _UNREPORTED else cell
            else:
                row[key] = _number(cell)
        if isinstance(row.get("index"), float):
            row["index"] = int(row["index"])
        rows.append(row)
    return rows


def _call(command: list[str]) -> str:
    """stdout of an nvidia-smi call, or BenchError(gpu_query_failed)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CALL_TIMEOUT_S)
    except FileNotFoundError:
        raise BenchError(GPU_QUERY_FAILED, "nvidia-smi is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise BenchError(GPU_QUERY_FAILED, f"nvidia-smi took over {CALL_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise BenchError(GPU_QUERY_FAILED, f"nvidia-smi could not run: {exc}") from None
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()
        raise BenchError(GPU_QUERY_FAILED, f"nvidia-smi exited {done.returncode}: {said}")
    return done.stdout


def parse_cuda_version(header: str) -> str | None:
    """The "CUDA Version: 12.4" of the plain `nvidia-smi` report."""
    found = _CUDA_VERSION.search(header)
    return found.group(1) if found else None


def host_info() -> tuple[dict, list[BenchError]]:
    """{hostname, gpus, cuda_version} and the errors met while asking."""
    info: dict = {"hostname": socket.gethostname(), "gpus": [], "cuda_version": None}
    errors: list[BenchError] = []
    fields = ("index", "name", "memory_total_mib", "driver_version")
    try:
        rows = parse_query_csv(_call(HOST_COMMAND), fields)
        for row in rows:
            total = row.get("memory_total_mib")
            row["memory_total_mib"] = int(total) if total is not None else None
        info["gpus"] = rows
        info["cuda_version"] = parse_cuda_version(_call(["nvidia-smi"]))
    except BenchError as exc:
        errors.append(exc)
    return info, errors


class GpuSampler(threading.Thread):
    """Samples `nvidia-smi` every second until `stop()`; keeps the samples and errors."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(name="gpu-sampler", daemon=True)
        self.interval_s = interval_s
        self.samples: list[list[dict]] = []
        self.errors: list[BenchError] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                rows = parse_query_csv(_call(SAMPLE_COMMAND), SAMPLE_FIELDS)
                if rows:
                    self.samples.append(rows)
                    failures = 0
                else:
                    raise BenchError(GPU_QUERY_FAILED, "nvidia-smi listed no GPU")
            except BenchError as exc:
                failures += 1
                if not self.errors:
                    self.errors.append(exc)
                if "not on PATH" in exc.message or failures >= MAX_FAILED_CALLS:
                    return
            next_at += self.interval_s
            self._stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(CALL_TIMEOUT_S + 1)


def _present(rows: list[dict], key: str) -> list[float]:
    return [row[key] for row in rows if row.get(key) is not None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _max(values: list[float]) -> float | None:
    return max(values) if values else None


def gpu_stats(samples: list[list[dict]]) -> dict:
    """Contract `gpu_stats` over samples of all GPUs on the node.

    Per sample: utilisation is the mean over GPUs, memory and power are sums (the node's
    load), temperature the hottest GPU. Then mean/max over samples; None where no GPU
    reported the value.
    """
    util: list[float] = []
    memory: list[float] = []
    temperature: list[float] = []
    power: list[float] = []
    for rows in samples:
        if _present(rows, "utilization.gpu"):
            util.append(_mean(_present(rows, "utilization.gpu")) or 0.0)
        if _present(rows, "memory.used"):
            memory.append(sum(_present(rows, "memory.used")))
        if _present(rows, "temperature.gpu"):
            temperature.append(max(_present(rows, "temperature.gpu")))
        if _present(rows, "power.draw"):
            power.append(sum(_present(rows, "power.draw")))
    return {
        "samples": len(samples),
        "utilization_pct_mean": _mean(util),
        "utilization_pct_max": _max(util),
        "memory_used_mib_max": _max(memory),
        "temperature_c_max": _max(temperature),
        "power_w_mean": _mean(power),
        "power_w_max": _max(power),
    }
