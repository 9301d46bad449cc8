"""`benchmarks list|get|best|cheapest|compare|load`: benchmark results.

Published reference rows are always labelled: a SOURCE (or EVIDENCE) column says
"published" wherever one appears, and analytics prefer our measurements.
"""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, money, number, print_json, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import get_settings

benchmarks_app = typer.Typer(
    help="Measured LLM inference per GPU, and $/M-token advice.", no_args_is_help=True
)

Model = Annotated[str, typer.Option("-m", "--model", help="LLM model, e.g. llama3.1:8b")]
PUBLISHED_MARK = "published (ref)"


def _source(row: dict[str, Any]) -> str:
    return PUBLISHED_MARK if row.get("source") == "published" else str(row.get("source"))


def per_m_text(value: float | None) -> str:
    return money(value, 2)


def tps_text(value: float | None) -> str:
    return number(value, ".1f")


def _result_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            row["result_id"],
            _source(row),
            row["model"],
            row["gpu_model"],
            str(row["gpu_count"] or "-"),
            row["provider"] or "-",
            tps_text(row["tokens_per_second"]),
            number(row["ttft_ms_p50"], ".0f"),
            money(row["price_per_hour"]),
            per_m_text(row["dollars_per_m_tokens"]),
            row["status"] + ("" if row["valid"] else " (invalid)"),
            row["measured_at"].strftime("%Y-%m-%d %H:%M") if row["measured_at"] else "-",
        ]
        for row in rows
    ]


_RESULT_COLUMNS = ["ID", "SOURCE", "MODEL", "GPU", "N", "PROVIDER", "TOK/S", "TTFT MS",
                   "$/HR", "$/M TOK", "STATUS", "MEASURED"]  # fmt: skip


