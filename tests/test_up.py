"""`gpu-shopper up` end to end: sandbox, first ingest, Dagster and the app, then a clean stop."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shopper_pipelines.warehouse import connect

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "Press Ctrl-C to stop everything."
STARTUP_BUDGET_S = 150


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment mentions `marker` (our test's own DAGSTER_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _graphql(url: str, query: str) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]


@pytest.fixture
def workspace(tmp_path):
    ports = {"sandbox": _free_port(), "app": _free_port(), "dagster": _free_port()}
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env.update(
        DATABASE_PATH=str(tmp_path / "w.duckdb"),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        SANDBOX_URL=f"http://127.0.0.1:{ports['sandbox']}",
        APP_PORT=str(ports["app"]),
        DAGSTER_PORT=str(ports["dagster"]),
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "shopper_pipelines.cli.main", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + STARTUP_BUDGET_S
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if READY_LINE in line:
                break
        assert any(READY_LINE in line for line in lines), "\n".join(lines)
        yield process, ports, tmp_path, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_up_runs_everything_and_stops_every_child(workspace):
    process, ports, tmp_path, lines = workspace
    started = time.monotonic()
    text = "\n".join(lines)
    assert f"http://127.0.0.1:{ports['app']}" in text
    assert f"http://127.0.0.1:{ports['dagster']}" in text
    assert "SANDBOX" in text

    # Within 60 s the warehouse holds offers from both providers.
    providers: set[str] = set()
    while time.monotonic() - started < 60 and providers != {"vastai", "tensordock"}:
        with connect(tmp_path / "w.duckdb", read_only=True) as con:
            providers = {row[0] for row in con.execute(
                "SELECT DISTINCT provider FROM offers_current").fetchall()}  # fmt: skip
        time.sleep(1)
    assert providers == {"vastai", "tensordock"}

    # The Dagster UI serves the assets, their checks and the running schedule.
    dagster = f"http://127.0.0.1:{ports['dagster']}"
    nodes = _graphql(dagster, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    assert {"offer_snapshots", "offers_history", "offers_current"} <= {
        node["assetKey"]["path"][-1] for node in nodes
    }
    checks = _graphql(
        dagster,
        "{ assetNodes { assetChecksOrError { ... on AssetChecks { checks { name } } } } }",
    )["assetNodes"]
    names = {c["name"] for n in checks for c in n["assetChecksOrError"].get("checks", [])}
    assert "offers_price_positive_check" in names
    schedules = _graphql(
        dagster,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
        " schedules { name scheduleState { status } } } } } }",
    )["repositoriesOrError"]["nodes"][0]["schedules"]
    assert {"name": "inventory_schedule", "scheduleState": {"status": "RUNNING"}} in schedules

    assert httpx.get(f"http://127.0.0.1:{ports['app']}/_stcore/health").text == "ok"

    # SIGTERM stops every child, grandchildren included, and frees every port.
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output
    assert "Stopped every child process." in output
    marker = f"DAGSTER_HOME={tmp_path / 'dagster_home'}"
    assert _processes_with(marker) == []
    for port in ports.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
