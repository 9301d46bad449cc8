"""The SSH layer against a real OpenSSH server on 127.0.0.1 (not our sandbox's asyncssh)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from shopper_pipelines.ssh.client import (
    HostKeyMismatchError,
    SshAuthError,
    SshError,
    SshTarget,
    download,
    run_command,
    upload,
)
from shopper_pipelines.ssh.keys import fingerprint, generate_key_pair

SSHD = Path("/usr/sbin/sshd")


def _require_sshd() -> None:
    if SSHD.exists() and shutil.which("ssh-keygen"):
        return
    message = "OpenSSH server not installed (.ci/run installs openssh-server)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def openssh(tmp_path_factory):
    _require_sshd()
    if os.geteuid() != 0:
        pytest.skip("the OpenSSH test starts sshd, which needs root here")
    folder = tmp_path_factory.mktemp("sshd")
    host_key = folder / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    keys = generate_key_pair("openssh-test")
    (folder / "authorized_keys").write_text(keys.public_openssh + "\n")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {folder}/sshd.pid\n"
        f"AuthorizedKeysFile {folder}/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    public_host_key = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
    target = SshTarget("127.0.0.1", port, "root", keys.private_openssh)
    try:
        yield target, public_host_key, folder
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_run_command_on_openssh_reports_exit_status_and_host_key(openssh):
    target, host_key, _ = openssh
    result = run_command(target, "echo hello; echo oops >&2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "hello\n", "oops\n")
    assert result.host_key == host_key


def test_pinned_host_key_is_enforced(openssh):
    target, host_key, _ = openssh
    pinned = SshTarget(target.host, target.port, target.user, target.private_key, host_key)
    assert run_command(pinned, "true").exit_status == 0
    impostor = " ".join(generate_key_pair("x").public_openssh.split()[:2])
    wrong = SshTarget(target.host, target.port, target.user, target.private_key, impostor)
    with pytest.raises(HostKeyMismatchError, match="host key changed"):
        run_command(wrong, "true")


def test_sftp_upload_and_download_round_trip(openssh, tmp_path):
    target, _, folder = openssh
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(200_000))
    remote = str(folder / "uploaded.bin")
    upload(target, source, remote)
    back = tmp_path / "back.bin"
    download(target, remote, back)
    assert back.read_bytes() == source.read_bytes()


def test_unknown_key_is_refused(openssh):
    target, _, _ = openssh
    stranger = SshTarget(
        target.host, target.port, target.user, generate_key_pair("x").private_openssh
    )
    with pytest.raises(SshAuthError, match="Authentication"):
        run_command(stranger, "true")
    with pytest.raises(SshAuthError, match="Authentication"):
        upload(stranger, Path(__file__), "refused.txt")


def test_an_unreadable_key_is_an_auth_error_and_a_closed_port_is_not(openssh):
    """The benchmark runner aborts on SshAuthError (retrying the same key cannot help) and
    retries other SSH errors: the two must be told apart by type, not by message text."""
    target, _, _ = openssh
    garbage = SshTarget(target.host, target.port, target.user, "not a key")
    with pytest.raises(SshAuthError, match="private key is not"):
        run_command(garbage, "true")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    unreachable = SshTarget("127.0.0.1", closed, target.user, target.private_key)
    with pytest.raises(SshError) as refused:
        run_command(unreachable, "true", timeout_s=5)
    assert not isinstance(refused.value, SshAuthError)


def _ctrl_c_in(seconds: float) -> threading.Timer:
    """A real SIGINT to this process (Python raises KeyboardInterrupt in the main thread)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_interrupts_a_running_remote_command_at_once(openssh):
    """Bug: Fabric (invoke) caught KeyboardInterrupt, sent the remote command ^C and kept
    waiting, so Ctrl-C during `bench.py` changed nothing until it ended (minutes of a
    rented GPU). A real SIGINT now ends `run_command` at once."""
    target, _, _ = openssh
    started = time.monotonic()
    timer = _ctrl_c_in(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_command(target, "sleep 30", timeout_s=60)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 3
    assert run_command(target, "echo still usable").stdout == "still usable\n"


def test_ctrl_c_interrupts_a_download_that_hangs(openssh, tmp_path):
    """The SFTP calls wait the same way: a download the server never answers (a FIFO
    nobody writes blocks the server's open) ends on a real SIGINT, leaving no file."""
    target, _, folder = openssh
    fifo = folder / "never-written.fifo"
    os.mkfifo(fifo)
    local = tmp_path / "result.json"
    started = time.monotonic()
    timer = _ctrl_c_in(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            download(target, str(fifo), local)
    finally:
        timer.cancel()
        with contextlib.suppress(OSError):  # lets the server's blocked open return
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert time.monotonic() - started < 3
    assert list(tmp_path.iterdir()) == []


def test_fingerprint_matches_ssh_keygen(tmp_path):
    _require_sshd()
    keys = generate_key_pair("fp")
    public = tmp_path / "k.pub"
    public.write_text(keys.public_openssh + "\n")
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True, check=True
    ).stdout
    assert fingerprint(keys.public_openssh) in listed
