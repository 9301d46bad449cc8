"""`provision`, `sessions ...` and `shutdown`: renting and ending sessions."""

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, errors, money, print_json, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import get_settings

sessions_app = typer.Typer(help="List, inspect, extend and end GPU sessions.", no_args_is_help=True)

STATUSES = ("pending", "provisioning", "running", "stopping", "terminated", "failed")
WORKLOADS = ("llm", "llm_vllm", "llm_tgi", "training", "batch", "interactive")


def _write_key(path: Path, private_key: str) -> None:
    """Write the private key 0600; never overwrite an existing file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInputError(f"--save-key {path} already exists; choose a new path") from None
    except OSError as error:
        raise InvalidInputError(f"--save-key {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(private_key)


def _check_key_path(path: Path | None) -> None:
    if path is None:
        return
    if path.exists() or path.is_symlink():  # a dangling link counts: we never follow one
        raise InvalidInputError(f"--save-key {path} already exists; choose a new path")
    if not path.parent.is_dir():
        raise InvalidInputError(f"--save-key {path} is in a folder that does not exist")


def _abandon(settings: Any, session_id: str, why: str) -> Any:
    """End a session whose requester went away, whatever phase it reached."""
    import signal

    from shopper_pipelines.sessions.destroy import stop_session

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not
    try:  # cut the verified destroy short
        return stop_session(settings, session_id, f"provisioning abandoned: {why}")
    finally:
        signal.signal(signal.SIGINT, previous)


def _session_rows(view: dict[str, Any], key_path: Path | None = None) -> list[list[str]]:
    keys = ("id", "consumer_id", "provider", "gpu_model", "gpu_count", "status",
            "status_reason", "workload", "price_per_hour", "instance_id", "created_at",
            "expires_at", "hard_max_at", "idle_timeout_min")  # fmt: skip
    rows = [[key, "-" if view.get(key) is None else str(view[key])] for key in keys]
    command = view.get("ssh_command")
    if command and key_path is not None:
        command = command.replace("<key>", str(key_path))
    rows.append(["ssh", command or "(not ready)"])
    return rows


def provision(
    consumer: Annotated[str, typer.Option("-c", "--consumer", help="Who the session is for")],
    offer: Annotated[str | None, typer.Option("-i", "--offer", help="Offer id to rent")] = None,
    gpu: Annotated[
        str | None, typer.Option("-g", "--gpu", help="Rent the cheapest offer of this GPU")
    ] = None,
    workload: Annotated[
        str, typer.Option("-w", "--workload", help="|".join(WORKLOADS))
    ] = "interactive",
    hours: Annotated[int, typer.Option("-t", "--hours", help="Reservation, 1-12 hours")] = 1,
    idle_timeout: Annotated[
        int | None, typer.Option("--idle-timeout", help="Minutes of GPU idleness before stopping")
    ] = None,
    storage: Annotated[str, typer.Option("--storage", help="destroy or preserve")] = "destroy",
    save_key: Annotated[
        Path | None, typer.Option("--save-key", help="Write the private key here (0600)")
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Rent an offer and wait until SSH works; the private key is shown or saved once."""
    from shopper_pipelines.sessions.models import SessionRequest, StoragePolicy, Workload
    from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session

    if workload not in WORKLOADS:
        raise InvalidInputError(
            f"--workload must be one of {', '.join(WORKLOADS)}, got {workload!r}"
        )
    if storage not in ("destroy", "preserve"):
        raise InvalidInputError(f"--storage must be destroy or preserve, got {storage!r}")
    _check_key_path(save_key)
    settings = get_settings()
    request = SessionRequest(
        consumer, Workload(workload), hours, idle_timeout, StoragePolicy(storage)
    )
    chosen = pick_offer(settings, offer_id=offer, gpu=gpu)
    if gpu:
        price = money(chosen["price_per_hour"])
        errors.print(f"Auto-selected offer {chosen['id']} ({chosen['gpu_model']}, {price}/hr)")
    requested = request_session(settings, request, chosen)
    session_id = requested.session.session_id
    try:
        if save_key:
            _write_key(save_key, requested.private_key)
        session = provision_session(
            settings, session_id, progress=lambda m: errors.print(f"  {m}", highlight=False)
        )
    except (InvalidInputError, KeyboardInterrupt) as stopped:
        # Nobody will hold this session's key (or wait for it): end it now, verified,
        # rather than leave a pending row for the sensor or an instance billing.
        why = "interrupted" if isinstance(stopped, KeyboardInterrupt) else str(stopped)
        errors.print(f"Provisioning of {session_id} stopped ({why}); destroying what it made...")
        ended = _abandon(settings, session_id, why)
        errors.print(f"Session {session_id} is {ended.status.value}: {ended.status_reason}")
        if isinstance(stopped, KeyboardInterrupt):
            raise typer.Exit(130) from None
        raise
    view = session.public_view()
    if output is OutputFormat.json:
        payload: dict[str, Any] = {"session": view}
        if not save_key:
            payload["private_key"] = requested.private_key
        print_json(payload)
    else:
        console.print(
            table(
                f"Session {session.session_id}", ["FIELD", "VALUE"], _session_rows(view, save_key)
            )
        )
        if save_key:
            console.print(
                f"Private key saved to {save_key} (0600). It is not stored anywhere else."
            )
        else:
            console.print("SSH private key (save it now; it is shown only once):")
            sys.stdout.write(requested.private_key)
    if session.status.value != "running":
        raise typer.Exit(1)


