"""The Ollama stand-in of a sandbox instance, over real HTTP and real SSH.

The sandbox runs at inference speed 10: tokens stream ten times faster than the published
rate and every duration reported is what the stream took on the wall clock, so the rate
a client sees is published rate x 10 (llama3.1:8b on an RTX 4090: 169 x 10 = 1690 tok/s).
"""

import concurrent.futures
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncssh
import httpx
import orjson
import pytest

from shopper_pipelines.sandbox.server import running_sandbox
from tests.sandbox.conftest import (
    BOOT_SECONDS,
    public_line,
    rent_vast,
    ssh_run,
    vast_offers,
    vast_running,
    wait_for,
)
from tests.sandbox_support import queue_faults

SPEED = 10.0
RTX_4090_LLAMA_8B = 169.0  # published_benchmarks.csv: RTX 4090, tensordock, 169-169
NS = 1e9
LONG_PROMPT = "Write a long essay about memory bandwidth. "


@dataclass(frozen=True)
class Box:
    """One running single-GPU instance and the URLs of its servers."""

    client: httpx.Client
    ident: int
    ssh_port: int
    api: str

    def ollama(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30)


def rent_running_vast(client: httpx.Client, key: asyncssh.SSHKey, gpu: str) -> Box:
    """Rent a 1-GPU Vast offer of `gpu` and wait until it runs; its inference port too."""
    offer = vast_offers(client, gpu_name={"eq": gpu}, num_gpus={"eq": 1})[0]
    ident = rent_vast(client, offer["id"]).json()["new_contract"]
    client.post(f"/api/v0/instances/{ident}/ssh/", json={"ssh_key": public_line(key)})
    record = wait_for(lambda: vast_running(client, ident))
    listed = client.get("/_sandbox/inference").json()["instances"]
    port = next(row["inference_port"] for row in listed if row["id"] == ident)
    return Box(client, ident, record["ssh_port"], f"http://127.0.0.1:{port}")


def pull(api: httpx.Client, model: str) -> list[dict[str, Any]]:
    with api.stream("POST", "/api/pull", json={"model": model}) as answer:
        assert answer.status_code == 200
        return [orjson.loads(line) for line in answer.iter_lines() if line]


def stream(api: httpx.Client, path: str, body: dict[str, Any]) -> tuple[httpx.Headers, list]:
    """(headers, [(arrival monotonic time, chunk)]) of one NDJSON stream."""
    with api.stream("POST", path, json=body) as answer:
        assert answer.status_code == 200, answer.read()
        chunks = [(time.monotonic(), orjson.loads(line)) for line in answer.iter_lines() if line]
        return answer.headers, chunks


