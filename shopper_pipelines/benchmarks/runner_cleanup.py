"""What a benchmark attempt's session cost, and what the run says about a session whose
destroy was not confirmed: it may still be billing, so every message names the session,
its instance and the command that retries the destroy."""

from datetime import UTC, datetime
from decimal import Decimal

from shopper_pipelines.sessions.models import Status
from shopper_pipelines.sessions.store import require_session
from shopper_pipelines.settings import Settings

RETRY_COMMAND = "gpu-shopper sessions done {session_id}"


def session_cost(settings: Settings, session_id: str) -> Decimal:
    """price x (destroyed - created): what the provider bills for the session so far (to
    now for a session not confirmed destroyed: it is still billing)."""
    session = require_session(settings.database_path, session_id)
    if session.instance_id is None and session.status is Status.TERMINATED:
        return Decimal(0)  # nothing was ever created
    end = session.terminated_at or datetime.now(UTC)
    seconds = Decimal(str(max((end - session.created_at).total_seconds(), 0.0)))
    price = Decimal(str(session.price_per_hour))
    return (price * seconds / Decimal(3600)).quantize(Decimal("0.000001"))


def unconfirmed_note(settings: Settings, session_id: str, gone: str) -> str:
    """The item error for a session not confirmed destroyed; `gone` is what the destroy said."""
    session = require_session(settings.database_path, session_id)
    instance = f"instance {session.instance_id or '(unknown)'} on {session.provider}"
    retry = RETRY_COMMAND.format(session_id=session_id)
    return (
        f"session {session_id} ({instance}) is {session.status.value}, not confirmed "
        f"destroyed, and may still be billing ({gone}); retry the destroy with `{retry}`"
    )


def alive_note(unconfirmed: dict[str, str]) -> str | None:
    """The run's error about its sessions not confirmed destroyed (None when there is none)."""
    if not unconfirmed:
        return None
    commands = "; ".join(RETRY_COMMAND.format(session_id=sid) for sid in unconfirmed)
    return (f"{len(unconfirmed)} session(s) not confirmed destroyed, possibly still billing: "
            f"{', '.join(unconfirmed)}; retry with: {commands}")  # fmt: skip
