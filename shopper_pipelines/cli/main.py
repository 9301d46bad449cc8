"""The `gpu-shopper` command.

Fast paths (inventory, prices) import neither Dagster nor Streamlit: each command
imports what it needs inside its body.
"""

import logging
import sys
from typing import Annotated

import typer

from shopper_pipelines.cli import benchmark_offers as benchmark_offer_commands
from shopper_pipelines.cli import benchmark_runs as benchmark_run_commands
from shopper_pipelines.cli import benchmarks as benchmark_commands
from shopper_pipelines.cli import costs as cost_commands
from shopper_pipelines.cli import instances as instance_commands
from shopper_pipelines.cli import inventory as inventory_commands
from shopper_pipelines.cli import reports as report_commands
from shopper_pipelines.cli import sessions as session_commands
from shopper_pipelines.cli.output import errors
from shopper_pipelines.errors import InvalidInputError, ShopperError
from shopper_pipelines.settings import get_settings

app = typer.Typer(
    name="gpu-shopper",
    help="Shop for GPUs across marketplaces, rent with one command, never leave one running.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(inventory_commands.inventory_app, name="inventory")
app.command("prices")(inventory_commands.prices)
app.command("ingest")(inventory_commands.ingest)
app.command("import-history")(inventory_commands.import_history_command)
app.command("provision")(session_commands.provision)
app.add_typer(session_commands.sessions_app, name="sessions")
app.command("shutdown")(session_commands.shutdown)
app.add_typer(instance_commands.transfer_app, name="transfer")
app.command("cleanup-orphans")(instance_commands.cleanup_orphans)
app.add_typer(cost_commands.costs_app, name="costs")
app.add_typer(cost_commands.budgets_app, name="budgets")
app.add_typer(report_commands.report_app, name="report")
app.add_typer(benchmark_commands.benchmarks_app, name="benchmarks")
benchmark_commands.benchmarks_app.command("recommend")(benchmark_offer_commands.recommend_command)
benchmark_commands.benchmarks_app.command("offers")(benchmark_offer_commands.offers_command)
benchmark_commands.benchmarks_app.command("run")(benchmark_run_commands.run)
benchmark_commands.benchmarks_app.command("status")(benchmark_run_commands.status)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8787,
    seed: Annotated[int, typer.Option("--seed", help="Market seed: same seed, same market")] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option("--fault", help="Queue faults, e.g. vastai.offers=429,503 (repeatable)"),
    ] = None,
    tick_seconds: Annotated[float, typer.Option("--tick-seconds", help="Market churn step")] = 60.0,
    boot_seconds: Annotated[
        float, typer.Option("--boot-seconds", help="How long a new instance takes to boot")
    ] = 3.0,
    inference_speed: Annotated[
        float | None,
        typer.Option(
            "--inference-speed",
            help="Stream LLM tokens this many times faster than the published rates",
        ),
    ] = None,
) -> None:
    """Run the built-in sandbox marketplace (Vast.ai and TensorDock wire formats)."""
    from shopper_pipelines.sandbox.server import serve

    if not 1 <= port <= 65535:
        raise InvalidInputError(f"--port must be 1-65535, got {port}")
    if not 0 <= boot_seconds <= 3600:
        raise InvalidInputError(f"--boot-seconds must be 0-3600, got {boot_seconds}")
    if inference_speed is not None and not 0.1 <= inference_speed <= 1000:
        raise InvalidInputError(f"--inference-speed must be 0.1-1000, got {inference_speed}")
    try:
        serve(port=port, seed=seed, faults=fault or [], tick_seconds=tick_seconds,
              boot_seconds=boot_seconds, inference_speed=inference_speed)  # fmt: skip
    except ValueError as error:  # a bad --fault item, named by the sandbox
        raise InvalidInputError(f"--fault: {error}") from None


@app.command()
def up(
    no_browser_hint: Annotated[bool, typer.Option("--quiet", help="Print less")] = False,
) -> None:
    """Set up and run everything: sandbox (without keys), first ingest, Dagster, the app."""
    from shopper_pipelines.cli.up import run_workspace

    raise typer.Exit(run_workspace(get_settings(), quiet=no_browser_hint))


def _configure_logging() -> None:
    try:
        level = get_settings().log_level
    except ShopperError:
        level = "INFO"
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # one INFO line per SSH connection


def main() -> None:
    _configure_logging()
    try:
        app()
    except InvalidInputError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(2)
    except ShopperError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
