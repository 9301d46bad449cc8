"""Benchmark runs end to end: the real sandbox over HTTP, real SSH/SFTP, the real
benchmark_scripts against the sandbox's Ollama stand-in, a real DuckDB file.

Every test ends by checking that no sandbox instance is left alive and every session the
run rented is terminated: that is the guarantee a run gives whatever happens.
"""

import os
import signal
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from shopper_pipelines.benchmarks import runner_remote, runner_store
from shopper_pipelines.benchmarks import store as results_store
from shopper_pipelines.benchmarks.runner import execute_run, start_run
from shopper_pipelines.benchmarks.runner_offers import cheapest_offer
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan, estimate_cost
from shopper_pipelines.benchmarks.runner_walk import Walker
from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle, provision
from shopper_pipelines.sessions.models import Status
from shopper_pipelines.sessions.store import list_sessions
from shopper_pipelines.settings import PROVIDERS
from shopper_pipelines.ssh.keys import generate_key_pair
from shopper_pipelines.warehouse import connect
from tests.sandbox_support import ingested_settings, queue_faults


@pytest.fixture
def sandbox(tmp_path):
    # Inference 10x faster than real time: a 3 s measurement still sees hundreds of tokens.
    with running_sandbox(seed=5, boot_seconds=0.3, workdir=tmp_path / "instances",
                         inference_speed=10) as url:  # fmt: skip
        yield url


@pytest.fixture
def settings(db_path, sandbox, tmp_path):
    return ingested_settings(db_path, sandbox, "bench", destroy_attempts=4,
                             benchmark_results_dir=tmp_path / "results")  # fmt: skip


def _live_instances(sandbox_url):
    instances = httpx.get(f"{sandbox_url}/_sandbox/instances").json()["instances"]
    return [i for i in instances if not i["destroyed"]]


def _assert_nothing_left(settings, sandbox_url):
    assert _live_instances(sandbox_url) == []
    sessions = list_sessions(settings.database_path)
    assert all(s.status is Status.TERMINATED for s in sessions), [
        (s.session_id, s.status, s.status_reason) for s in sessions
    ]
    return sessions


def _start(settings, **overrides):
    values = {"models": "llama3.1:8b", "gpus": "RTX 4090", "max_budget": "1.00",
              "duration": "3s"}  # fmt: skip
    return start_run(settings, BenchmarkPlan.parse(**{**values, **overrides}))


def _items(settings, run_id):
    return runner_store.items(settings.database_path, run_id)


def test_run_rents_measures_stores_and_destroys(settings, sandbox):
    run_id = _start(settings, gpus="RTX 3090,RTX 4090")
    lines = []

    outcome = execute_run(settings, run_id, progress=lines.append)

    assert (outcome.status, outcome.items_done, outcome.items_failed) == ("completed", 2, 0)
    sessions = _assert_nothing_left(settings, sandbox)
    assert len(sessions) == 2 and {s.consumer_id for s in sessions} == {"benchmarks"}
    items = _items(settings, run_id)
    assert [(i["gpu_model"], i["status"]) for i in items] == [
        ("RTX 3090", "ok"),
        ("RTX 4090", "ok"),
    ]
    by_session = {s.session_id: s for s in sessions}
    for item in items:
        session = by_session[item["session_id"]]
        # Cost is what the session billed: its price x (destroyed - created).
        assert session.terminated_at is not None
        seconds = (session.terminated_at - session.created_at).total_seconds()
        expected = Decimal(str(session.price_per_hour)) * Decimal(str(seconds)) / 3600
        assert item["cost_usd"] == pytest.approx(expected, abs=Decimal("0.000002"))
        with connect(settings.database_path, read_only=True) as con:
            row = con.execute(
                "SELECT run_id, session_id, gpu_model, model, provider, price_per_hour,"
                " tokens_per_second FROM benchmark_results WHERE result_id = ?",
                [item["result_id"]],
            ).fetchone()
        assert row is not None
        assert row[:5] == (run_id, session.session_id, item["gpu_model"], "llama3.1:8b",
                           session.provider)  # fmt: skip
        assert float(row[5]) == pytest.approx(session.price_per_hour)
        assert row[6] > 0
        downloaded = orjson.loads(Path(item["result_path"]).read_bytes())
        assert downloaded["benchmark_id"] == item["result_id"]
        assert str(settings.benchmark_results_dir / run_id) in item["result_path"]
    run = runner_store.require_run(settings.database_path, run_id)
    assert run["status"] == "completed" and run["finished_at"] is not None
    assert run["spent_usd"] == sum(i["cost_usd"] for i in items) == outcome.spent_usd
    assert run["estimated_usd"] > run["spent_usd"]  # the estimate allows for slow boots
    assert any(line.startswith("RTX 3090 x llama3.1:8b: running bench.py") for line in lines)
    # The renter's private key only ever lived in memory.
    assert b"PRIVATE KEY" not in settings.database_path.read_bytes()
    for path in settings.benchmark_results_dir.rglob("*"):
        assert not path.is_file() or b"PRIVATE KEY" not in path.read_bytes()


