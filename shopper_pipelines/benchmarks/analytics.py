"""Reading benchmark results: list, get, best, cheapest and compare for a model.

Every entry point loads the published reference rows first (cheap once loaded), leaves
invalid results out unless asked, and marks each row's `source`. Where a GPU model has
measured results, its figures come from them alone; published rows only stand in for a
GPU we have not measured, and say so (`basis = 'published'`).
"""

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from shopper_pipelines.benchmarks import llm_models
from shopper_pipelines.benchmarks.reference import ensure_published
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import resolve_query
from shopper_pipelines.warehouse import connect

SOURCES = ("measured", "published", "all")
SECONDS_PER_HOUR = 3600
TOKENS_PER_MILLION = 1_000_000

LIST_COLUMNS = ("result_id", "source", "gpu_model", "gpu_count", "model", "runtime",
                "provider", "location", "price_per_hour::DOUBLE AS price_per_hour",
                "tokens_per_second", "ttft_ms_p50", "ttft_ms_p95", "quality_match_rate",
                "status", "valid", "flags", "measured_at", "run_id")  # fmt: skip


def dollars_per_million_tokens(
    price_per_hour: float | Decimal | None, tokens_per_second: float | None
) -> float | None:
    """What a million output tokens cost at this hourly price and decode rate.

    $/M = price per hour ÷ (tokens/s × 3600) × 1,000,000. Worked example: 44 tok/s at
    $0.44/h makes 44 × 3600 = 158,400 tokens an hour, so a million tokens take
    1,000,000 ÷ 158,400 = 6.313 hours, at $0.44 each: $2.78 (not $0.003, which is the
    price per thousand tokens per second). None when the rate or the price is missing, or
    the rate is not above zero: an unmeasured rate has no cost, not an infinite one.
    """
    if price_per_hour is None or tokens_per_second is None:
        return None
    price = float(price_per_hour)
    if not (math.isfinite(price) and math.isfinite(tokens_per_second)):
        return None
    if tokens_per_second <= 0 or price < 0:
        return None
    return price / (tokens_per_second * SECONDS_PER_HOUR) * TOKENS_PER_MILLION


def resolve_model(db_path: Path, model: str, field: str = "--model") -> str:
    """The stored spelling of `model`: a catalogue model or one with stored results."""
    name = (model or "").strip().lower()
    if llm_models.lookup(name) is not None:
        return name
    stored = stored_models(db_path)
    if name and name in stored:
        return name
    known = ", ".join(sorted(set(llm_models.LLM_MODELS) | set(stored)))
    raise InvalidInputError(f"{field} {model!r} is not a model we know; known: {known}")


