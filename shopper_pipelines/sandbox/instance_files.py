"""Files of one sandbox instance: `home/` and `bin/` (the `nvidia-smi` wrapper, `gpu.json`).

Also the small environment its SSH commands run with: no variable of the sandbox's own
process leaks in except PATH, so provider keys never reach an instance shell.
"""

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shopper_pipelines.sandbox import nvidia_smi

if TYPE_CHECKING:
    from shopper_pipelines.sandbox.instances import Instance

IDLE_POWER_SHARE = 0.06
IDLE_TEMPERATURE_C = 31
IDLE_MEMORY_MIB = 1


def shell_env(instance: "Instance", **extra: str) -> dict[str, str]:
    """HOME, PATH (the `nvidia-smi` stand-in first) and a few fixed variables."""
    path = f"{instance.bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    env = {"HOME": str(instance.home), "PATH": path, "SHELL": "/bin/sh", "LANG": "C.UTF-8"}
    return {**env, "SANDBOX": "1", **extra}


def write_files(instance: "Instance", uuid_seed: int) -> None:
    """home/, and bin/ with the `nvidia-smi` wrapper and an idle `gpu.json`."""
    instance.home.mkdir(parents=True, exist_ok=True)
    instance.bin_dir.mkdir(parents=True, exist_ok=True)
    gpu = instance.gpu
    state = {
        "name": gpu.driver_name,
        "count": gpu.count,
        "vram_mib": gpu.vram_mib,
        "cuda": gpu.cuda,
        "driver": gpu.driver,
        "max_power_w": gpu.max_power_w,
        "utilization": 0,
        "power_w": round(gpu.max_power_w * IDLE_POWER_SHARE, 2),
        "memory_used_mib": IDLE_MEMORY_MIB,
        "temperature_c": IDLE_TEMPERATURE_C,
        "uuid_stem": f"{uuid_seed:016x}"[:8],
    }
    atomic_write(instance.bin_dir / "gpu.json", json.dumps(state))
    state_path = shlex.quote(str(instance.bin_dir / "gpu.json"))
    script = (
        "#!/bin/sh\n"
        f"{nvidia_smi.STATE_ENV}={state_path} exec {shlex.quote(sys.executable)} -I "
        f'{shlex.quote(nvidia_smi.__file__)} "$@"\n'
    )
    wrapper = instance.bin_dir / "nvidia-smi"
    wrapper.write_text(script, encoding="utf-8")
    wrapper.chmod(0o755)


def atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
