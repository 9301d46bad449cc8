"""`inventory`, `inventory get`, `prices`, `ingest` and `import-history`."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from shopper_pipelines.cli.output import console, money, number, print_json, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import get_settings


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class SortBy(StrEnum):
    price = "price"
    vram = "vram"
    reliability = "reliability"


class Bucket(StrEnum):
    hour = "hour"
    day = "day"


Output = Annotated[OutputFormat, typer.Option("-o", "--output", help="table or json")]

inventory_app = typer.Typer(help="Browse current GPU offers across providers.")


@inventory_app.callback(invoke_without_command=True)
def inventory(
    ctx: typer.Context,
    provider: Annotated[
        str | None, typer.Option("-p", "--provider", help="vastai or tensordock")
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option("-g", "--gpu", help="GPU model, any spelling: 'RTX 4090', rtx_4090, A100"),
    ] = None,
    min_vram: Annotated[
        float | None, typer.Option("--min-vram", help="Minimum VRAM per GPU, GB")
    ] = None,
    min_total_vram: Annotated[
        float | None, typer.Option("--min-total-vram", help="Minimum VRAM across all GPUs, GB")
    ] = None,
    max_price: Annotated[
        float | None, typer.Option("--max-price", help="Maximum all-in $/hour")
    ] = None,
    min_gpus: Annotated[int | None, typer.Option("--min-gpus", help="Minimum GPU count")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="2-letter codes, comma-separated: US,CA")
    ] = None,
    min_reliability: Annotated[float | None, typer.Option("--min-reliability", help="0-1")] = None,
    min_cuda: Annotated[
        float | None, typer.Option("--min-cuda", help="Minimum CUDA version, e.g. 12.4")
    ] = None,
    interruptible: Annotated[
        bool,
        typer.Option(
            "--interruptible", help="Only offers with an interruptible price (sorted by it)"
        ),
    ] = False,
    sort: Annotated[SortBy, typer.Option("--sort")] = SortBy.price,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show")] = 50,
    output: Output = OutputFormat.table,
) -> None:
    """List current offers, cheapest first."""
    if ctx.invoked_subcommand is not None:
        return
    from shopper_pipelines.inventory.search import (
        OfferFilters,
        search_offers,
        unknown_gpu_error,
    )

    filters = OfferFilters(
        provider=provider,
        gpu=gpu,
        min_vram=min_vram,
        min_total_vram=min_total_vram,
        max_price=max_price,
        min_gpus=min_gpus,
        country=country,
        min_reliability=min_reliability,
        min_cuda=min_cuda,
        interruptible=interruptible,
        sort=sort.value,
        limit=limit,
    )
    db_path = get_settings().database_path
    result = search_offers(db_path, filters)
    if gpu and result.total == 0 and (unknown := unknown_gpu_error(db_path, gpu)):
        raise unknown
    if output is OutputFormat.json:
        print_json({"offers": result.offers, "total": result.total})
        return
    if not result.offers:
        console.print("No offers match. Widen the filters, or run `gpu-shopper ingest` first.")
        return
    rows = [
        [
            offer["id"],
            offer["gpu_model"],
            str(offer["gpu_count"]),
            f"{offer['vram_gb']:g} GB",
            money(offer["price_per_hour"]),
            money(offer["interruptible_price_per_hour"]),
            offer["country"] or "-",
            offer["location"] or "-",
            number(offer["reliability"], ".3f"),
            number(offer["cuda"]),
        ]
        for offer in result.offers
    ]
    columns = ["ID", "GPU", "N", "VRAM", "$/HR", "INTERRUPT $/HR", "CC", "LOCATION", "REL", "CUDA"]
    console.print(table(None, columns, rows))
    console.print(f"Showing {len(result.offers)} of {result.total} offers.")


@inventory_app.command("get")
def inventory_get(
    offer_id: Annotated[str, typer.Argument(help="Offer id, e.g. vastai:12345")],
    output: Output = OutputFormat.table,
) -> None:
    """Show one current offer in full."""
    from shopper_pipelines.inventory.search import get_offer

    offer = get_offer(get_settings().database_path, offer_id)
    if offer is None:
        raise InvalidInputError(f"no current offer with id {offer_id!r}")
    if output is OutputFormat.json:
        offer["raw"] = orjson.loads(offer["raw"])
        print_json({"offer": offer})
        return
    raw = offer.pop("raw")
    rows = [[key, "-" if value is None else str(value)] for key, value in offer.items()]
    console.print(table(f"Offer {offer['id']}", ["FIELD", "VALUE"], rows))
    console.print(f"Raw record: {len(raw)} bytes (use -o json to see it).")


def prices(
    gpu: Annotated[str, typer.Option("-g", "--gpu", help="GPU model, any spelling")],
    since: Annotated[str, typer.Option("--since", help="Window: 48h, 30d, 12w or all")] = "30d",
    bucket: Annotated[Bucket, typer.Option("--bucket", help="hour or day")] = Bucket.day,
    output: Output = OutputFormat.table,
) -> None:
    """Price history of a GPU model: min and median $/GPU-hour per hour or day."""
    from shopper_pipelines.inventory.search import parse_since, price_history, unknown_gpu_error

    window = parse_since(since)
    db_path = get_settings().database_path
    points = price_history(db_path, gpu, since=window, bucket=bucket.value)
    if not points and (unknown := unknown_gpu_error(db_path, gpu)):
        raise unknown
    if output is OutputFormat.json:
        print_json({"gpu": gpu, "since": since, "bucket": bucket.value, "points": points})
        return
    if not points:
        window_text = "at all" if window is None else f"in the last {since}"
        console.print(
            f"No price history for {gpu!r} {window_text}. Try --since all, "
            "or `gpu-shopper import-history data/market/neocloud_gpu_price_history.csv`."
        )
        return
    fmt = "%Y-%m-%d %H:00" if bucket is Bucket.hour else "%Y-%m-%d"
    rows = [
        [
            point["bucket"].strftime(fmt),
            point["source"],
            point["provider"],
            money(point["min_price"]),
            money(point["median_price"]),
        ]
        for point in points
    ]
    console.print(
        table(f"{gpu}: $/GPU-hour", ["WHEN", "SOURCE", "PROVIDER", "MIN", "MEDIAN"], rows)
    )


def ingest(
    provider: Annotated[
        str | None, typer.Option("-p", "--provider", help="Only this provider")
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Run one ingest now, without Dagster: snapshot every provider and merge the history."""
    from shopper_pipelines.inventory.service import ingest as run_ingest
    from shopper_pipelines.settings import PROVIDERS

    if provider is not None and provider not in PROVIDERS:
        raise InvalidInputError(
            f"--provider must be one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
    outcomes = run_ingest(get_settings(), (provider,) if provider else PROVIDERS)
    records = [
        {
            "provider": o.snapshot.provider,
            "status": o.snapshot.status,
            "source": o.snapshot.source,
            "snapshot_id": o.snapshot.snapshot_id,
            "offers_seen": o.snapshot.offers_seen,
            "offers_stored": o.snapshot.offers_stored,
            "skipped": o.snapshot.skipped or {},
            "appeared": o.merge.appeared if o.merge else 0,
            "changed": o.merge.changed if o.merge else 0,
            "disappeared": o.merge.disappeared if o.merge else 0,
            "current": o.merge.current if o.merge else None,
            "duration_s": round(o.snapshot.duration_s, 3),
            "error": o.snapshot.error,
        }
        for o in outcomes
    ]
    if output is OutputFormat.json:
        print_json({"snapshots": records})
    else:
        rows = [
            [
                r["provider"],
                r["status"],
                r["source"],
                str(r["offers_stored"]),
                str(sum(r["skipped"].values())),
                f"+{r['appeared']} ~{r['changed']} -{r['disappeared']}",
                f"{r['duration_s']:.2f}s",
                r["error"] or "",
            ]
            for r in records
        ]
        columns = ["PROVIDER", "STATUS", "SOURCE", "STORED", "SKIPPED", "CHANGES", "TIME", "ERROR"]
        console.print(table("Ingest", columns, rows))
    if any(record["status"] == "failed" for record in records):
        raise typer.Exit(1)


def import_history_command(
    file: Annotated[
        Path,
        typer.Argument(help="A price-history CSV, e.g. data/market/neocloud_gpu_price_history.csv"),
    ],
) -> None:
    """Load real public price history so charts have a past from the first run."""
    from shopper_pipelines.inventory.history_import import import_history

    result = import_history(get_settings().database_path, file)
    span = (
        f"{result.first:%Y-%m-%d} to {result.last:%Y-%m-%d}"
        if result.first and result.last
        else "no dated rows"
    )
    console.print(
        f"Imported {result.points_loaded} price points ({result.kind}, {span}) from "
        f"{result.rows_read} rows; {result.rows_skipped} rows skipped {result.skip_reasons or ''}"
    )