def stored_models(db_path: Path) -> list[str]:
    ensure_published(db_path)
    with connect(db_path, read_only=True) as con:
        rows = con.execute("SELECT DISTINCT model FROM benchmark_results ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def _check_source(source: str) -> str:
    value = (source or "").strip().lower()
    if value not in SOURCES:
        raise InvalidInputError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    return value


def _with_cost(frame: pl.DataFrame, price: str = "price_per_hour") -> pl.DataFrame:
    costs = [
        dollars_per_million_tokens(row[price], row["tokens_per_second"])
        for row in frame.select(price, "tokens_per_second").iter_rows(named=True)
    ]
    return frame.with_columns(pl.Series("dollars_per_m_tokens", costs, dtype=pl.Float64))


def list_results(
    db_path: Path,
    *,
    model: str | None = None,
    gpu: str | None = None,
    source: str = "all",
    include_invalid: bool = False,
    limit: int | None = None,
) -> pl.DataFrame:
    """Results newest first (published last), each with its $/M tokens and source."""
    chosen = _check_source(source)
    if gpu is not None and not gpu.strip():
        raise InvalidInputError("--gpu must not be empty")
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit must be 1 or more, got {limit}")
    resolved = resolve_model(db_path, model) if model is not None else None
    clauses, params = ["TRUE"], []
    if resolved:
        clauses.append("model = ?")
        params.append(resolved)
    if gpu:
        clauses.append("list_contains(?, gpu_model)")
        params.append(resolve_query(gpu))
    if chosen != "all":
        clauses.append("source = ?")
        params.append(chosen)
    if not include_invalid:
        clauses.append("valid")
    ensure_published(db_path)
    with connect(db_path, read_only=True) as con:
        frame = con.sql(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM benchmark_results"
            f" WHERE {' AND '.join(clauses)}"
            " ORDER BY source = 'published', measured_at DESC NULLS LAST, model, gpu_model,"
            f" result_id {'' if limit is None else f'LIMIT {int(limit)}'}",
            params=params,
        ).pl()
    return _with_cost(frame)


def get_result(db_path: Path, result_id: str) -> dict[str, Any] | None:
    """Every column of one result (raw JSON as text), with its $/M tokens."""
    ensure_published(db_path)
    with connect(db_path, read_only=True) as con:
        frame = con.sql(
            "SELECT * REPLACE (price_per_hour::DOUBLE AS price_per_hour)"
            " FROM benchmark_results WHERE result_id = ?",
            params=[result_id.strip()],
        ).pl()
    if frame.is_empty():
        return None
    return _with_cost(frame).to_dicts()[0]


PICK_SOURCES = ("preferred", "measured", "published")


def _candidates(db_path: Path, model: str, source: str) -> pl.DataFrame:
    """Valid rows of `source`; 'preferred' means measured rows if any, else published."""
    if source not in PICK_SOURCES:
        raise InvalidInputError(
            f"--source must be one of {', '.join(PICK_SOURCES)}, got {source!r}"
        )
    if source != "preferred":
        return list_results(db_path, model=model, source=source)
    frame = list_results(db_path, model=model)
    measured = frame.filter(pl.col("source") == "measured")
    return measured if not measured.is_empty() else frame


def best(db_path: Path, model: str, source: str = "preferred") -> dict[str, Any] | None:
    """The valid result with the highest tokens/s (measured ones win by default)."""
    rows = _candidates(db_path, model, source)
    rows = rows.filter(pl.col("tokens_per_second").is_not_null())
    if rows.is_empty():
        return None
    return rows.sort("tokens_per_second", descending=True).row(0, named=True)


def cheapest(db_path: Path, model: str, source: str = "preferred") -> dict[str, Any] | None:
    """The valid result with the lowest $/M tokens (measured ones win by default)."""
    rows = _candidates(db_path, model, source)
    rows = rows.filter(pl.col("dollars_per_m_tokens").is_not_null())
    if rows.is_empty():
        return None
    return rows.sort("dollars_per_m_tokens", "tokens_per_second", descending=[False, True]).row(
        0, named=True
    )


def compare(db_path: Path, model: str) -> pl.DataFrame:
    """One row per GPU model for `model`, fastest first.

    `basis` says where the figures come from: 'measured' when that GPU has measured
    results (published ones are then only counted), else 'published'. Figures are
    medians over the basis rows; the TPS range spans runs (measured) or the published
    low/high. $/M tokens is the median price over the median tokens/s.
    """
    resolved = resolve_model(db_path, model)
    ensure_published(db_path)
    with connect(db_path, read_only=True) as con:
        frame = con.sql(
            """
            WITH r AS (SELECT * FROM benchmark_results WHERE model = ? AND valid),
            g AS (
                SELECT gpu_model,
                    count(*) FILTER (WHERE source = 'measured') AS n_measured,
                    count(*) FILTER (WHERE source = 'published') AS n_published
                FROM r GROUP BY gpu_model
            )
            SELECT r.gpu_model,
                any_value(CASE WHEN g.n_measured > 0 THEN 'measured' ELSE 'published' END)
                    AS basis,
                any_value(g.n_measured) AS n_measured,
                any_value(g.n_published) AS n_published,
                median(r.tokens_per_second) AS tokens_per_second,
                min(CASE WHEN r.source = 'published' THEN r.tps_min
                    ELSE r.tokens_per_second END) AS tps_low,
                max(CASE WHEN r.source = 'published' THEN r.tps_max
                    ELSE r.tokens_per_second END) AS tps_high,
                median(r.ttft_ms_p50) AS ttft_ms_p50,
                median(r.price_per_hour)::DOUBLE AS price_per_hour,
                avg(r.quality_match_rate) AS quality_match_rate,
                max(r.vram_gb) AS vram_gb,
                list(DISTINCT r.provider ORDER BY r.provider) AS providers
            FROM r JOIN g USING (gpu_model)
            WHERE r.source = CASE WHEN g.n_measured > 0 THEN 'measured' ELSE 'published' END
            GROUP BY r.gpu_model
            ORDER BY tokens_per_second DESC NULLS LAST, r.gpu_model
            """,
            params=[resolved],
        ).pl()
    return _with_cost(frame)
