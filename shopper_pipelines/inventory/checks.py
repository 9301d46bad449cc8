"""Data checks on the current inventory, shared by Dagster's asset checks and tests."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shopper_pipelines.inventory.gpu_models import lookup
from shopper_pipelines.settings import Settings
from shopper_pipelines.warehouse import connect

FRESHNESS_INTERVALS = 3  # a provider is stale after missing this many scheduled snapshots


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any]


def prices_positive(settings: Settings) -> CheckOutcome:
    with connect(settings.database_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE price_per_hour <= 0), count(*) FROM offers_current"
        ).fetchone()
    bad, total = (int(row[0]), int(row[1])) if row else (0, 0)
    return CheckOutcome(bad == 0, f"{bad} of {total} offers priced at or below zero", {"bad": bad})


def unique_keys(settings: Settings) -> CheckOutcome:
    with connect(settings.database_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*) - count(DISTINCT offer_key), count(*) FROM offers_current"
        ).fetchone()
    duplicates = int(row[0]) if row else 0
    return CheckOutcome(duplicates == 0, f"{duplicates} duplicate offer keys", {"dup": duplicates})


def vram_within_bounds(settings: Settings) -> CheckOutcome:
    """Every offer of a known model reports one of that model's real VRAM sizes."""
    with connect(settings.database_path, read_only=True) as con:
        pairs = con.execute(
            "SELECT gpu_model, vram_gb, count(*) FROM offers_current GROUP BY ALL"
        ).fetchall()
    wrong, unknown = [], []
    for model_name, vram, count in pairs:
        model = lookup(model_name)
        if model is None:
            unknown.append(f"{model_name} ({count})")
        elif vram not in model.vram_gb:
            wrong.append(f"{model_name} {vram:g} GB ({count})")
    return CheckOutcome(
        not wrong,
        f"{len(wrong)} model/VRAM pairs outside the catalogue's sizes",
        {"outside_bounds": ", ".join(wrong) or "none", "unknown_models": ", ".join(unknown)},
    )


def freshness(settings: Settings, now: datetime | None = None) -> CheckOutcome:
    """Each configured provider has a successful snapshot within a few intervals."""
    limit_s = FRESHNESS_INTERVALS * settings.inventory_interval_s
    now = now or datetime.now(UTC)
    with connect(settings.database_path, read_only=True) as con:
        latest = dict(
            con.execute(
                "SELECT provider, max(finished_at) FROM offer_snapshots"
                " WHERE status = 'ok' GROUP BY provider"
            ).fetchall()
        )
    ages = {}
    for endpoint in settings.provider_endpoints():
        finished = latest.get(endpoint.name)
        ages[endpoint.name] = (now - finished).total_seconds() if finished else None
    stale = [name for name, age in ages.items() if age is None or age > limit_s]
    return CheckOutcome(
        not stale,
        f"stale providers: {', '.join(stale)}" if stale else "every provider is fresh",
        {f"{name}_age_s": round(age, 1) if age is not None else -1 for name, age in ages.items()}
        | {"limit_s": limit_s},
    )
