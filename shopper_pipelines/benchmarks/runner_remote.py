"""The SSH steps of one benchmark attempt: upload the scripts, run them, fetch the result.

Each step is a module-level function so the runner (and its tests) can name the step
that failed or was interrupted. Paths on the node are relative: commands run in the
login's home folder and SFTP starts there too (the sandbox chroots SFTP to it), so one
relative folder means the same place to both.

Retry policy: none here (the SSH wrapper makes one attempt per call); the runner decides
whether an attempt is retried, from `is_permanent` and the result's own errors.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from shopper_pipelines.errors import ShopperError
from shopper_pipelines.ssh.client import (
    SshAuthError,
    SshError,
    SshTarget,
    download,
    run_command,
    upload,
)

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "benchmark_scripts"
REMOTE_ROOT = "gpu-shopper-bench"
PACKAGE = "benchmark_scripts"
RESULT_NAME = re.compile(r"^benchmark_[A-Za-z0-9._-]+\.json$")
# On top of the measured duration: server start, model pull, quality prompts, writing.
RUN_TIMEOUT_MARGIN_S = 900
MKDIR_TIMEOUT_S = 30.0
TAIL_CHARS = 400


class PermanentSshError(ShopperError):
    """An SSH failure that no retry fixes (authentication, key parse): abort the run."""


class BenchScriptError(ShopperError):
    """The script ran but did not hand back a result we can fetch."""

    def __init__(self, message: str, *, retry_suggested: bool) -> None:
        super().__init__(message)
        self.retry_suggested = retry_suggested


@dataclass(frozen=True)
class BenchOutcome:
    exit_status: int
    remote_result: str  # relative to the login's home
    stderr_tail: str


def is_permanent(error: SshError) -> bool:
    """Authentication and key errors: the same key will be refused next time too."""
    return isinstance(error, SshAuthError)


def remote_dir(run_id: str) -> str:
    return f"{REMOTE_ROOT}/{run_id}"


def script_files(scripts_dir: Path = SCRIPTS_DIR) -> list[Path]:
    files = sorted(scripts_dir.glob("*.py"))
    if not any(path.name == "bench.py" for path in files):
        raise BenchScriptError(f"no bench.py in {scripts_dir}", retry_suggested=False)
    return files


def upload_scripts(target: SshTarget, folder: str, scripts_dir: Path = SCRIPTS_DIR) -> list[str]:
    """Make `folder/results` on the node and copy every `benchmark_scripts/*.py` into
    `folder/benchmark_scripts/` (the package keeps its name: its modules import each other
    relatively)."""
    files = script_files(scripts_dir)
    package = f"{folder}/{PACKAGE}"
    made = run_command(
        target,
        f"mkdir -p {shlex.quote(package)} {shlex.quote(folder)}/results",
        timeout_s=MKDIR_TIMEOUT_S,
    )
    if made.exit_status != 0:
        raise SshError(f"{target!r}: mkdir {folder} failed: {made.stderr[-TAIL_CHARS:]}")
    uploaded = []
    for path in files:
        upload(target, path, f"{package}/{path.name}")
        uploaded.append(path.name)
    return uploaded


def bench_command(
    folder: str, model: str, duration_s: int, runtime: str, concurrency: tuple[int, ...]
) -> str:
    args = [
        "python3", f"{folder}/{PACKAGE}/bench.py", "--model", model, "--runtime", runtime,
        "--duration", str(duration_s), "--out", f"{folder}/results",
        "--concurrency", ",".join(str(level) for level in concurrency),
    ]  # fmt: skip
    return " ".join(shlex.quote(arg) for arg in args)


def run_bench(
    target: SshTarget,
    folder: str,
    *,
    model: str,
    duration_s: int,
    runtime: str,
    concurrency: tuple[int, ...],
) -> BenchOutcome:
    """Run bench.py; its last stdout line names the result file (exit 0, 1 both write one)."""
    command = bench_command(folder, model, duration_s, runtime, concurrency)
    result = run_command(target, command, timeout_s=duration_s + RUN_TIMEOUT_MARGIN_S)
    tail = result.stderr.strip()[-TAIL_CHARS:]
    if result.exit_status == 2:
        raise BenchScriptError(f"bench.py refused its arguments: {tail}", retry_suggested=False)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    name = Path(lines[-1]).name if lines else ""
    if not RESULT_NAME.match(name):
        raise BenchScriptError(
            f"bench.py exited {result.exit_status} without naming a result file: {tail}",
            retry_suggested=True,
        )
    # Only the file name is taken from the node: we fetch it from the folder we made.
    return BenchOutcome(result.exit_status, f"{folder}/results/{name}", tail)


def download_result(target: SshTarget, remote: str, local: Path) -> Path:
    local.parent.mkdir(parents=True, exist_ok=True)
    download(target, remote, local)
    return local
