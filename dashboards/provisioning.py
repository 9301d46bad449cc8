"""Phase two of provisioning in a background thread of the Streamlit server process.

The app must work without Dagster, so after a request the Shop page starts
`provision_session` here, in a daemon thread, and the Sessions page follows the progress
by re-reading the warehouse. At most one thread per session runs in this process; the
compare-and-set claim inside `provision_session` makes a Dagster sensor (or a second app
process) racing it harmless. The thread gets the session id only, never the private key.
"""

import logging
import threading

from shopper_pipelines.sessions.provision import provision_session
from shopper_pipelines.settings import Settings

logger = logging.getLogger(__name__)

_threads: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def _provision(settings: Settings, session_id: str) -> None:
    try:
        session = provision_session(settings, session_id)
    except Exception:
        # The lifecycle sensor stops a session stuck provisioning; log and leave it.
        logger.exception("session %s: background provisioning failed", session_id)
    else:
        logger.info("session %s: background provisioning ended %s", session_id, session.status)


def start(settings: Settings, session_id: str) -> bool:
    """Provision `session_id` in a daemon thread; False when one is already on it."""
    with _lock:
        for done in [key for key, thread in _threads.items() if not thread.is_alive()]:
            del _threads[done]
        if session_id in _threads:
            return False
        thread = threading.Thread(
            target=_provision,
            args=(settings, session_id),
            name=f"provision-{session_id}",
            daemon=True,
        )
        _threads[session_id] = thread
        thread.start()
    return True


def in_progress(session_id: str) -> bool:
    """Whether this process has a provisioning thread running for `session_id`."""
    with _lock:
        thread = _threads.get(session_id)
        return thread is not None and thread.is_alive()


def wait(session_id: str, timeout_s: float) -> bool:
    """Join the session's thread (tests and shutdown); True when none is left running."""
    with _lock:
        thread = _threads.get(session_id)
    if thread is not None:
        thread.join(timeout_s)
    return not in_progress(session_id)