@sessions_app.command("list")
def sessions_list(
    consumer: Annotated[str | None, typer.Option("-c", "--consumer")] = None,
    status: Annotated[str | None, typer.Option("-s", "--status", help="|".join(STATUSES))] = None,
    output: Output = OutputFormat.table,
) -> None:
    """List sessions, newest first."""
    from shopper_pipelines.sessions.models import Status
    from shopper_pipelines.sessions.store import list_sessions

    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    found = list_sessions(
        get_settings().database_path,
        consumer_id=consumer,
        statuses=frozenset({Status(status)}) if status else None,
    )
    if output is OutputFormat.json:
        print_json({"sessions": [s.public_view() for s in found], "total": len(found)})
        return
    rows = [[s.session_id, s.consumer_id, s.provider, s.gpu_model, s.status.value,
             money(s.price_per_hour), f"{s.expires_at:%Y-%m-%d %H:%M}"] for s in found]  # fmt: skip
    console.print(
        table(None, ["ID", "CONSUMER", "PROVIDER", "GPU", "STATUS", "PRICE/HR", "EXPIRES"], rows)
    )
    console.print(f"Total: {len(found)} sessions")


@sessions_app.command("get")
def sessions_get(session_id: str, output: Output = OutputFormat.table) -> None:
    """One session in full, with its SSH command and event history."""
    from shopper_pipelines.sessions.store import events, require_session

    db = get_settings().database_path
    session = require_session(db, session_id)
    history = events(db, session_id)
    if output is OutputFormat.json:
        print_json({**session.public_view(), "events": history})
        return
    console.print(
        table(f"Session {session_id}", ["FIELD", "VALUE"], _session_rows(session.public_view()))
    )
    rows = [[f"{e['occurred_at']:%H:%M:%S}", e["kind"], _arrow(e), e["reason"]] for e in history]
    console.print(table("Events", ["AT", "KIND", "STATUS", "REASON"], rows))


def _arrow(event: dict[str, Any]) -> str:
    if event["to_status"] is None:
        return ""
    return f"{event['from_status'] or ''} -> {event['to_status']}"


def _finish(session_id: str, force: bool, output: OutputFormat) -> None:
    from shopper_pipelines.sessions import lifecycle

    settings = get_settings()
    session = (
        lifecycle.delete(settings, session_id) if force else lifecycle.done(settings, session_id)
    )
    if output is OutputFormat.json:
        print_json({"session": session.public_view()})
    else:
        verb = (
            "destroyed" if session.status.value == "terminated" else f"left {session.status.value}"
        )
        console.print(f"Session {session_id} {verb}: {session.status_reason}")
    if session.status.value != "terminated":
        raise typer.Exit(1)


@sessions_app.command("done")
def sessions_done(session_id: str, output: Output = OutputFormat.table) -> None:
    """Signal completion: destroy the instance and confirm it is gone."""
    _finish(session_id, False, output)


@sessions_app.command("delete")
def sessions_delete(session_id: str, output: Output = OutputFormat.table) -> None:
    """Force-destroy a session's instance now."""
    _finish(session_id, True, output)


@sessions_app.command("extend")
def sessions_extend(
    session_id: str,
    hours: Annotated[int, typer.Option("-t", "--hours", help="Additional hours, 1-12")] = 1,
    override_hard_max: Annotated[
        bool,
        typer.Option(
            "--override-hard-max", help="Allow past the hard maximum (HARD_MAX_HOURS, default 12 h)"
        ),
    ] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Extend the reservation (never past the hard maximum unless overridden)."""
    from shopper_pipelines.sessions.lifecycle import extend

    session = extend(get_settings(), session_id, hours, override_hard_max=override_hard_max)
    if output is OutputFormat.json:
        print_json({"session": session.public_view()})
    else:
        console.print(f"Session {session_id} extended by {hours} hours.")
        console.print(f"New expiration: {session.expires_at:%Y-%m-%d %H:%M:%S} UTC")


@sessions_app.command("rekey")
def sessions_rekey(
    session_id: str,
    save_key: Annotated[Path, typer.Option("--save-key", help="Write the new private key here")],
) -> None:
    """Add a new key pair to a running session (for a lost private key; the old key
    stays valid until the instance is destroyed)."""
    from shopper_pipelines.sessions.lifecycle import rekey

    _check_key_path(save_key)
    session, private_key = rekey(get_settings(), session_id)
    _write_key(save_key, private_key)
    console.print(f"New key for {session_id} saved to {save_key}. {session.ssh_command or ''}")


def shutdown(
    session_id: str,
    force: Annotated[bool, typer.Option("-f", "--force", help="Destroy now")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Shut a session down (same as `sessions done`, or `sessions delete` with --force)."""
    _finish(session_id, force, output)
