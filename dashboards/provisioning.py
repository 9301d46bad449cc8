"""Phase two of provisioning in the background, started by the Shop page.

The app must work without Dagster, so after a request the Shop page starts
`provision_session` here and the Sessions page follows it by re-reading the warehouse.
It runs in a child process of the Streamlit server rather than a thread: provisioning
waits minutes on a remote boot, and a process of its own keeps that wait, its SSH
sessions and its warehouse connections apart from the server that renders pages.

The child inherits the server's environment, so it reads the same settings; it gets the
session id only, never the private key. At most one child per session runs from this
server; the compare-and-set claim inside `provision_session` makes a Dagster sensor (or
another app process) racing it harmless.
"""

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

logger = logging.getLogger(__name__)

_children: dict[str, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


def start(session_id: str) -> bool:
    """Provision `session_id` in a child process; False when one is already on it."""
    with _lock:
        for ended in [key for key, child in _children.items() if child.poll() is not None]:
            del _children[ended]
        if session_id in _children:
            return False
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), path]))}
        _children[session_id] = subprocess.Popen(
            [sys.executable, "-m", "dashboards.provisioning", session_id],
            env=env,
            stdin=subprocess.DEVNULL,
        )
    logger.info("session %s: provisioning in the background", session_id)
    return True


def in_progress(session_id: str) -> bool:
    """Whether this server has a provisioning child running for `session_id`."""
    with _lock:
        child = _children.get(session_id)
        return child is not None and child.poll() is None


def wait_all(timeout_s: float) -> bool:
    """Wait for every provisioning child (tests, shutdown); True when none is left running."""
    deadline = time.monotonic() + timeout_s
    with _lock:
        children = list(_children.values())
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


def main(session_id: str) -> int:
    """The child's work: provision one session; 0 when it ends running."""
    from shopper_pipelines.sessions.models import Status
    from shopper_pipelines.sessions.provision import provision_session
    from shopper_pipelines.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    session = provision_session(load_settings(), session_id)
    logger.info("session %s: provisioning ended %s", session_id, session.status.value)
    return 0 if session.status is Status.RUNNING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