def test_a_model_too_big_for_the_gpu_is_skipped_without_renting(settings, sandbox):
    run_id = _start(settings, models="llama3.1:70b", gpus="RTX 3090")
    outcome = execute_run(settings, run_id)
    [item] = _items(settings, run_id)
    assert item["status"] == "skipped" and item["error_type"] == "vram"
    assert item["error"] == "llama3.1:70b needs 51.6 GB of VRAM; no RTX 3090 has that much"
    assert outcome.items_done == 0
    assert list_sessions(settings.database_path) == []


def test_a_tiny_budget_stops_the_run_before_renting(settings, sandbox):
    run_id = _start(settings, gpus="RTX 3090,RTX 4090", max_budget="0.01")
    outcome = execute_run(settings, run_id)
    assert outcome.status == "stopped_budget"
    assert "would pass the $0.01 budget" in (outcome.error or "")
    assert [i["status"] for i in _items(settings, run_id)] == ["skipped_budget"] * 2
    assert list_sessions(settings.database_path) == []
    assert _live_instances(sandbox) == []


def test_the_benchmarks_consumers_own_budget_stops_the_run_as_a_budget_stop(settings, sandbox):
    """Bug: a refusing monthly budget on the `benchmarks` consumer made the run end
    `failed` with a generic error; it is a budget stop, and nothing is rented."""
    set_budget(settings.database_path, "benchmarks", Decimal("0.01"), action="refuse")
    run_id = _start(settings)
    outcome = execute_run(settings, run_id)
    assert outcome.status == "stopped_budget"
    assert "nothing was rented" in (outcome.error or "")
    assert [i["status"] for i in _items(settings, run_id)] == ["skipped_budget"]
    assert list_sessions(settings.database_path) == []
    assert _live_instances(sandbox) == []


def test_the_budget_stops_the_run_when_spend_plus_the_next_estimate_would_pass_it(
    settings, sandbox
):
    need = 5.9  # llama3.1:8b and mistral:7b both fit in 5.9 GB (llm_models)
    offer = cheapest_offer(settings, "RTX 4090", PROVIDERS, need)
    assert offer is not None
    first = estimate_cost(offer["price_per_hour"], 3)
    # Enough for the first measurement's estimate; its real spend plus the second's
    # estimate is more.
    run_id = _start(settings, models="llama3.1:8b,mistral:7b", max_budget=str(first))
    outcome = execute_run(settings, run_id)
    assert outcome.status == "stopped_budget"
    assert [i["status"] for i in _items(settings, run_id)] == ["ok", "skipped_budget"]
    assert len(_assert_nothing_left(settings, sandbox)) == 1
    assert Decimal(0) < outcome.spent_usd < first


def _after(real, exception):
    """A step that does its real work, then is interrupted."""

    def step(*args, **kwargs):
        real(*args, **kwargs)
        raise exception

    return step


