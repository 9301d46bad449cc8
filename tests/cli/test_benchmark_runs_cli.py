"""`gpu-shopper benchmarks run|status` as a user runs them: a subprocess against the real
sandbox (HTTP, SSH, the Ollama stand-in) and a real warehouse file."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions.models import Status
from shopper_pipelines.sessions.store import list_sessions
from shopper_pipelines.settings import load_settings
from tests.sandbox_support import queue_faults

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "shopper_pipelines.cli.main"]


@pytest.fixture
def sandbox(tmp_path):
    with running_sandbox(seed=5, boot_seconds=0.3, workdir=tmp_path / "instances",
                         inference_speed=10) as url:  # fmt: skip
        yield url


@pytest.fixture
def env(db_path, sandbox, tmp_path):
    ingest(load_settings(database_path=db_path, sandbox_url=sandbox))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env.update(DATABASE_PATH=str(db_path), SANDBOX_URL=sandbox, DEPLOYMENT_ID="clibench",
               READINESS_TIMEOUT="20s", SSH_POLL_INTERVAL_S="0.2", DESTROY_BACKOFF_S="0.05",
               BENCHMARK_RESULTS_DIR=str(tmp_path / "results"),
               PYTHONUNBUFFERED="1")  # fmt: skip
    return env


def _cli(env, *args, timeout=300):
    return subprocess.run([*CLI, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _live_instances(sandbox_url):
    instances = httpx.get(f"{sandbox_url}/_sandbox/instances").json()["instances"]
    return [i for i in instances if not i["destroyed"]]


def test_benchmarks_run_measures_the_grid_and_cheapest_answers_from_it(env, sandbox, db_path):
    """The issue's "done when": the exact command, then `benchmarks cheapest`."""
    result = _cli(env, "benchmarks", "run", "--models", "llama3.1:8b,mistral:7b",
                  "--gpus", "RTX 3090,RTX 4090", "--max-budget", "1.00", "--duration", "20s",
                  "-o", "json")  # fmt: skip

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    run = payload["run"]
    assert (run["status"], run["items_done"], run["items_total"]) == ("completed", 4, 4)
    assert 0 < run["spent_usd"] < 1.00
    assert [(i["gpu_model"], i["model"], i["status"]) for i in payload["items"]] == [
        ("RTX 3090", "llama3.1:8b", "ok"), ("RTX 3090", "mistral:7b", "ok"),
        ("RTX 4090", "llama3.1:8b", "ok"), ("RTX 4090", "mistral:7b", "ok"),
    ]  # fmt: skip
    assert "RTX 3090 x llama3.1:8b: running bench.py for 20s" in result.stderr
    assert _live_instances(sandbox) == []
    sessions = list_sessions(db_path)
    assert len(sessions) == 4 and all(s.status is Status.TERMINATED for s in sessions)

    cheapest = _cli(env, "benchmarks", "cheapest", "--model", "llama3.1:8b", "-o", "json")
    assert cheapest.returncode == 0, cheapest.stderr
    pick = json.loads(cheapest.stdout)["cheapest"]
    ours = {i["result_id"] for i in payload["items"] if i["model"] == "llama3.1:8b"}
    assert pick["source"] == "measured" and pick["result_id"] in ours

    status = _cli(env, "benchmarks", "status", "-o", "json")  # the latest run
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["run"]["run_id"] == run["run_id"]
    table = _cli(env, "benchmarks", "status", run["run_id"])
    assert table.returncode == 0 and f"Benchmark run {run['run_id']}" in table.stdout
    assert "4 ok, 0 failed of 4" in table.stdout


