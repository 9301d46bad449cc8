"""Run the sandbox over real HTTP, on loopback only: `serve` (blocking) and `running_sandbox`."""

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from shopper_pipelines.sandbox.app import DEFAULT_TICK_SECONDS, close_app, create_app
from shopper_pipelines.sandbox.instances import DEFAULT_BOOT_SECONDS

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
LOOPBACK_NAMES = frozenset({"localhost"})
STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.01
HEALTH_PATH = "/_sandbox/health"


def check_loopback(host: str) -> None:
    """Refuse any bind address that is not loopback: the sandbox is never exposed."""
    if host in LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"sandbox host must be a loopback address such as 127.0.0.1, got {host!r}")


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    seed: int = 0,
    faults: list[str] | None = None,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
    boot_seconds: float = DEFAULT_BOOT_SECONDS,
    inference_speed: float | None = None,
) -> None:
    """Serve the sandbox until interrupted (blocking)."""
    check_loopback(host)
    app = create_app(seed, tick_seconds=tick_seconds, faults=faults, boot_seconds=boot_seconds,
                     inference_speed=inference_speed)  # fmt: skip
    logger.info("sandbox marketplace on http://%s:%d (seed %d)", host, port, seed)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")
    finally:
        close_app(app)


@contextlib.contextmanager
def running_sandbox(seed: int = 0, **create_app_kwargs: Any) -> Iterator[str]:
    """Start the sandbox on 127.0.0.1 at an ephemeral port; yield its base URL.

    The server runs in a daemon thread and is stopped when the block exits, together
    with every instance SSH server.
    """
    app = create_app(seed, **create_app_kwargs)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((DEFAULT_HOST, 0))
    port = listener.getsockname()[1]
    base_url = f"http://{DEFAULT_HOST}:{port}"
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    try:
        _wait_until_healthy(base_url, server, thread)
        logger.debug("sandbox ready at %s", base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S)
        listener.close()
        close_app(app)


def _wait_until_healthy(base_url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError(f"sandbox server at {base_url} stopped during start-up")
            if server.started:
                with contextlib.suppress(httpx.TransportError):
                    if client.get(HEALTH_PATH).status_code == httpx.codes.OK:
                        return
            time.sleep(POLL_INTERVAL_S)
    server.should_exit = True
    raise RuntimeError(
        f"sandbox at {base_url} did not answer {HEALTH_PATH} in {STARTUP_TIMEOUT_S}s"
    )