@pytest.mark.parametrize("step", ["provision", "upload", "run", "download", "store"])
def test_an_interrupt_at_any_step_destroys_the_session_and_marks_the_run(
    settings, sandbox, monkeypatch, step
):
    places = {
        "provision": (provision, "provision_session"),
        "upload": (runner_remote, "upload_scripts"),
        "run": (runner_remote, "run_bench"),
        "download": (runner_remote, "download_result"),
        "store": (results_store, "store_result"),
    }
    module, name = places[step]
    monkeypatch.setattr(module, name, _after(getattr(module, name), KeyboardInterrupt()))
    run_id = _start(settings, models="llama3.1:8b,mistral:7b")

    with pytest.raises(KeyboardInterrupt):
        execute_run(settings, run_id)

    [session] = _assert_nothing_left(settings, sandbox)
    first, second = _items(settings, run_id)
    assert (first["status"], first["error_type"]) == ("failed", "interrupted")
    assert first["error"] == f"interrupted during {step}"
    assert first["session_id"] == session.session_id and first["cost_usd"] > 0
    assert (second["status"], second["error"]) == ("skipped", "run interrupted")
    run = runner_store.require_run(settings.database_path, run_id)
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    # Bug: the reason always read "interrupted while a session was being destroyed", and
    # the counters said 0 failed while the item row said failed.
    assert run["error"] == (f"interrupted (SIGINT during {step} of RTX 4090 x llama3.1:8b, "
                            f"session {session.session_id})")  # fmt: skip
    assert (run["items_done"], run["items_failed"]) == (0, 1)


