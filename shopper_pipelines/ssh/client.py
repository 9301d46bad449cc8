"""One small SSH wrapper: run a command, probe the GPU, move files.

Every call opens one connection with the session's key, checks the server's host key
against the one pinned for that instance (the first successful login pins it), does its
work and always closes. Retry policy: none here; a call makes one attempt and raises
SshError, and the callers (readiness polling, idle sampling) retry on their own schedule.

Interrupts: Fabric (invoke) catches KeyboardInterrupt while a remote command runs, sends
it `^C` and keeps waiting, so Ctrl-C would do nothing until the command ended (minutes of
a rented GPU). Each call therefore does its SSH work in a worker thread and the calling
thread waits for it; a KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) lands in
that wait, the connection is closed (the server hangs up the remote command) and the
interrupt propagates at once.
"""

import io
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import paramiko
from fabric import Connection

from shopper_pipelines.errors import ShopperError

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 30.0
POLL_S = 0.2  # how often the waiting thread wakes (a signal wakes it sooner)
HANGUP_WAIT_S = 2.0  # after an interrupt: how long to let the worker see the hang-up
_CUDA_HEADER = re.compile(r"CUDA Version:\s*([0-9]+(?:\.[0-9]+)?)")


class SshError(ShopperError):
    """The SSH step failed: refused, unreachable, timed out or the command failed."""


class HostKeyMismatchError(SshError):
    """The server's host key is not the one pinned for this instance."""


class SshAuthError(SshError):
    """The key was refused or cannot be read: trying again with it will fail again."""


_AUTH_ERRORS = (paramiko.AuthenticationException, paramiko.BadAuthenticationType)


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    private_key: str
    pinned_host_key: str | None = None  # "ssh-ed25519 AAAA..." once pinned

    def __repr__(self) -> str:  # never print the private key
        return f"SshTarget({self.user}@{self.host}:{self.port})"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    host_key: str


@dataclass(frozen=True)
class GpuProbe:
    names: list[str]
    memory_mib: list[int]
    driver: str | None
    cuda_version: float | None
    utilization: list[float]


def _pkey(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshAuthError("the private key is not an OpenSSH ed25519, ECDSA or RSA key")


def _connection(target: SshTarget, timeout_s: float) -> Connection:
    connection = Connection(
        host=target.host,
        user=target.user,
        port=target.port,
        connect_timeout=timeout_s,
        connect_kwargs={
            "pkey": _pkey(target.private_key),
            "look_for_keys": False,
            "allow_agent": False,
            "banner_timeout": timeout_s,
            "auth_timeout": timeout_s,
        },
    )
    # We pin host keys ourselves right after the handshake (see _verify_host_key).
    client = connection.client
    assert client is not None
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    return connection


def _verify_host_key(connection: Connection, target: SshTarget) -> str:
    client = connection.client
    transport = client.get_transport() if client is not None else None
    if transport is None:
        raise SshError(f"{target!r}: no transport after connecting")
    key = transport.get_remote_server_key()
    seen = f"{key.get_name()} {key.get_base64()}"
    if target.pinned_host_key and seen != target.pinned_host_key:
        raise HostKeyMismatchError(
            f"{target!r}: host key changed (pinned {target.pinned_host_key[:40]}..., "
            f"got {seen[:40]}...); refusing to use it"
        )
    return seen


def _interruptible(connection: Connection, target: SshTarget, work: Callable[[], T]) -> T:
    """`work()` in a worker thread; an interrupt of the waiting thread closes `connection`
    and propagates (see the module docstring). Off the main thread, where no signal is
    delivered, `work()` runs in place."""
    if threading.current_thread() is not threading.main_thread():
        return work()
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = work()
        except BaseException as error:  # handed to the waiting thread, raised there
            box["error"] = error

    worker = threading.Thread(target=body, name=f"ssh {target!r}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL_S)
    except BaseException:
        logger.warning("%r: interrupted; closing the connection", target)
        connection.close()
        worker.join(HANGUP_WAIT_S)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_command(
    target: SshTarget, command: str, *, timeout_s: float = COMMAND_TIMEOUT_S
) -> CommandResult:
    """Run one command; a non-zero exit is returned, not raised. Ctrl-C interrupts it."""
    connection = _connection(target, min(timeout_s, CONNECT_TIMEOUT_S))

    def work() -> CommandResult:
        connection.open()
        host_key = _verify_host_key(connection, target)
        result = connection.run(command, hide=True, warn=True, in_stream=False, timeout=timeout_s)
        return CommandResult(result.exited, result.stdout, result.stderr, host_key)

    try:
        return _interruptible(connection, target, work)
    except SshError:
        raise
    except _AUTH_ERRORS as error:
        raise SshAuthError(f"{target!r}: {type(error).__name__}: {error}") from None
    except Exception as error:  # paramiko, socket and invoke (CommandTimedOut) failures alike
        raise SshError(f"{target!r}: {type(error).__name__}: {error}") from None
    finally:
        connection.close()


_QUERY = (
    "nvidia-smi --query-gpu=name,memory.total,utilization.gpu,driver_version"
    " --format=csv,noheader,nounits && nvidia-smi | head -n 5"
)


def probe_gpu(target: SshTarget, *, timeout_s: float = COMMAND_TIMEOUT_S) -> tuple[GpuProbe, str]:
    """What the instance's `nvidia-smi` reports, and the host key seen."""
    result = run_command(target, _QUERY, timeout_s=timeout_s)
    if result.exit_status != 0:
        raise SshError(
            f"{target!r}: nvidia-smi failed ({result.exit_status}): {result.stderr[:200]}"
        )
    names, memory, utilization, driver = [], [], [], None
    for line in result.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        names.append(parts[0])
        memory.append(int(parts[1]))
        utilization.append(float(parts[2]) if parts[2].replace(".", "", 1).isdigit() else 0.0)
        driver = parts[3]
    cuda = _CUDA_HEADER.search(result.stdout)
    probe = GpuProbe(names, memory, driver, float(cuda.group(1)) if cuda else None, utilization)
    return probe, result.host_key


def upload(target: SshTarget, local: Path, remote: str) -> str:
    """Copy a local file to the instance over SFTP; return the host key seen."""
    return _transfer(target, local, remote, upload=True)


def download(target: SshTarget, remote: str, local: Path) -> str:
    return _transfer(target, local, remote, upload=False)


def _transfer(target: SshTarget, local: Path, remote: str, *, upload: bool) -> str:
    connection = _connection(target, CONNECT_TIMEOUT_S)

    def work() -> str:
        connection.open()
        host_key = _verify_host_key(connection, target)
        if upload:
            connection.put(str(local), remote)
        else:  # into a side file, renamed only when complete: a failure loses nothing
            partial = local.with_name(f".{local.name}.part")
            connection.get(remote, str(partial))
            os.replace(partial, local)
        return host_key

    try:
        return _interruptible(connection, target, work)
    except SshError:
        raise
    except _AUTH_ERRORS as error:
        raise SshAuthError(f"{target!r}: {type(error).__name__}: {error}") from None
    except (paramiko.SSHException, OSError, EOFError) as error:
        where = f"{'upload to' if upload else 'download of'} {remote!r}"
        raise SshError(f"{target!r}: {where} failed: {type(error).__name__}: {error}") from None
    finally:
        connection.close()
        if not upload:
            local.with_name(f".{local.name}.part").unlink(missing_ok=True)