@pytest.fixture(scope="module")
def box(client_key: asyncssh.SSHKey) -> Iterator[Box]:
    with (
        running_sandbox(
            5, vast_offer_count=300, boot_seconds=BOOT_SECONDS, inference_speed=SPEED
        ) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield rent_running_vast(client, client_key, "RTX 4090")


def test_instance_shell_sees_ollama_host_and_openai_base_url(
    box: Box, client_key: asyncssh.SSHKey
) -> None:
    ran = ssh_run(box.ssh_port, client_key, 'echo "$OLLAMA_HOST $OPENAI_BASE_URL"')
    assert ran.stdout.split() == [box.api, f"{box.api}/v1"]
    fetch = (
        'python3 -c "import os, urllib.request; print(urllib.request.urlopen('
        "os.environ['OLLAMA_HOST'] + '/api/version').read().decode())\""
    )
    inside = ssh_run(box.ssh_port, client_key, fetch)
    assert inside.exit_status == 0, inside.stderr
    assert "version" in orjson.loads(inside.stdout)


def test_pull_is_needed_streams_progress_and_lists_the_model(box: Box) -> None:
    with box.ollama() as api:
        before = api.post("/api/generate", json={"model": "qwen2:7b", "prompt": "hi"})
        assert before.status_code == 404
        assert before.json() == {"error": "model 'qwen2:7b' not found, try pulling it first"}
        started = time.monotonic()
        lines = pull(api, "qwen2:7b")
        assert time.monotonic() - started < 1.0
        statuses = [line["status"] for line in lines]
        assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
        progress = [line for line in lines if "total" in line]
        assert progress[0]["completed"] == 0
        assert progress[-1]["completed"] == progress[-1]["total"] == 4_400_000_000
        completed = [line["completed"] for line in progress]
        assert completed == sorted(completed)
        names = [model["name"] for model in api.get("/api/tags").json()["models"]]
        assert "qwen2:7b" in names


def test_generate_streams_at_the_published_rate(box: Box) -> None:
    """300 tokens of llama3.1:8b on an RTX 4090 at speed 10: 300 / 1690 = 0.178 s."""
    with box.ollama() as api:
        pull(api, "llama3.1:8b")
        body = {"model": "llama3.1:8b", "prompt": LONG_PROMPT, "options": {"num_predict": 300}}
        headers, chunks = stream(api, "/api/generate", body)
    assert headers["x-sandbox-rate"] == "169" and headers["x-sandbox-rate-source"] == "published"
    assert headers["x-sandbox-speed"] == "10"
    *tokens, (_, final) = chunks
    assert all(chunk["done"] is False and chunk["model"] == "llama3.1:8b" for _, chunk in tokens)
    assert final["done"] is True and final["done_reason"] == "length"
    text = "".join(chunk["response"] for _, chunk in tokens)
    assert final["eval_count"] == 300 == len(text.split())
    expected = RTX_4090_LLAMA_8B * SPEED
    reported = final["eval_count"] / final["eval_duration"] * NS
    assert 0.75 * expected <= reported <= 1.01 * expected
    # What the client saw agrees with what the server reported.
    first_at, last_at = tokens[0][0], tokens[-1][0]
    after_first = final["eval_count"] - len(tokens[0][1]["response"].split())
    seen = after_first / (last_at - first_at)
    assert 0.7 * reported <= seen <= 1.3 * reported
    parts = ("load_duration", "prompt_eval_duration", "eval_duration")
    assert all(isinstance(final[part], int) for part in (*parts, "total_duration"))
    assert final["total_duration"] >= sum(final[part] for part in parts)
    assert final["prompt_eval_count"] > 0


def test_first_request_loads_the_model_and_a_repeated_prompt_is_cached(box: Box) -> None:
    """mistral:7b is 4.1 GB: loading takes 1 s + 0.1 s/GB x 4.1 = 1.41 s, /10 = 0.141 s."""
    with box.ollama() as api:
        pull(api, "mistral:7b")
        body = {"model": "mistral:7b", "prompt": "Cache me.", "stream": False}
        first = api.post("/api/generate", json={**body, "options": {"num_predict": 20}}).json()
        again = api.post("/api/generate", json={**body, "options": {"num_predict": 20}}).json()
        other = api.post("/api/generate", json={**body, "prompt": "Something else."}).json()
    assert first["load_duration"] >= 0.141 * NS
    assert first["prompt_eval_count"] > 0 and first["prompt_eval_duration"] > 0
    assert again["load_duration"] == 0
    assert "prompt_eval_count" not in again and "prompt_eval_duration" not in again
    assert again["response"] == first["response"] and again["eval_count"] == 20
    assert other["prompt_eval_count"] > 0


def test_num_predict_and_short_quality_answers(box: Box) -> None:
    question = "What is 17 multiplied by 23? Answer with the number only."
    with box.ollama() as api:
        pull(api, "llama3.1:8b")
        body = {"model": "llama3.1:8b", "prompt": LONG_PROMPT + "Part two.", "stream": False}
        short = api.post("/api/generate", json={**body, "options": {"num_predict": 7}}).json()
        chat = {
            "model": "llama3.1:8b",
            "messages": [{"role": "user", "content": question}],
            "stream": False,
            "options": {"num_predict": 500},
        }
        answers = [api.post("/api/chat", json=chat).json() for _ in range(2)]
    assert (short["eval_count"], short["done_reason"]) == (7, "length")
    assert len(short["response"].split()) == 7
    first, second = answers
    assert first["message"]["role"] == "assistant"
    assert first["message"]["content"] == second["message"]["content"]
    assert first["done_reason"] == "stop" and 0 < first["eval_count"] < 20
    assert first["message"]["content"] in ("391", "I am not sure.")


def test_model_too_big_for_vram_fails_like_ollama(box: Box, client_key: asyncssh.SSHKey) -> None:
    """llama3.1:70b needs 43 + 43 x 0.2 = 51.6 GB = 49,210 MiB = 48.1 GiB; one RTX 4090
    has its nvidia-smi memory.total in MiB / 1024 GiB (24,564 MiB = 24.0 GiB)."""
    query = "nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits"
    total_mib = int(ssh_run(box.ssh_port, client_key, query).stdout.split()[0])
    with box.ollama() as api:
        assert pull(api, "llama3.1:70b")[-1] == {"status": "success"}
        body = {"model": "llama3.1:70b", "prompt": "hi"}
        refused = api.post("/api/generate", json=body)
    assert refused.status_code == 500
    assert refused.json() == {
        "error": "model requires more system memory (48.1 GiB) than is available "
        f"({total_mib / 1024:.1f} GiB)"
    }


def test_unknown_model_and_bad_bodies_are_refused(box: Box) -> None:
    with box.ollama() as api:
        answer = api.post("/api/chat", json={"model": "nope:1b", "messages": []})
        assert answer.status_code == 404
        assert answer.json() == {"error": "model 'nope:1b' not found, try pulling it first"}
        assert pull(api, "nope:1b")[-1] == {"error": "pull model manifest: file does not exist"}
        missing = api.post("/api/generate", json={"prompt": "hi"})
        assert (missing.status_code, missing.json()) == (400, {"error": "model is required"})
        broken = api.post("/api/generate", content=b'{"model": ')
        assert broken.status_code == 400 and broken.json()["error"].startswith("invalid JSON")
        body = {"model": "llama3.1:8b", "prompt": "hi", "options": {"num_predict": "ten"}}
        wrong = api.post("/api/generate", json=body)
        assert (wrong.status_code, wrong.json()) == (
            400,
            {"error": "options.num_predict must be an integer, got 'ten'"},
        )


def test_gpu_reads_busy_while_generating_and_idle_after(
    box: Box, client_key: asyncssh.SSHKey
) -> None:
    """A stream held open by the `stream-stalls` fault keeps the GPU busy until it ends."""
    query = (
        "nvidia-smi --query-gpu=utilization.gpu,memory.used,power.draw,temperature.gpu"
        " --format=csv,noheader,nounits"
    )

    def readings() -> list[float]:
        line = ssh_run(box.ssh_port, client_key, query).stdout.splitlines()[0]
        return [float(value) for value in line.split(",")]

    with box.ollama() as api:
        pull(api, "llama3.1:8b")
        queue_faults(str(box.client.base_url), "inference.generate", {"behaviour": "stream-stalls"})
        body = {"model": "llama3.1:8b", "prompt": LONG_PROMPT + "Stall.", "stream": True}
        with api.stream("POST", "/api/generate", json=body) as answer:
            lines = answer.iter_lines()  # kept: a discarded iterator closes the stream
            first = orjson.loads(next(lines))
            assert first["done"] is False
            utilization, memory, power, temperature = readings()
        assert 90 <= utilization <= 98
        assert memory >= 6_000  # llama3.1:8b: 4.9 + 1.5 GB = 6.4 GB = 6,104 MiB
        assert temperature > 60 and power > 100
        idle = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(readings()))
        assert idle[1] >= 6_000  # the model stays loaded, as Ollama keeps it warm
        assert idle[2] < power and idle[3] < temperature