def test_sigterm_during_the_run_is_an_interrupt_and_destroys_the_session(
    settings, sandbox, monkeypatch
):
    def terminate(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # handled: raises KeyboardInterrupt here
        raise AssertionError("SIGTERM did not interrupt the run")

    monkeypatch.setattr(runner_remote, "run_bench", terminate)
    # The runner handles SIGTERM only when nothing else does; an earlier test in this
    # process (Dagster's in-process runs) may have left a handler of its own.
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        run_id = _start(settings)
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            execute_run(settings, run_id)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is restored
    finally:
        signal.signal(signal.SIGTERM, previous)
    _assert_nothing_left(settings, sandbox)
    assert runner_store.require_run(settings.database_path, run_id)["status"] == "interrupted"


def test_ctrl_c_while_a_session_is_destroyed_waits_for_the_destroy(settings, sandbox, monkeypatch):
    real_done = lifecycle.done

    def impatient(settings_, session_id):
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while destroying
        return real_done(settings_, session_id)

    monkeypatch.setattr(lifecycle, "done", impatient)
    run_id = _start(settings, models="llama3.1:8b,mistral:7b")
    with pytest.raises(KeyboardInterrupt):
        execute_run(settings, run_id)
    assert len(_assert_nothing_left(settings, sandbox)) == 1  # destroyed, then it stopped
    first, second = _items(settings, run_id)
    assert first["status"] == "ok" and second["status"] == "skipped"


@pytest.mark.parametrize(
    ("key", "expected"),
    [("wrong", "AuthenticationException"), ("garbage", "private key is not")],
)
def test_a_permanent_ssh_error_aborts_the_run_without_retrying(
    settings, sandbox, monkeypatch, key, expected
):
    real_request = provision.request_session
    stranger = generate_key_pair("stranger").private_openssh  # a key nobody authorised
    private = stranger if key == "wrong" else "-----BEGIN NOTHING-----\nxx\n"

    def with_bad_key(*args, **kwargs):
        return provision.Requested(real_request(*args, **kwargs).session, private)

    monkeypatch.setattr(provision, "request_session", with_bad_key)
    run_id = _start(settings, gpus="RTX 3090,RTX 4090")

    outcome = execute_run(settings, run_id)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert expected in outcome.error and outcome.error.startswith("upload: ")
    # One rental: no second attempt, no next GPU.
    assert len(_assert_nothing_left(settings, sandbox)) == 1
    first, second = _items(settings, run_id)
    assert (first["status"], first["error_type"], first["attempt"]) == (
        "failed", "ssh_permanent", 1,
    )  # fmt: skip
    assert second["status"] == "skipped" and second["error"].startswith("run aborted")


def test_a_transient_failure_is_retried_once_on_another_offer(settings, sandbox):
    queue_faults(sandbox, "vastai.create", {"behaviour": "ssh-never-ready"})
    fast = settings.model_copy(update={"readiness_timeout": "3s"})
    run_id = _start(fast, providers="vastai")

    outcome = execute_run(fast, run_id)

    assert (outcome.status, outcome.items_done) == ("completed", 1)
    assert len(_assert_nothing_left(settings, sandbox)) == 2
    first, second = _items(settings, run_id)
    assert (first["attempt"], first["status"], first["error_type"]) == (1, "failed", "provision")
    assert "not ready within 3s" in first["error"] and first["retry_suggested"]
    assert (second["attempt"], second["status"]) == (2, "ok")
    assert second["offer_key"] != first["offer_key"]


OOM_SCRIPT = """
import json, os, sys
args = sys.argv[1:]
out = args[args.index("--out") + 1]
path = os.path.join(out, "benchmark_deepseek-r1-32b_20261204T120000Z.json")
with open(path, "w") as handle:
    json.dump({"schema_version": 1, "status": "failed", "valid": False,
               "errors": [{"type": "oom", "message": "CUDA out of memory", "phase": "pull",
                           "retry_suggested": False}]}, handle)
print(path)
sys.exit(1)
"""


def test_an_out_of_memory_result_is_not_retried(settings, sandbox, tmp_path):
    # The sandbox's stand-in only runs out of memory on a GPU the runner already refuses
    # (same catalogue), so this node script stands in for a real server's OOM answer.
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "bench.py").write_text(OOM_SCRIPT)
    run_id = _start(settings, models="deepseek-r1:32b")

    outcome = execute_run(settings, run_id, scripts_dir=scripts)

    assert (outcome.status, outcome.items_failed) == ("failed", 1)
    [item] = _items(settings, run_id)  # one attempt only
    assert (item["status"], item["error_type"], item["error"]) == (
        "failed", "oom", "CUDA out of memory",
    )  # fmt: skip
    assert item["retry_suggested"] is False
    assert len(_assert_nothing_left(settings, sandbox)) == 1


def test_a_run_executes_once(settings, sandbox):
    run_id = _start(settings, models="llama3.1:70b", gpus="RTX 3090")  # skipped: quick
    execute_run(settings, run_id)
    with pytest.raises(Exception, match="only a queued run executes"):
        execute_run(settings, run_id)


def test_an_interrupt_that_lands_before_the_attempts_destroy_is_swept(
    settings, sandbox, monkeypatch
):
    # The attempt's `finally` can itself be hit by a signal before it reaches its shield;
    # the run's stop path must still find the session and destroy it.
    def interrupted_end(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Walker, "_end", interrupted_end)
    run_id = _start(settings)
    with pytest.raises(KeyboardInterrupt):
        execute_run(settings, run_id)
    [session] = _assert_nothing_left(settings, sandbox)
    assert "consumer signalled done" in (session.status_reason or "")
    assert runner_store.require_run(settings.database_path, run_id)["status"] == "interrupted"


def test_the_openai_runtime_rents_a_vllm_workload_and_measures_through_it(settings, sandbox):
    run_id = _start(settings, runtime="openai", models="mistral:7b")
    outcome = execute_run(settings, run_id)
    assert outcome.status == "completed", outcome.error
    [session] = _assert_nothing_left(settings, sandbox)
    assert session.workload.value == "llm_vllm"
    [item] = _items(settings, run_id)
    with connect(settings.database_path, read_only=True) as con:
        runtime = con.execute(
            "SELECT runtime FROM benchmark_results WHERE result_id = ?", [item["result_id"]]
        ).fetchone()
    assert runtime == ("openai",)