def _processes_mentioning(text):
    """Command lines of live processes that contain `text` (bench.py runs name its run)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and proc.name.isdigit():
            found.append(cmdline)
    return found


def test_ctrl_c_during_a_measurement_destroys_the_session_and_marks_the_run(env, sandbox, db_path):
    """Bug: Ctrl-C while bench.py ran did nothing until bench.py finished (Fabric caught
    the KeyboardInterrupt); with a 60 s measurement the run now stops within seconds,
    says so, destroys the session and leaves no bench.py running."""
    process = subprocess.Popen(
        [*CLI, "benchmarks", "run", "--models", "llama3.1:8b", "--gpus", "RTX 4090",
         "--max-budget", "1", "--duration", "60s"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    head = ""
    for line in process.stderr:
        head += line
        if "running bench.py" in line:
            break
    [run_id] = re.findall(r"Benchmark run (brun-\S+):", head)
    time.sleep(1.0)  # bench.py is under way on the node
    assert _processes_mentioning(run_id), "bench.py should be running"
    os.killpg(process.pid, signal.SIGINT)
    sent = time.monotonic()
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest
    assert time.monotonic() - sent < 10, rest  # not the 60 s bench.py had left
    assert "interrupt received during run: destroying session" in rest
    assert "interrupted; its sessions were destroyed" in rest
    assert _live_instances(sandbox) == []
    assert _processes_mentioning(run_id) == []
    [session] = list_sessions(db_path)
    assert session.status is Status.TERMINATED
    status = json.loads(_cli(env, "benchmarks", "status", "-o", "json").stdout)
    assert status["run"]["status"] == "interrupted"
    assert "SIGINT during run of RTX 4090 x llama3.1:8b" in status["run"]["error"]
    assert status["items"][0]["error_type"] == "interrupted"
    # Bug: the counters said "0 ok, 0 failed of 1" beside a failed item row.
    assert (status["run"]["items_done"], status["run"]["items_failed"]) == (0, 1)
    assert "0 ok, 1 failed of 1" in _cli(env, "benchmarks", "status").stdout


def test_a_session_that_cannot_be_destroyed_is_a_loud_failure(env, sandbox, db_path):
    """Bug: a destroy the provider never confirmed still ended `completed`, "1 ok", exit 0.
    Now the run fails, exits non-zero and prints a WARNING naming the session and the
    command that retries the destroy."""
    env = {**env, "DESTROY_ATTEMPTS": "2"}
    queue_faults(sandbox, "vastai.destroy", *[{"behaviour": "destroy-lies"}] * 2)
    result = _cli(env, "benchmarks", "run", "--models", "llama3.1:8b", "--gpus", "RTX 4090",
                  "--providers", "vastai", "--max-budget", "1", "--duration", "5s",
                  "-o", "json")  # fmt: skip
    [session] = list_sessions(db_path)
    sid = session.session_id
    assert session.status is Status.FAILED
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)["run"]
    assert (run["status"], run["items_done"], run["items_failed"]) == ("failed", 0, 1)
    warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING: run")]
    assert warning and f"`gpu-shopper sessions done {sid}`" in warning[0]
    assert f"instance {session.instance_id} on vastai" in warning[0]
    assert len(_live_instances(sandbox)) == 1
    done = _cli(env, "sessions", "done", sid, timeout=120)  # what the warning says to run
    assert done.returncode == 0, done.stderr
    assert _live_instances(sandbox) == []


def test_sigterm_during_a_measurement_destroys_the_session(env, sandbox, db_path):
    process = subprocess.Popen(
        [*CLI, "benchmarks", "run", "--models", "mistral:7b", "--gpus", "RTX 3090",
         "--max-budget", "1", "--duration", "20s"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "running bench.py" in line:
            break
    process.terminate()
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, rest
    assert _live_instances(sandbox) == []
    assert [s.status for s in list_sessions(db_path)] == [Status.TERMINATED]


def test_nothing_succeeded_exits_non_zero(env, sandbox, db_path):
    result = _cli(env, "benchmarks", "run", "--models", "llama3.1:70b", "--gpus", "RTX 3090",
                  "--max-budget", "1", "--duration", "5s")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "needs 51.6 GB of VRAM; no RTX 3090 has that much" in result.stderr
    assert list_sessions(db_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "RTX 9999"], "--gpus 'RTX 9999' is not a GPU model we know"),
        (["--models", "gpt-5"], "--models 'gpt-5' is not a model we know"),
        (["--max-budget", "0"], "--max-budget must be more than $0, got '0'"),
        (["--providers", "runpod"], "--providers takes vastai, tensordock, got 'runpod'"),
    ],
)
def test_bad_input_exits_2_naming_the_flag_and_writes_nothing(env, db_path, args, message):
    values = {"--models": "llama3.1:8b", "--gpus": "RTX 4090", "--max-budget": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        values[flag] = value
    argv = [part for pair in values.items() for part in pair]
    result = _cli(env, "benchmarks", "run", *argv, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    status = _cli(env, "benchmarks", "status", timeout=60)
    assert status.returncode == 2 and "no benchmark run yet" in status.stderr


def test_status_of_an_unknown_run_exits_2(env):
    result = _cli(env, "benchmarks", "status", "brun-nope", timeout=60)
    assert result.returncode == 2
    assert "RUN_ID 'brun-nope' is not a benchmark run" in result.stderr
