"""`benchmarks recommend|offers`: GPU types and live offers ranked by $ per M tokens.

Evidence is always shown: each estimate says whether it rests on our measurements or on
the published reference figures (labelled as such), and how many results stand behind it.
"""

from typing import Annotated, Any

import typer

from shopper_pipelines.cli.benchmarks import Model, per_m_text, tps_text
from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, money, print_json, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import get_settings


def _offer_rows(offers: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            offer["id"],
            offer["gpu_model"],
            str(offer["gpu_count"]),
            f"{offer['total_vram_gb']:g} GB",
            money(offer["price_per_hour"]),
            tps_text(offer["est_tokens_per_second"]),
            per_m_text(offer["est_dollars_per_m_tokens"]),
            offer["evidence"],
            offer["country"] or "-",
        ]
        for offer in offers
    ]


_OFFER_COLUMNS = ["OFFER", "GPU", "N", "VRAM", "$/HR", "EST TOK/S", "EST $/M", "EVIDENCE", "CC"]


def _print_ranking(ranking: Any) -> None:
    offers = ranking.offers.to_dicts()
    title = f"Live offers for {ranking.model} by estimated $/M tokens"
    if not offers:
        console.print("No current offer can hold this model. Run `gpu-shopper ingest` first?")
    else:
        console.print(table(title, _OFFER_COLUMNS, _offer_rows(offers)))
    need = f"{ranking.vram_needed_gb:g} GB" if ranking.vram_needed_gb else "unknown"
    console.print(
        f"{ranking.matched} offers fit (VRAM need {need}); {ranking.with_evidence} have"
        f" benchmark evidence; {ranking.excluded_for_vram} left out for too little VRAM."
    )


def recommend_command(
    model: Model,
    max_price: Annotated[
        float | None, typer.Option("--max-price", help="Most $/hour per GPU you will pay")
    ] = None,
    vram: Annotated[float | None, typer.Option("--vram", help="VRAM you need per GPU, GB")] = None,
    offers: Annotated[
        int, typer.Option("--offers", help="Live offers to show after the ranking (0: none)")
    ] = 10,
    output: Output = OutputFormat.table,
) -> None:
    """GPU types ranked by $/M tokens with the evidence behind each, then live offers."""
    from shopper_pipelines.benchmarks.advice import rank_offers_for_model, recommend
    from shopper_pipelines.benchmarks.analytics import resolve_model

    if not 0 <= offers <= 1000:
        raise InvalidInputError(f"--offers must be 0-1000, got {offers}")
    db_path = get_settings().database_path
    model_name = resolve_model(db_path, model)
    frame = recommend(db_path, model_name, max_price_per_hour=max_price, min_vram_gb=vram)
    ranking = rank_offers_for_model(db_path, model_name, limit=offers) if offers else None
    if output is OutputFormat.json:
        print_json({
            "model": model_name,
            "recommendations": frame.to_dicts(),
            "offers": ranking.as_dict() if ranking else None,
        })  # fmt: skip
        return
    if frame.is_empty():
        console.print(f"No GPU type with benchmark evidence fits {model_name} and the limits.")
    else:
        body = [
            [str(row["rank"]), row["gpu_model"], row["evidence"],
             tps_text(row["tokens_per_second"]), money(row["price_per_hour"]), row["price_basis"],
             per_m_text(row["dollars_per_m_tokens"]), row["reason"]]
            for row in frame.to_dicts()
        ]  # fmt: skip
        columns = ["#", "GPU", "EVIDENCE", "TOK/S", "$/GPU-HR", "PRICE FROM", "$/M TOK", "WHY"]
        console.print(table(f"Recommended GPUs for {model_name}", columns, body))
    if ranking is not None:
        _print_ranking(ranking)


def offers_command(
    model: Model,
    provider: Annotated[
        str | None, typer.Option("-p", "--provider", help="vastai or tensordock")
    ] = None,
    gpu: Annotated[str | None, typer.Option("-g", "--gpu", help="GPU model, any spelling")] = None,
    max_price: Annotated[
        float | None, typer.Option("--max-price", help="Maximum all-in $/hour")
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="2-letter codes, comma-separated")
    ] = None,
    min_reliability: Annotated[float | None, typer.Option("--min-reliability", help="0-1")] = None,
    interruptible: Annotated[
        bool, typer.Option("--interruptible", help="Rank by the interruptible price")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show")] = 20,
    output: Output = OutputFormat.table,
) -> None:
    """Current offers ranked by estimated $/M tokens for a model, with the evidence."""
    from shopper_pipelines.benchmarks.advice import rank_offers_for_model
    from shopper_pipelines.inventory.search import OfferFilters

    filters = OfferFilters(
        provider=provider,
        gpu=gpu,
        max_price=max_price,
        country=country,
        min_reliability=min_reliability,
        interruptible=interruptible,
    )
    ranking = rank_offers_for_model(get_settings().database_path, model, filters, limit=limit)
    if output is OutputFormat.json:
        print_json(ranking.as_dict())
        return
    _print_ranking(ranking)
