"""`gpu-shopper up`: the whole workspace on one machine, stopped cleanly as one.

Children (sandbox, Dagster webserver + daemon, Streamlit) each start in a new process
group that we own, so Ctrl-C or SIGTERM stops every grandchild too; `dagster dev`
ignores SIGTERM when started from a non-interactive shell, which is why we never rely
on the shell for that.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from shopper_pipelines.errors import SettingsError, ShopperError
from shopper_pipelines.settings import Settings

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKET_DIR = REPO_ROOT / "data" / "market"
HISTORY_FILES = ("neocloud_gpu_price_history.csv", "vast_catalog_history.csv")
STARTUP_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
_POLL_S = 0.5
# Runs queue rather than pile up when a tick takes longer than the interval.
_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 3
"""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _check_ports(wanted: list[tuple[str, str, int]]) -> None:
    for variable, host, port in wanted:
        if not _port_free(host, port):
            name = variable if "=" in variable else f"{variable}={port}"
            raise SettingsError(
                f"{name}: {host}:{port} is already in use; stop what holds it "
                f"or set {name.split('=')[0]} to a free port"
            )


def _start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log = (log_dir / f"{name}.log").open("ab")
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    logger.info("started %s (pid %d), log %s", name, process.pid, log.name)
    return Child(name, process)


def _wait_http(child: Child, url: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise ShopperError(f"{child.name} exited with {child.process.returncode}; see its log")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(_POLL_S)
    raise ShopperError(f"{child.name} did not answer {url} within {timeout_s:.0f}s")


def stop_all(children: list[Child]) -> None:
    """SIGTERM each process group, then SIGKILL what outlives the grace period."""
    for child in reversed(children):
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in reversed(children):
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            logger.warning("%s ignored SIGTERM; killing its process group", child.name)
        # The group may still hold grandchildren (Dagster's daemon and code server).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()


def _first_ingest(settings: Settings) -> None:
    from shopper_pipelines.inventory.history_import import import_history
    from shopper_pipelines.inventory.search import price_history_sources
    from shopper_pipelines.inventory.service import ingest
    from shopper_pipelines.warehouse import ensure_schema

    ensure_schema(settings.database_path)
    imported = price_history_sources(settings.database_path)
    for name in HISTORY_FILES:
        kind = name.removesuffix(".csv")
        path = MARKET_DIR / name
        if path.is_file() and not any(source.startswith("import:") for source in imported):
            result = import_history(settings.database_path, path)
            print(f"  imported {result.points_loaded} real price points from {kind}")
    for outcome in ingest(settings):
        snapshot = outcome.snapshot
        detail = snapshot.error or f"{snapshot.offers_stored} offers"
        print(f"  first ingest: {snapshot.provider} {snapshot.status} ({detail})")


def run_workspace(settings: Settings, *, quiet: bool = False) -> int:
    """Start everything, print the URLs, and wait for Ctrl-C or SIGTERM."""
    data_dir = settings.database_path.resolve().parent
    dagster_home = settings.dagster_home.resolve()
    log_dir = data_dir / "run"
    for folder in (data_dir, dagster_home, log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    dagster_yaml = dagster_home / "dagster.yaml"
    if not dagster_yaml.exists():
        dagster_yaml.write_text(_DAGSTER_YAML)

    sandbox = urlparse(settings.sandbox_url)
    ports = [
        ("DAGSTER_PORT", settings.dagster_host, settings.dagster_port),
        ("APP_PORT", settings.app_host, settings.app_port),
    ]
    if settings.sandbox_mode:
        ports.append((f"SANDBOX_URL={settings.sandbox_url}", sandbox.hostname or "127.0.0.1",
                      sandbox.port or 80))  # fmt: skip
    _check_ports(ports)

    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(dagster_home)
    env["DATABASE_PATH"] = str(settings.database_path.resolve())
    env["PYTHONUNBUFFERED"] = "1"
    children: list[Child] = []
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        if settings.sandbox_mode:
            print("No provider keys set: using the built-in SANDBOX marketplace.")
            child = _start(
                "sandbox",
                [sys.executable, "-m", "shopper_pipelines.cli.main", "sandbox",
                 "--port", str(sandbox.port or 80)],
                env,
                log_dir,
            )  # fmt: skip
            children.append(child)
            _wait_http(child, f"{settings.sandbox_url}/_sandbox/health")
        _first_ingest(settings)

        dagster = _start(
            "dagster",
            [sys.executable, "-m", "dagster", "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
             "-h", settings.dagster_host, "-p", str(settings.dagster_port)],
            env,
            log_dir,
        )  # fmt: skip
        children.append(dagster)
        app = _start(
            "app",
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboards" / "app.py"),
             "--server.address", settings.app_host, "--server.port", str(settings.app_port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            env,
            log_dir,
        )  # fmt: skip
        children.append(app)
        dagster_url = f"http://{settings.dagster_host}:{settings.dagster_port}"
        app_url = f"http://{settings.app_host}:{settings.app_port}"
        _wait_http(app, f"{app_url}/_stcore/health")
        _wait_http(dagster, f"{dagster_url}/server_info")

        print("\nGPU Shopper is up:")
        print(f"  App (Shop):   {app_url}")
        print(f"  Dagster UI:   {dagster_url}")
        if settings.sandbox_mode:
            print(f"  Sandbox:      {settings.sandbox_url}")
        print(f"  Warehouse:    {settings.database_path}")
        if not quiet:
            print(f"  Logs:         {log_dir}")
        print("Press Ctrl-C to stop everything.", flush=True)

        while True:
            for child in children:
                if child.process.poll() is not None:
                    print(f"{child.name} exited with {child.process.returncode}; stopping.")
                    return 1
            time.sleep(_POLL_S)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except ShopperError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C or SIGTERM (uv forwards signals too) must not cut the shutdown
        # short: ignore both until every child group is gone.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if stopping or children:
            print("Stopped every child process.", flush=True)
