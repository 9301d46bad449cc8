"""A tiny Ollama- and OpenAI-compatible server on 127.0.0.1 for the benchmark script's tests.

It streams scripted answers over HTTP/1.1 chunked transfer, as the real servers do, with
known counts and durations, so a test can check the script's numbers against what was
streamed. Quality prompts get their expected answer when their id is in `correct`.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmark_scripts.prompts import prompt_for_text

OOM_MESSAGE = "model requires more system memory (10.2 GiB) than is available (4.1 GiB)"


@dataclass
class Script:
    """What the stand-in streams; tests change it before or during a run."""

    models: list[str] = field(default_factory=lambda: ["llama3.1:8b"])
    correct: set[str] = field(default_factory=set)  # quality prompt ids answered right
    chunks: int = 5
    first_delay_s: float = 0.02
    chunk_delay_s: float = 0.01
    eval_count: int = 40
    eval_duration_ns: int = 500_000_000
    prompt_eval_count: int = 26
    fault: str | None = None  # "oom" (load and chat), "oom_chat", "pull_error"
    bodies: list[dict] = field(default_factory=list)  # every POST body, in order
    paths: list[str] = field(default_factory=list)
    seen_prompts: set[str] = field(default_factory=set)


def answer_for(script: Script, text: str) -> str:
    prompt = prompt_for_text(text)
    if prompt is None:
        return "an unknown prompt"
    if prompt["expect"]:
        return prompt["expect"][0] if prompt["id"] in script.correct else "I am not sure."
    return "word " * 60


def _pieces(answer: str, count: int) -> list[str]:
    size = max(1, -(-len(answer) // count))
    return [answer[i : i + size] for i in range(0, len(answer), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script  # set on the subclass each server gets

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def _send_json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        script = self.script
        script.paths.append(self.path)
        if self.path == "/api/version":
            self._send_json(200, {"version": "0.5.7"})
        elif self.path == "/api/tags":
            models = [{"name": m, "model": m, "size": 4_920_753_328} for m in script.models]
            self._send_json(200, {"models": models})
        elif self.path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "vllm"} for m in script.models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        script = self.script
        script.paths.append(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        script.bodies.append(body)
        if self.path == "/api/pull":
            self._pull(body)
        elif script.fault == "oom" or (script.fault == "oom_chat" and "messages" in body):
            self._send_json(500, {"error": OOM_MESSAGE})
        elif self.path == "/api/generate" and "prompt" not in body:  # load the model
            self._send_json(200, {"model": body["model"], "done": True, "done_reason": "load"})
        elif self.path == "/api/chat":
            self._ollama_chat(body)
        elif self.path == "/v1/chat/completions":
            self._openai_chat(body)
        else:
            self._send_json(404, {"error": "not found"})

    def _pull(self, body: dict) -> None:
        self._start_stream("application/x-ndjson")
        self._chunk(json.dumps({"status": "pulling manifest"}) + "\n")
        if self.script.fault == "pull_error":
            self._chunk(json.dumps({"error": "pull model manifest: file does not exist"}) + "\n")
        else:
            part = {"status": "pulling 8eeb52dfb3bb", "digest": "sha256:8eeb", "total": 100}
            for done in (0, 50, 100):
                self._chunk(json.dumps({**part, "completed": done}) + "\n")
            self._chunk(json.dumps({"status": "success"}) + "\n")
            self.script.models.append(body["model"])
        self._end_stream()

    def _ollama_chat(self, body: dict) -> None:
        script = self.script
        text = body["messages"][-1]["content"]
        time.sleep(script.first_delay_s)
        self._start_stream("application/x-ndjson")
        for piece in _pieces(answer_for(script, text), script.chunks):
            message = {"role": "assistant", "content": piece}
            self._chunk(json.dumps({"model": body["model"], "message": message, "done": False}))
            self._chunk("\n")  # a line split across two HTTP chunks, as proxies do
            time.sleep(script.chunk_delay_s)
        final: dict = {
            "model": body["model"],
            "message": {"role": "assistant", "content": ""},
            "done_reason": "length",
            "done": True,
            "total_duration": 600_000_000,
            "load_duration": 1_000_000,
            "eval_count": script.eval_count,
            "eval_duration": script.eval_duration_ns,
        }
        if text not in script.seen_prompts:  # a repeated prompt is served from the cache
            final["prompt_eval_count"] = script.prompt_eval_count
            final["prompt_eval_duration"] = 20_000_000
        script.seen_prompts.add(text)
        self._chunk(json.dumps(final) + "\n")
        self._end_stream()

    def _openai_chat(self, body: dict) -> None:
        script = self.script
        time.sleep(script.first_delay_s)
        self._start_stream("text/event-stream")
        base = {"id": "chatcmpl-7", "object": "chat.completion.chunk", "model": body["model"]}
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        self._chunk(f"data: {json.dumps({**base, 'choices': [role]})}\n\n")
        for piece in _pieces(answer_for(script, body["messages"][-1]["content"]), script.chunks):
            choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            self._chunk(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n")
            time.sleep(script.chunk_delay_s)
        finish = {"index": 0, "delta": {}, "finish_reason": "length"}
        self._chunk(f"data: {json.dumps({**base, 'choices': [finish]})}\n\n")
        if body.get("stream_options", {}).get("include_usage"):
            usage = {"prompt_tokens": 26, "completion_tokens": script.eval_count}
            self._chunk(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n")
        self._chunk("data: [DONE]\n\n")
        self._end_stream()


@contextmanager
def running_standin(script: Script) -> Iterator[str]:
    """Serve `script` on 127.0.0.1 (a free port); yields the base URL."""
    handler = type("Handler", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
