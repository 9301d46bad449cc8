"""Real SSH servers for sandbox instances: asyncssh on 127.0.0.1, one port per instance.

Every server runs on one event loop in a background thread (`SshHub`). A server accepts
public-key auth only, for keys its instance has authorised; exec requests run under
`/bin/sh -c` in the instance folder with a small environment (HOME, PATH with the
`nvidia-smi` stand-in first); SFTP is chrooted to that folder. Commands run as the user
who runs the sandbox: the folder is a convenience, not a security boundary.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncssh

logger = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
CHUNK = 65_536
STOP_TIMEOUT_S = 2.0
SIGNAL_EXIT_BASE = 128

# (username, public key blob) -> may this key log in as this user now?
KeyCheck = Callable[[str, bytes], bool]
_STDIN_INTERRUPTS = (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged)


class _Server(asyncssh.SSHServer):
    """Per-connection callbacks: key-only auth against the instance's key check."""

    def __init__(self, box: "InstanceSsh") -> None:
        self._box = box
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._box.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._box.connections.discard(self._conn)
            self._box.kill_children(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self._box.allows(username, key.public_data)
        logger.debug("sandbox ssh %d: key for %s %s", self._box.port, username, allowed)
        return allowed


class InstanceSsh:
    """One instance's SSH server: its listener, open connections and running commands."""

    def __init__(
        self, host_key: asyncssh.SSHKey, allows: KeyCheck, home: Path, env: dict[str, str]
    ) -> None:
        self.host_key = host_key
        self.allows = allows
        self.home = home
        self.env = env
        self.port = 0
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._children: dict[object, set[asyncio.subprocess.Process]] = {}
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self) -> int:
        """Listen on 127.0.0.1 at an ephemeral port; returns the port."""
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            BIND_HOST,
            0,
            server_host_keys=[self.host_key],
            process_factory=self._handle,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=bytes(self.home)),
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_host=None,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Close the port, drop every connection and kill every command still running."""
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self.connections):
            self.kill_children(conn)
            conn.abort()
        for conn in list(self._children):
            self.kill_children(conn)
        if self._acceptor is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acceptor.wait_closed(), STOP_TIMEOUT_S)

    def kill_children(self, conn: object) -> None:
        for child in self._children.pop(conn, set()):
            _kill(child)

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one exec (or shell) request and pass its output and exit status through."""
        username = str(process.get_extra_info("username"))
        argv = ("/bin/sh", "-c", process.command) if process.command else ("/bin/sh",)
        env = {**self.env, "USER": username, "LOGNAME": username}
        try:
            child = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.home,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            process.stderr.write(f"sandbox: cannot start the shell: {error}\n".encode())
            process.exit(127)
            return
        conn = process.channel.get_connection()
        self._children.setdefault(conn, set()).add(child)
        feeder = asyncio.create_task(_feed(process.stdin, child))
        status = 255
        try:
            assert child.stdout is not None and child.stderr is not None
            await asyncio.gather(
                _pump(child.stdout, process.stdout), _pump(child.stderr, process.stderr)
            )
            status = await child.wait()
        except (OSError, asyncssh.Error) as error:
            logger.debug("sandbox ssh %d: command ended early: %s", self.port, error)
        finally:
            feeder.cancel()
            _kill(child)
            self._children.get(conn, set()).discard(child)
        with contextlib.suppress(OSError, asyncssh.Error):
            process.exit(status if status >= 0 else SIGNAL_EXIT_BASE - status)


async def _pump(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
    while chunk := await source.read(CHUNK):
        sink.write(chunk)
        await sink.drain()


async def _feed(source: asyncssh.SSHReader[bytes], child: asyncio.subprocess.Process) -> None:
    sink = child.stdin
    if sink is None:
        return
    try:
        while True:
            try:
                data = await source.read(CHUNK)
            except _STDIN_INTERRUPTS:
                continue
            if not data:
                break
            sink.write(data)
            await sink.drain()
    except (OSError, asyncssh.Error):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            sink.close()


def _kill(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)


class SshHub:
    """The background event loop every instance server runs on; started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="sandbox-ssh", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                logger.debug("sandbox ssh loop started")
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run `coro` on the hub's loop; the future resolves with its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def schedule(self, delay: float, start: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run `start()` on the hub's loop after `delay` seconds."""
        loop = self._ensure_loop()

        def fire() -> None:
            task = loop.create_task(start())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon_threadsafe(loop.call_later, delay, fire)

    def close(self) -> None:
        """Cancel what is still running, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()
        logger.debug("sandbox ssh loop stopped")


async def _cancel_others() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
