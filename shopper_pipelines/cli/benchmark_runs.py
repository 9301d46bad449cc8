"""`benchmarks run|status`: automated benchmark runs over sessions.

`run` works in the foreground and prints each step; Ctrl-C (or SIGTERM) destroys the
session in flight, marks the run interrupted and exits 130, so nothing keeps billing. A
session whose destroy could not be confirmed is printed as a WARNING naming the session,
its instance and the command that retries the destroy, and the run exits non-zero.
"""

from typing import Annotated, Any

import typer

from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, errors, money, print_json, table
from shopper_pipelines.settings import get_settings

EXIT_INTERRUPTED = 130


def run(
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated Ollama tags: llama3.1:8b,mistral:7b")
    ],
    gpus: Annotated[str, typer.Option("--gpus", help='Comma-separated: "RTX 3090,RTX 4090"')],
    max_budget: Annotated[
        str, typer.Option("--max-budget", help="Stop before spending more than this, USD")
    ],
    duration: Annotated[
        str, typer.Option("--duration", help="Measured phase per model: 20s, 5m")
    ] = "5m",
    providers: Annotated[
        str | None, typer.Option("--providers", help="vastai,tensordock (default: both)")
    ] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="ollama or openai")] = "ollama",
    concurrency: Annotated[
        str, typer.Option("--concurrency", help="Levels to sweep, e.g. 1,2,4")
    ] = "1",
    output: Output = OutputFormat.table,
) -> None:
    """Rent each GPU, measure each model, store the results, destroy every instance."""
    from shopper_pipelines.benchmarks.runner import execute_run, start_run
    from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan
    from shopper_pipelines.benchmarks.runner_store import require_run

    plan = BenchmarkPlan.parse(models=models, gpus=gpus, max_budget=max_budget,
                               duration=duration, providers=providers, runtime=runtime,
                               concurrency=concurrency)  # fmt: skip
    settings = get_settings()
    run_id = start_run(settings, plan)
    errors.print(
        f"Benchmark run {run_id}: {len(plan.combinations)} combinations,"
        f" budget ${plan.max_budget}", highlight=False,
    )  # fmt: skip
    try:
        outcome = execute_run(
            settings,
            run_id,
            progress=lambda line: errors.print(f"  {line}", highlight=False, markup=False),
        )
    except KeyboardInterrupt:
        if not _warn_alive(settings, run_id):
            errors.print(f"Run {run_id} interrupted; its sessions were destroyed.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finished = require_run(settings.database_path, run_id)
    if output is OutputFormat.json:
        print_json(_payload(settings, finished))
    else:
        _print_run(settings, finished)
    if _warn_alive(settings, run_id) or outcome.items_done == 0:
        raise typer.Exit(1)


def _warn_alive(settings: Any, run_id: str) -> bool:
    """Print a WARNING per session of the run not confirmed destroyed; whether any was."""
    from shopper_pipelines.benchmarks.runner_store import items

    alive = [i for i in items(settings.database_path, run_id)
             if i["error_type"] == "destroy_unconfirmed"]  # fmt: skip
    for item in alive:
        errors.print(f"WARNING: run {run_id}: {item['error']}", highlight=False, markup=False)
    return bool(alive)


def status(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest run)")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """A benchmark run's status, spend and items (the latest run when none is named)."""
    from shopper_pipelines.benchmarks.runner_store import latest_run, require_run
    from shopper_pipelines.errors import InvalidInputError

    settings = get_settings()
    if run_id is None:
        found = latest_run(settings.database_path)
        if found is None:
            raise InvalidInputError("no benchmark run yet; start one with `benchmarks run`")
    else:
        found = require_run(settings.database_path, run_id)
    if output is OutputFormat.json:
        print_json(_payload(settings, found))
    else:
        _print_run(settings, found)


def _payload(settings: Any, run: dict[str, Any]) -> dict[str, Any]:
    from shopper_pipelines.benchmarks.runner_store import items, public_item, public_run

    listed = items(settings.database_path, run["run_id"])
    return {"run": public_run(run), "items": [public_item(item) for item in listed]}


def _print_run(settings: Any, run: dict[str, Any]) -> None:
    from shopper_pipelines.benchmarks.runner_store import items

    config = run["config"]
    spent = float(run["spent_usd"] or 0)
    estimated = run["estimated_usd"]
    rows = [
        ["status", run["status"]],
        ["models", ", ".join(config["models"])],
        ["gpus", ", ".join(config["gpus"])],
        ["providers", ", ".join(config["providers"])],
        ["duration", f"{config['duration_s']}s ({config['runtime']})"],
        ["budget", f"{money(spent, 4)} spent of ${config['max_budget']}"
                   f" (estimated {money(float(estimated) if estimated is not None else None, 4)})"],
        ["items", f"{run['items_done']} ok, {run['items_failed']} failed"
                  f" of {run['items_total']}"],
        ["created", f"{run['created_at']:%Y-%m-%d %H:%M:%S}"],
        ["finished", f"{run['finished_at']:%Y-%m-%d %H:%M:%S}" if run["finished_at"] else "-"],
        ["progress", run["progress"] or "-"],
    ]  # fmt: skip
    if run["error"]:
        rows.append(["error", run["error"]])
    console.print(table(f"Benchmark run {run['run_id']}", ["FIELD", "VALUE"], rows))
    item_rows = [
        [item["gpu_model"], item["model"], str(item["attempt"]), item["status"],
         item["provider"] or "-",
         money(float(item["price_per_hour"])) if item["price_per_hour"] is not None else "-",
         money(float(item["cost_usd"]), 4) if item["cost_usd"] is not None else "-",
         item["result_id"] or item["error"] or "-"]
        for item in items(settings.database_path, run["run_id"])
    ]  # fmt: skip
    columns = ["GPU", "MODEL", "TRY", "STATUS", "PROVIDER", "PRICE/HR", "COST", "RESULT / ERROR"]
    console.print(table("Items", columns, item_rows))
