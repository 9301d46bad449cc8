"""`bench.py` end to end: a copy of the folder run as a file (as on a rented node) against a
stand-in server on 127.0.0.1, with a fake `nvidia-smi` first on PATH. The numbers in the
result must be the ones the stand-in streamed."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark_scripts.prompts import PROMPT_SET, PROMPTS, quality_prompts
from tests.benchmark_scripts.standin import Script, running_standin
from tests.benchmark_scripts.support import ISO_UTC, REQUEST_KEYS, TOP_KEYS, bench, environment


def test_ollama_run_reports_what_the_server_streamed(node: Path):
    """The stand-in reports eval_count 40 and eval_duration 500_000_000 ns (0.5 s) for every
    request: 40 / 0.5 = 80 tokens/s each, so mean, p50, min and max are all 80. It answers
    3 of the 7 quality prompts right: match rate 3/7 = 0.4286. It omits prompt_eval_count
    for a prompt it has seen before (cached)."""
    correct = {p["id"] for p in quality_prompts()[:3]}
    script = Script(models=[], correct=correct)
    with running_standin(script) as url:
        host_port = url.removeprefix("http://")
        env = environment(node, OLLAMA_HOST=host_port)
        code, doc, stdout, stderr = bench(
            node, "--model", "llama3.1:8b", "--duration", "2", "--out", "out", env=env
        )

    assert code == 0, stderr
    assert doc is not None
    path = Path(stdout.strip().splitlines()[-1])
    assert path.parent == node / "out"
    assert re.fullmatch(r"benchmark_llama3\.1-8b_\d{8}T\d{6}Z\.json", path.name)
    assert set(doc) == TOP_KEYS
    assert (doc["schema_version"], doc["status"], doc["valid"]) == (1, "ok", True)
    assert doc["flags"] == []
    assert doc["errors"] == []
    assert re.fullmatch(r"bench-[0-9a-f]{12}", doc["benchmark_id"])
    assert (doc["runtime"], doc["model"], doc["server_url"]) == ("ollama", "llama3.1:8b", url)
    assert ISO_UTC.match(doc["started_at"]) and ISO_UTC.match(doc["finished_at"])
    assert doc["config"] == {
        "duration_s": 2.0,
        "max_tokens": 500,
        "concurrency": [1],
        "prompt_set": PROMPT_SET,
        "quality": True,
    }
    assert doc["host"]["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 4090",
            "memory_total_mib": 24564,
            "driver_version": "550.54.15",
        }
    ]
    assert doc["host"]["cuda_version"] == "12.4"

    summary = doc["summary"]
    ok = summary["successful"]
    assert ok >= 3 and summary["failed"] == 0 and summary["requests"] == ok
    assert summary["tokens_per_second"] == 80.0
    assert summary["tps_p50"] == summary["tps_min"] == summary["tps_max"] == 80.0
    assert summary["output_tokens"] == 40 * ok
    assert summary["wall_s"] >= 2.0
    assert summary["aggregate_tokens_per_second"] == pytest.approx(
        40 * ok / summary["wall_s"], rel=1e-3
    )
    assert summary["ttft_ms_p50"] >= script.first_delay_s * 1000
    assert (summary["quality_prompts"], summary["quality_matches"]) == (7, 3)
    assert summary["quality_match_rate"] == 0.4286
    assert doc["concurrency_sweep"] == []

    requests = doc["requests"]
    assert all(set(r) >= REQUEST_KEYS for r in requests)
    quality = [r for r in requests if r["phase"] == "quality"]
    throughput = [r for r in requests if r["phase"] == "throughput"]
    assert [r["prompt_id"] for r in quality] == [p["id"] for p in quality_prompts()]
    assert {r["prompt_id"] for r in quality if r["match"]} == correct
    assert [r["prompt_id"] for r in throughput] == [
        PROMPTS[i % len(PROMPTS)]["id"] for i in range(len(throughput))
    ]
    seen: set[str] = set()
    for record in requests:
        assert record["prompt_cached"] is (record["prompt_id"] in seen)
        assert record["prompt_tokens"] == (None if record["prompt_id"] in seen else 26)
        seen.add(record["prompt_id"])

    stats = doc["gpu_stats"]
    assert stats["samples"] >= 1
    assert (stats["utilization_pct_max"], stats["memory_used_mib_max"]) == (87.0, 20123.0)
    assert (stats["temperature_c_max"], stats["power_w_max"]) == (61.0, 312.45)

    assert script.bodies[:2] == [
        {"model": "llama3.1:8b", "name": "llama3.1:8b", "stream": True},  # pull
        {"model": "llama3.1:8b", "keep_alive": "30m"},  # load before measuring
    ]
    chats = script.bodies[2:]
    assert len(chats) == len(requests)
    assert all(b["stream"] is True and b["options"]["num_predict"] == 500 for b in chats)
    assert "pulled llama3.1:8b" in stderr


def test_sigterm_writes_what_was_measured(node: Path):
    script = Script()
    with running_standin(script) as url:
        command = [sys.executable, "-I", str(node / "node-bench" / "bench.py")]
        command += ["--model", "llama3.1:8b", "--server", url, "--duration", "60", "--no-quality"]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=node,
            env=environment(node),
        )
        assert process.stderr is not None
        throughput_lines = 0
        while throughput_lines < 3:
            line = process.stderr.readline()
            assert line, "bench.py ended before measuring"
            throughput_lines += line.startswith("[bench] throughput")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    doc = json.loads(Path(stdout.strip().splitlines()[-1]).read_text())
    assert doc["status"] == "partial"
    assert doc["valid"] is True
    assert "short_run" in doc["flags"]
    interrupted = [e for e in doc["errors"] if e["type"] == "interrupted"]
    assert interrupted == [
        {
            "type": "interrupted",
            "message": "stopped by SIGTERM",
            "phase": "throughput",
            "retry_suggested": True,
        }
    ]
    assert doc["summary"]["successful"] >= 3
    assert doc["summary"]["tokens_per_second"] == 80.0
    assert doc["summary"]["wall_s"] < 60


def test_openai_run_with_a_concurrency_sweep_and_no_gpu(node: Path):
    """usage.completion_tokens is 40 per request, so every request reports 40 tokens. The
    rate is timed on this machine (39 tokens over first to last content, about 40 ms of
    server sleeps: near 975 tokens/s), so it is checked for being a real number and for the
    summary being the mean of the requests' rates, not against a bound a loaded CI
    machine could break."""
    script = Script(models=["meta-llama/Llama-3.1-8B-Instruct"])
    with running_standin(script) as url:
        env = environment(node, gpu=False, OPENAI_BASE_URL=f"{url}/v1")
        args = ["--runtime", "openai", "--model", "meta-llama/Llama-3.1-8B-Instruct"]
        args += ["--duration", "1", "--concurrency", "1,2", "--no-quality"]
        code, doc, _, stderr = bench(node, *args, env=env)
    assert code == 0, stderr
    assert doc is not None
    assert doc["status"] == "ok"
    assert doc["valid"] is True
    assert doc["flags"] == ["no_gpu_samples"]
    assert [e["type"] for e in doc["errors"]] == ["gpu_query_failed"]
    assert doc["server_url"] == f"{url}/v1"
    assert doc["config"]["concurrency"] == [1, 2]
    assert doc["config"]["quality"] is False
    assert all(r["output_tokens"] == 40 for r in doc["requests"])
    rates = [r["tokens_per_second"] for r in doc["requests"] if r["phase"] == "throughput"]
    assert all(isinstance(rate, float) and 0 < rate <= 20_000 for rate in rates)
    assert doc["summary"]["tokens_per_second"] == pytest.approx(sum(rates) / len(rates), abs=0.01)
    assert all(r["prompt_tokens"] == 26 for r in doc["requests"])
    assert doc["summary"]["quality_match_rate"] is None
    [level1, level2] = doc["concurrency_sweep"]
    assert level1["concurrency"] == 1
    assert level1["requests"] == doc["summary"]["requests"]
    assert level1["aggregate_tokens_per_second"] == doc["summary"]["aggregate_tokens_per_second"]
    sweep = [r for r in doc["requests"] if r["phase"] == "sweep"]
    assert level2["concurrency"] == 2
    assert level2["requests"] == len(sweep) >= 2
    assert all(r["concurrency"] == 2 for r in sweep)
    chats = [b for b in script.bodies if "messages" in b]
    assert all(b["max_tokens"] == 500 for b in chats)
    assert all(b["stream_options"] == {"include_usage": True} for b in chats)