def test_a_real_ctrl_c_while_bench_runs_destroys_at_once_not_when_bench_ends(
    settings, sandbox, monkeypatch
):
    """Bug: Fabric caught the KeyboardInterrupt of a Ctrl-C while bench.py ran, forwarded
    it and kept waiting; the destroy began only when bench.py finished (up to 5 min of
    billing). A real SIGINT 1 s into a 60 s measurement now starts the destroy at once."""
    real_run_bench = runner_remote.run_bench
    sent: list[float] = []

    def ctrl_c_soon(*args, **kwargs):
        def fire():
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        threading.Timer(1.0, fire).start()
        return real_run_bench(*args, **kwargs)

    monkeypatch.setattr(runner_remote, "run_bench", ctrl_c_soon)
    lines: list[tuple[float, str]] = []
    run_id = _start(settings, duration="60s")

    with pytest.raises(KeyboardInterrupt):
        execute_run(settings, run_id, progress=lambda line: lines.append((time.monotonic(), line)))

    [when_sent] = sent
    heard = [at for at, line in lines if "interrupt received during run: destroying" in line]
    assert heard and heard[0] - when_sent < 2.0, lines
    assert time.monotonic() - when_sent < 15  # the destroy included, not 60 s of bench.py
    [session] = _assert_nothing_left(settings, sandbox)
    [item] = _items(settings, run_id)
    assert (item["status"], item["error"]) == ("failed", "interrupted during run")
    assert item["result_id"] is None  # bench.py was hung up, not waited for
    run = runner_store.require_run(settings.database_path, run_id)
    assert run["status"] == "interrupted" and "SIGINT during run" in run["error"]
    assert session.session_id in run["error"]


def test_a_destroy_that_is_never_confirmed_fails_the_run_and_names_the_session(settings, sandbox):
    """Bug: when the provider kept lying about the destroy (session `failed`, "destroy not
    confirmed, will retry") the run still said completed, 1 ok, and froze its spend while
    the instance kept billing. Now the item fails with `destroy_unconfirmed`, the run
    fails naming the session and the retry command, and no further GPU is rented."""
    lies = [{"behaviour": "destroy-lies"}] * settings.destroy_attempts
    queue_faults(sandbox, "vastai.destroy", *lies)
    run_id = _start(settings, models="llama3.1:8b,mistral:7b", providers="vastai")

    outcome = execute_run(settings, run_id)

    [session] = list_sessions(settings.database_path)
    assert session.status is Status.FAILED and session.terminated_at is None
    assert len(_live_instances(sandbox)) == 1  # still there, still billing
    sid = session.session_id
    assert (outcome.status, outcome.items_done, outcome.items_failed) == ("failed", 0, 1)
    assert list(outcome.sessions_alive) == [sid]
    first, second = _items(settings, run_id)
    assert (first["status"], first["error_type"]) == ("failed", "destroy_unconfirmed")
    assert first["result_id"] is not None  # measured fine; the money is the problem
    assert f"instance {session.instance_id} on vastai" in first["error"]
    assert f"`gpu-shopper sessions done {sid}`" in first["error"]
    assert second["status"] == "skipped" and second["session_id"] is None  # nothing rented
    # Spend: the session's price x (end of the attempt - created): billed so far.
    assert first["cost_usd"] > 0 and outcome.spent_usd == first["cost_usd"]
    run = runner_store.require_run(settings.database_path, run_id)
    assert (run["status"], run["items_done"], run["items_failed"]) == ("failed", 0, 1)
    assert f"gpu-shopper sessions done {sid}" in run["error"]

    # The command the error names does clean up once the provider behaves.
    assert lifecycle.done(settings, sid).status is Status.TERMINATED
    _assert_nothing_left(settings, sandbox)