@benchmarks_app.command("list")
def list_command(
    model: Annotated[str | None, typer.Option("-m", "--model", help="Only this model")] = None,
    gpu: Annotated[str | None, typer.Option("-g", "--gpu", help="GPU model, any spelling")] = None,
    source: Annotated[str, typer.Option("--source", help="measured, published or all")] = "all",
    include_invalid: Annotated[
        bool, typer.Option("--all", help="Include invalid (degenerate or failed) results")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show")] = 100,
    output: Output = OutputFormat.table,
) -> None:
    """List benchmark results, ours first; published reference rows are marked."""
    from shopper_pipelines.benchmarks.analytics import list_results

    frame = list_results(
        get_settings().database_path,
        model=model,
        gpu=gpu,
        source=source,
        include_invalid=include_invalid,
        limit=limit,
    )
    rows = frame.to_dicts()
    if output is OutputFormat.json:
        for row in rows:
            row["flags"] = orjson.loads(row["flags"])
        print_json({"results": rows, "count": len(rows)})
        return
    if not rows:
        console.print("No benchmark results match. Try --source all or --all.")
        return
    console.print(table(None, _RESULT_COLUMNS, _result_rows(rows)))
    console.print(f"{len(rows)} results ($/M TOK = $/HR ÷ (TOK/S × 3600) × 1,000,000).")


@benchmarks_app.command("get")
def get_command(
    result_id: Annotated[str, typer.Argument(help="Result id, e.g. bench-3f9a2c71d04e")],
    output: Output = OutputFormat.table,
) -> None:
    """Show one result in full (its raw JSON with -o json)."""
    from shopper_pipelines.benchmarks.analytics import get_result

    row = get_result(get_settings().database_path, result_id)
    if row is None:
        raise InvalidInputError(f"no benchmark result with id {result_id!r}")
    raw = row.pop("raw")
    row["flags"] = orjson.loads(row["flags"])
    if output is OutputFormat.json:
        print_json({"result": {**row, "raw": orjson.loads(raw)}})
        return
    row["source"] = _source(row)
    rows = [[key, "-" if value is None else str(value)] for key, value in row.items()]
    console.print(table(f"Benchmark result {result_id}", ["FIELD", "VALUE"], rows))
    console.print(f"Raw result: {len(raw)} bytes (use -o json to see it).")


def _pick(kind: str, model: str, output: OutputFormat) -> None:
    """best or cheapest: the measured pick, and the published one labelled beside it."""
    from shopper_pipelines.benchmarks import analytics

    db_path = get_settings().database_path
    resolved = analytics.resolve_model(db_path, model)
    choose = analytics.best if kind == "best" else analytics.cheapest
    row = choose(db_path, resolved)
    reference = choose(db_path, resolved, "published")
    if output is OutputFormat.json:
        for pick in (row, reference):  # as `list` and `get` give them: a list, not text
            if pick is not None:
                pick["flags"] = orjson.loads(pick["flags"])
        print_json({"model": resolved, kind: row, "published_reference": reference})
        return
    if row is None:
        console.print(f"No valid benchmark results for {resolved} yet.")
        return
    rows = [row] if row["source"] == "published" or reference is None else [row, reference]
    console.print(table(f"{kind.capitalize()} for {resolved}", _RESULT_COLUMNS, _result_rows(rows)))
    if row["source"] == "published":
        console.print("Published reference figure only: no valid measurement of ours yet.")
    elif reference is not None:
        console.print("First row: our measurement. Second: the published reference figure.")


@benchmarks_app.command("best")
def best_command(model: Model, output: Output = OutputFormat.table) -> None:
    """The fastest result (tokens/s) for a model; measured results win over published."""
    _pick("best", model, output)


@benchmarks_app.command("cheapest")
def cheapest_command(model: Model, output: Output = OutputFormat.table) -> None:
    """The lowest $ per million tokens for a model; measured results win over published."""
    _pick("cheapest", model, output)


@benchmarks_app.command("compare")
def compare_command(model: Model, output: Output = OutputFormat.table) -> None:
    """Every GPU model side by side for a model: medians of tokens/s, TTFT, price, $/M."""
    from shopper_pipelines.benchmarks.analytics import compare, resolve_model

    db_path = get_settings().database_path
    resolved = resolve_model(db_path, model)
    rows = compare(db_path, resolved).to_dicts()
    if output is OutputFormat.json:
        print_json({"model": resolved, "gpus": rows})
        return
    if not rows:
        console.print(f"No valid benchmark results for {resolved} yet.")
        return
    body = [
        [
            row["gpu_model"],
            PUBLISHED_MARK if row["basis"] == "published" else "measured",
            f"{row['n_measured']}/{row['n_published']}",
            tps_text(row["tokens_per_second"]),
            f"{tps_text(row['tps_low'])}-{tps_text(row['tps_high'])}",
            number(row["ttft_ms_p50"], ".0f"),
            money(row["price_per_hour"]),
            per_m_text(row["dollars_per_m_tokens"]),
        ]
        for row in rows
    ]
    columns = ["GPU", "BASIS", "MEAS/PUB", "TOK/S", "RANGE", "TTFT MS", "$/HR", "$/M TOK"]
    console.print(table(f"{resolved} across GPUs", columns, body))


@benchmarks_app.command("load")
def load_command(
    path: Annotated[Path, typer.Argument(help="Folder of benchmark_*.json (searched deeply)")],
    provider: Annotated[str, typer.Option("-p", "--provider", help="vastai, tensordock or other")],
    price: Annotated[float, typer.Option("--price", help="What the instance cost, $/hour")],
    location: Annotated[
        str | None, typer.Option("--location", help="Where it ran, e.g. 'Joplin, MO'")
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Load result files into the warehouse; bad files are skipped and listed.

    Exits 1 when files were found but none could be loaded.
    """
    from shopper_pipelines.benchmarks.store import (
        DUPLICATE,
        REJECTED,
        STORED,
        DirectoryLoad,
        load_directory,
        load_result_file,
    )

    db_path = get_settings().database_path
    if path.is_file():
        outcome = load_result_file(
            db_path, path, provider=provider, price_per_hour=price, location=location
        )
        loaded = DirectoryLoad(str(path.parent), [outcome])
    else:
        loaded = load_directory(
            db_path, path, provider=provider, price_per_hour=price, location=location
        )
    if not loaded.outcomes:
        raise InvalidInputError(f"DIR {path} holds no benchmark_*.json files")
    summary = loaded.as_dict()
    if output is OutputFormat.json:
        print_json(summary)
    else:
        rows = [
            [item.path or "-", item.result_id or "-", item.outcome,
             "-" if item.valid is None else ("yes" if item.valid else "no"),
             item.message or ", ".join(item.flags) or "-"]
            for item in loaded.outcomes
        ]  # fmt: skip
        console.print(table(None, ["FILE", "ID", "OUTCOME", "VALID", "NOTE"], rows))
        console.print(
            f"{loaded.count(STORED)} stored ({loaded.stored_invalid} of them invalid),"
            f" {loaded.count(DUPLICATE)} already there, {loaded.count(REJECTED)} rejected."
        )
    if loaded.count(REJECTED) == len(loaded.outcomes):
        raise typer.Exit(1)
