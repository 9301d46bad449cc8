"""`bench.py` when things go wrong: each failure typed, with the right retry advice and
exit code, and a result file all the same."""

import socket
import time
from pathlib import Path

import pytest

from tests.benchmark_scripts.standin import Script, running_standin
from tests.benchmark_scripts.support import bench, environment


def test_server_unreachable_on_a_closed_port(node: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends
    started = time.monotonic()
    server = f"http://127.0.0.1:{port}"
    args = ["--model", "llama3.1:8b", "--server", server, "--server-wait", "1"]
    code, doc, _, _ = bench(node, *args, env=environment(node))
    assert time.monotonic() - started < 10
    assert code == 1
    assert doc is not None
    assert (doc["status"], doc["valid"]) == ("failed", False)
    assert "no_successful_requests" in doc["flags"]
    [error] = doc["errors"]
    assert (error["type"], error["phase"], error["retry_suggested"]) == (
        "server_unreachable",
        "setup",
        True,
    )
    assert doc["summary"]["tokens_per_second"] is None


def test_out_of_memory_stops_the_run_without_retry(node: Path):
    script = Script(fault="oom")
    with running_standin(script) as url:
        code, doc, _, _ = bench(
            node,
            "--model",
            "llama3.1:8b",
            "--server",
            url,
            "--duration",
            "5",
            env=environment(node),
        )
    assert code == 1
    assert doc is not None
    assert doc["status"] == "failed"
    [error] = doc["errors"]
    assert (error["type"], error["retry_suggested"]) == ("oom", False)
    assert "requires more system memory" in error["message"]
    assert error["phase"] == "setup"  # found when loading, before any measured request
    assert [b for b in script.bodies if "messages" in b] == []


def test_out_of_memory_in_a_request_ends_the_run(node: Path):
    """A server that loads lazily fails the first request instead: one request, no more."""
    script = Script(fault="oom_chat")
    with running_standin(script) as url:
        code, doc, _, _ = bench(
            node, "--model", "llama3.1:8b", "--server", url, env=environment(node)
        )
    assert code == 1
    assert doc is not None
    assert [(r["phase"], r["error"]) for r in doc["requests"]] == [("quality", "oom")]
    assert [(e["type"], e["phase"]) for e in doc["errors"]] == [("oom", "quality")]
    assert len([b for b in script.bodies if "messages" in b]) == 1


def test_pull_of_an_unknown_model_fails_without_retry(node: Path):
    script = Script(models=[], fault="pull_error")
    with running_standin(script) as url:
        code, doc, _, _ = bench(
            node, "--model", "llama9:70b", "--server", url, env=environment(node)
        )
    assert code == 1
    assert doc is not None
    [error] = doc["errors"]
    assert (error["type"], error["retry_suggested"]) == ("model_pull_failed", False)
    assert "file does not exist" in error["message"]


def test_no_pull_and_a_missing_model(node: Path):
    script = Script(models=["mistral:7b"])
    with running_standin(script) as url:
        code, doc, _, _ = bench(
            node, "--model", "llama3.1:8b", "--server", url, "--no-pull", env=environment(node)
        )
    assert code == 1
    assert doc is not None
    assert [e["type"] for e in doc["errors"]] == ["model_not_found"]
    assert "/api/pull" not in script.paths


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--concurrency", "0"], "--concurrency"),
        (["--duration", "-5"], "--duration"),
        (["--server", "ftp://127.0.0.1:1"], "--server"),
        (["--runtime", "tgi"], "--runtime"),
    ],
)
def test_usage_errors_exit_2_naming_the_argument(node: Path, args: list[str], named: str):
    code, doc, _, stderr = bench(node, "--model", "m", *args, env=environment(node))
    assert code == 2
    assert doc is None
    assert named in stderr
    assert args[1] in stderr
