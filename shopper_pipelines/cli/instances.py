"""`transfer upload|download` and `cleanup-orphans`: working with instances directly."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shopper_pipelines.cli.output import console, errors, money, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import PROVIDERS, get_settings

transfer_app = typer.Typer(help="Copy files to and from a session over SFTP.", no_args_is_help=True)


def _split(spec: str) -> tuple[str, str]:
    session_id, sep, remote = spec.partition(":")
    if not sep or not session_id or not remote:
        raise InvalidInputError(f"expected SESSION:PATH, got {spec!r}")
    return session_id, remote


def _target(session_id: str, key: Path):
    from shopper_pipelines.sessions.models import Status
    from shopper_pipelines.sessions.store import require_session
    from shopper_pipelines.ssh.client import SshTarget

    session = require_session(get_settings().database_path, session_id)
    host, port, user = session.ssh_host, session.ssh_port, session.ssh_user
    if session.status is not Status.RUNNING or not (host and port and user):
        raise InvalidInputError(f"session {session_id} is {session.status.value}, not running")
    if not key.is_file():
        raise InvalidInputError(f"-k/--key {key} is not a file")
    return SshTarget(host, port, user, key.read_text(), session.host_key)


KeyOption = Annotated[Path, typer.Option("-k", "--key", help="The session's private key file")]


@transfer_app.command("upload")
def transfer_upload(local: Path, destination: str, key: KeyOption) -> None:
    """Upload LOCAL to SESSION:PATH."""
    from shopper_pipelines.ssh.client import upload

    if not local.is_file():
        raise InvalidInputError(f"LOCAL {local} is not a file")
    session_id, remote = _split(destination)
    upload(_target(session_id, key), local, remote)
    console.print(f"Uploaded {local} to {destination}")


@transfer_app.command("download")
def transfer_download(
    source: str,
    local: Path,
    key: KeyOption,
    force: Annotated[bool, typer.Option("--force", help="Replace LOCAL if it exists")] = False,
) -> None:
    """Download SESSION:PATH to LOCAL (never over an existing file without --force)."""
    from shopper_pipelines.ssh.client import download

    if local.exists() and not force:
        raise InvalidInputError(f"LOCAL {local} already exists; pass --force to replace it")
    session_id, remote = _split(source)
    download(_target(session_id, key), remote, local)
    console.print(f"Downloaded {source} to {local}")


def _live_instance_ids(settings: Any) -> set[tuple[str, str]]:
    """Instances of live sessions, when the warehouse can be read; else none (warned)."""
    from shopper_pipelines.errors import ShopperError
    from shopper_pipelines.sessions.models import LIVE
    from shopper_pipelines.sessions.store import list_sessions

    try:
        live = list_sessions(settings.database_path, statuses=LIVE)
    except ShopperError as error:
        errors.print(f"warning: cannot read sessions ({error}); every shopper instance is listed")
        return set()
    return {(s.provider, s.instance_id) for s in live if s.instance_id}


def cleanup_orphans(
    execute: Annotated[bool, typer.Option("--execute", help="Destroy (default: dry run)")] = False,
    force: Annotated[bool, typer.Option("--force", help="Skip the confirmation prompt")] = False,
    provider: Annotated[
        str | None,
        typer.Option("-p", "--provider", help="Only this provider: vastai or tensordock"),
    ] = None,
    all_deployments: Annotated[
        bool, typer.Option("--all-deployments", help="Include other deployments' instances")
    ] = False,
) -> None:
    """Find GPU Shopper instances straight from the providers; works without the warehouse."""
    from shopper_pipelines.sessions.deployment import deployment_id, instance_provider
    from shopper_pipelines.sessions.destroy import destroy_verified
    from shopper_pipelines.sessions.models import parse_label

    if provider is not None and provider not in PROVIDERS:
        raise InvalidInputError(
            f"--provider must be one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
    settings = get_settings()
    mine = deployment_id(settings)
    names = [e.name for e in settings.provider_endpoints() if provider in (None, e.name)]
    owned = _live_instance_ids(settings)
    console.print("Scanning for orphan instances...")
    found = []
    for name in names:
        client = instance_provider(settings, name)
        try:
            instances = client.list_instances()
        finally:
            client.close()
        ours = [
            i
            for i in instances
            if (p := parse_label(i.label))
            and (all_deployments or p[0] == mine)
            and (i.provider, i.instance_id) not in owned
        ]
        console.print(f"Checking {name}... found {len(ours)} shopper-managed instances")
        found.extend(ours)
    rows = [[i.provider, i.instance_id, i.label or "", i.status, money(i.price_per_hour),
             f"{i.created_at:%Y-%m-%d %H:%M}" if i.created_at else "-"] for i in found]  # fmt: skip
    console.print(
        table(None, ["PROVIDER", "INSTANCE ID", "NAME", "STATUS", "PRICE/HR", "STARTED"], rows)
    )
    hourly = sum(i.price_per_hour or 0 for i in found)
    console.print(f"Total: {len(found)} instances, ${hourly:.3f}/hr combined cost")
    if not execute:
        console.print(
            "This was a dry-run. To destroy these instances: gpu-shopper cleanup-orphans --execute"
        )
        return
    if found and not force:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                "refusing to destroy without a terminal to confirm; add --force"
            )
        if input(f"Destroy {len(found)} instance(s)? Type 'yes' to confirm: ").strip() != "yes":
            console.print("Aborted; nothing destroyed.")
            return
    destroyed = failed = 0
    for instance in found:
        client = instance_provider(settings, instance.provider)
        try:
            outcome = destroy_verified(
                client,
                instance.instance_id,
                attempts=settings.destroy_attempts,
                backoff_s=settings.destroy_backoff_s,
            )
        finally:
            client.close()
        destroyed, failed = destroyed + outcome.confirmed, failed + (not outcome.confirmed)
        verdict = "OK" if outcome.confirmed else f"NOT CONFIRMED: {outcome.detail}"
        console.print(f"  Destroying {instance.provider}/{instance.instance_id}... {verdict}")
    console.print(f"Cleanup complete: {destroyed} destroyed, {failed} failed")
    if failed:
        raise typer.Exit(1)