def test_stream_faults_break_stall_and_empty(box: Box) -> None:
    base = str(box.client.base_url)
    with box.ollama() as api:
        pull(api, "llama3.1:8b")
        body = {"model": "llama3.1:8b", "prompt": LONG_PROMPT + "Faults."}
        queue_faults(base, "inference.generate", {"behaviour": "empty-response"})
        _, chunks = stream(api, "/api/generate", body)
        assert [chunk["done"] for _, chunk in chunks] == [True]
        assert chunks[0][1]["eval_count"] == 0
        queue_faults(base, "inference.generate", {"behaviour": "stream-breaks"})
        with pytest.raises(httpx.RemoteProtocolError):
            stream(api, "/api/generate", body)
        queue_faults(base, "inference.generate", {"status": 503})
        assert api.post("/api/generate", json=body).status_code == 503
        _, chunks = stream(api, "/api/generate", {**body, "options": {"num_predict": 5}})
        assert chunks[-1][1]["eval_count"] == 5  # normal service again


def test_concurrent_streams_share_the_gpu_sublinearly(box: Box) -> None:
    """Three streams each decode at 1690 / 3 ** 0.3 = 1216 tok/s while all run, so the
    aggregate (about 3,650 tok/s) is more than one stream's 1690 but less than 3 x 1690."""
    body = {"model": "llama3.1:8b", "options": {"num_predict": 400}, "stream": False}
    with box.ollama() as api:
        pull(api, "llama3.1:8b")
        api.post("/api/generate", json={**body, "prompt": "warm up", "options": {}})

        def one(index: int) -> dict[str, Any]:
            prompt = f"{LONG_PROMPT} Stream {index} {time.monotonic()}."
            return api.post("/api/generate", json={**body, "prompt": prompt}).json()

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(one, range(3)))
        wall = time.monotonic() - started
    single = RTX_4090_LLAMA_8B * SPEED
    rates = [result["eval_count"] / result["eval_duration"] * NS for result in results]
    assert all(rate <= 1.01 * single for rate in rates)
    assert sum(rates) / len(rates) < 0.9 * single
    aggregate = sum(result["eval_count"] for result in results) / wall
    assert 1.3 * single < aggregate < 3 * single
