"""A stand-in for `nvidia-smi` on sandbox instances (standard library only).

Each instance's `bin/nvidia-smi` is a tiny sh wrapper that runs this file with
`NVIDIA_SMI_STATE` pointing at the instance's `gpu.json` (written by the sandbox, changed
through `POST /_sandbox/instances/{provider}/{id}/gpu`). Supported: the plain table,
`-L`, `-i N`, and `--query-gpu=... --format=csv[,noheader][,nounits]`.
"""

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

STATE_ENV = "NVIDIA_SMI_STATE"
BAD_ARGS = 2
NOT_FOUND = 6
WIDTH = 89
COLUMNS = (41, 24, 22)

Gpu = dict[str, Any]
# query field -> (unit shown in the header and after the value, value of one GPU)
FIELDS: dict[str, tuple[str, Callable[[Gpu], object]]] = {
    "index": ("", lambda g: g["index"]),
    "name": ("", lambda g: g["name"]),
    "uuid": ("", lambda g: g["uuid"]),
    "count": ("", lambda g: g["count"]),
    "pci.bus_id": ("", lambda g: g["bus_id"]),
    "driver_version": ("", lambda g: g["driver"]),
    "cuda_version": ("", lambda g: g["cuda"]),
    "pstate": ("", lambda g: _pstate(g)),
    "memory.total": ("MiB", lambda g: g["vram_mib"]),
    "memory.used": ("MiB", lambda g: g["memory_used_mib"]),
    "memory.free": ("MiB", lambda g: g["vram_mib"] - g["memory_used_mib"]),
    "utilization.gpu": ("%", lambda g: g["utilization"]),
    "utilization.memory": ("%", lambda g: g["utilization"] // 2),
    "fan.speed": ("%", lambda g: _fan(g)),
    "temperature.gpu": ("", lambda g: g["temperature_c"]),
    "power.draw": ("W", lambda g: f"{g['power_w']:.2f}"),
    "power.limit": ("W", lambda g: f"{g['max_power_w']:.2f}"),
}


def load_gpus() -> list[Gpu]:
    """One dict per GPU from the state file, each with its index, bus id and uuid."""
    with open(os.environ[STATE_ENV], encoding="utf-8") as handle:
        state = json.load(handle)
    gpus = []
    for index in range(int(state["count"])):
        gpu = dict(state)
        gpu["index"] = index
        gpu["bus_id"] = f"00000000:{index + 1:02X}:00.0"
        gpu["uuid"] = f"GPU-{state['uuid_stem']}-{index:012x}"
        gpus.append(gpu)
    return gpus


def _pstate(gpu: Gpu) -> str:
    return "P2" if gpu["utilization"] > 0 else "P8"


def _fan(gpu: Gpu) -> int:
    return 30 + int(gpu["utilization"]) * 6 // 10


def query(gpus: list[Gpu], fields: list[str], options: set[str]) -> tuple[list[str], int]:
    """CSV lines for `--query-gpu`, or an error line and exit status."""
    unknown = [field for field in fields if field not in FIELDS]
    if unknown:
        return [f'Field "{unknown[0]}" is not a valid field to query.', ""], BAD_ARGS
    lines = []
    if "noheader" not in options:
        headers = [f"{f} [{FIELDS[f][0]}]" if FIELDS[f][0] else f for f in fields]
        lines.append(", ".join(headers))
    for gpu in gpus:
        values = []
        for field in fields:
            unit, read = FIELDS[field]
            value = str(read(gpu))
            values.append(value if not unit or "nounits" in options else f"{value} {unit}")
        lines.append(", ".join(values))
    return lines, 0


def _row(*cells: str) -> str:
    padded = [f" {cell:<{width - 2}} " for cell, width in zip(cells, COLUMNS, strict=True)]
    return "|" + "|".join(padded) + "|"


def table(gpus: list[Gpu]) -> list[str]:
    """The plain `nvidia-smi` report: header, one block per GPU, processes."""
    rule = "+" + "-" * (WIDTH - 2) + "+"
    split = "|" + "+".join("-" * width for width in COLUMNS) + "|"
    double = "|" + "|".join("=" * width for width in COLUMNS) + "|"
    first = gpus[0] if gpus else {"driver": "N/A", "cuda": "N/A"}
    versions = (
        f"NVIDIA-SMI {first['driver']}    Driver Version: {first['driver']}"
        f"    CUDA Version: {first['cuda']}"
    )
    lines = [time.strftime("%a %b %d %H:%M:%S %Y"), rule, f"| {versions:<{WIDTH - 4}} |", split]
    lines.append(_row("GPU  Name             Persistence-M", "Bus-Id          Disp.A", "ECC"))
    lines.append(
        _row("Fan  Temp  Perf       Pwr:Usage/Cap", "Memory-Usage", "GPU-Util  Compute M.")
    )
    lines.append(double)
    for gpu in gpus:
        name = f"{gpu['index']:>3}  {gpu['name'][:26]:<26}"
        lines.append(_row(f"{name}  On", f"{gpu['bus_id']} Off", f"{'Off':>20}"))
        power = f"{gpu['power_w']:.0f}W / {gpu['max_power_w']:.0f}W"
        usage = f"{_fan(gpu)}%  {gpu['temperature_c']}C  {_pstate(gpu)}"
        memory = f"{gpu['memory_used_mib']}MiB / {gpu['vram_mib']}MiB"
        util = f"{gpu['utilization']}%      Default"
        lines.append(_row(f"{usage}  {power:>22}", f"{memory:>22}", f"{util:>20}"))
        lines.append(rule if gpu is gpus[-1] else split)
    lines += ["", rule, f"| {'Processes:':<{WIDTH - 4}} |", "|" + "=" * (WIDTH - 2) + "|"]
    lines += [f"| {'  No running processes found':<{WIDTH - 4}} |", rule]
    return lines


def main(argv: list[str]) -> int:
    """Parse the few flags callers use and print like the real tool."""
    fields: list[str] | None = None
    options: set[str] = set()
    index: int | None = None
    listing = False
    args = iter(argv)
    for arg in args:
        name, _, value = arg.partition("=")
        if name in ("--query-gpu", "--format", "-i", "--id") and not value:
            value = next(args, "")
        if name == "--query-gpu":
            fields = [field.strip() for field in value.split(",") if field.strip()]
        elif name == "--format":
            options = {option.strip() for option in value.split(",")}
        elif name in ("-i", "--id") and value.isdigit():
            index = int(value)
        elif name in ("-L", "--list-gpus"):
            listing = True
        else:
            print("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.")
            return BAD_ARGS
    gpus = load_gpus()
    if index is not None:
        gpus = [gpu for gpu in gpus if gpu["index"] == index]
    if not gpus:
        print("No devices were found")
        return NOT_FOUND
    if listing:
        lines = [f"GPU {g['index']}: {g['name']} (UUID: {g['uuid']})" for g in gpus]
        status = 0
    elif fields is not None:
        if "csv" not in options:
            print('"--format" with "csv" is required when querying GPUs.')
            return BAD_ARGS
        lines, status = query(gpus, fields, options)
    else:
        lines, status = table(gpus), 0
    sys.stdout.write("\n".join(lines) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
