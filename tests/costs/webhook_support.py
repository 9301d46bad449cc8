"""A real HTTP server on 127.0.0.1 that records webhook POSTs and answers from a script."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hook:
    url: str
    statuses: list[int]  # answers to give, in order; then 200
    received: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@contextmanager
def webhook_server(statuses: list[int] | None = None) -> Iterator[Hook]:
    hook = Hook("", list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.received.append(json.loads(body))
            hook.paths.append(self.path)
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token-123"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
