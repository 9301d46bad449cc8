"""What a benchmark run is asked to do, validated once at the edge, and what it may cost.

A plan is models x GPU models on a set of providers, a budget and a duration. Every value
is checked here with a message naming the flag and the value, so the CLI, Dagster's run
config and the Python API refuse the same things the same way.
"""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shopper_pipelines.benchmarks import llm_models
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import lookup, resolve_query, suggestions
from shopper_pipelines.settings import PROVIDERS, parse_duration

RUNTIMES = ("ollama", "openai")
MAX_BUDGET_USD = Decimal(10_000)
MAX_DURATION_S = 3600
MAX_COMBINATIONS = 200
MAX_CONCURRENCY = 64

# Time a rented instance bills beyond the measured duration, for the budget estimate:
# boot and SSH readiness, pulling the model, and upload/download/destroy.
SETUP_ALLOWANCE_S = 300
PULL_ALLOWANCE_S = 300
MARGIN_S = 120


@dataclass(frozen=True)
class BenchmarkPlan:
    models: tuple[str, ...]
    gpus: tuple[str, ...]  # canonical GPU model names
    max_budget: Decimal
    duration_s: int
    providers: tuple[str, ...] = PROVIDERS
    runtime: str = "ollama"
    concurrency: tuple[int, ...] = (1,)

    @classmethod
    def parse(
        cls,
        *,
        models: str | Sequence[str],
        gpus: str | Sequence[str],
        max_budget: str | float | Decimal,
        duration: str | int,
        providers: str | Sequence[str] | None = None,
        runtime: str = "ollama",
        concurrency: str | Sequence[int] = (1,),
    ) -> "BenchmarkPlan":
        """A plan from user input (comma-separated strings or lists); raises
        InvalidInputError naming the flag and the value."""
        return cls(
            models=_models(_items(models, "--models")),
            gpus=_gpus(_items(gpus, "--gpus")),
            max_budget=_budget(max_budget),
            duration_s=_duration(duration),
            providers=_providers(providers),
            runtime=_runtime(runtime),
            concurrency=_concurrency(concurrency),
        )

    def __post_init__(self) -> None:
        combinations = len(self.models) * len(self.gpus)
        if combinations > MAX_COMBINATIONS:
            raise InvalidInputError(
                f"--models x --gpus is {combinations} combinations; at most {MAX_COMBINATIONS}"
            )

    @property
    def combinations(self) -> list[tuple[str, str]]:
        """(gpu, model) in run order: every model on one GPU, then the next GPU."""
        return [(gpu, model) for gpu in self.gpus for model in self.models]

    def to_config(self) -> dict[str, Any]:
        """The JSON stored with the run (and the shape Dagster's run config takes)."""
        return {
            "models": list(self.models),
            "gpus": list(self.gpus),
            "providers": list(self.providers),
            "max_budget": str(self.max_budget),
            "duration_s": self.duration_s,
            "runtime": self.runtime,
            "concurrency": list(self.concurrency),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BenchmarkPlan":
        return cls.parse(
            models=config["models"],
            gpus=config["gpus"],
            max_budget=config["max_budget"],
            duration=int(config["duration_s"]),
            providers=config.get("providers"),
            runtime=config.get("runtime", "ollama"),
            concurrency=config.get("concurrency", (1,)),
        )


def new_run_id() -> str:
    return f"brun-{secrets.token_hex(6)}"


def billed_seconds(duration_s: int) -> int:
    """How long an instance is expected to bill for one measurement of `duration_s`."""
    return SETUP_ALLOWANCE_S + PULL_ALLOWANCE_S + duration_s + MARGIN_S


def estimate_cost(price_per_hour: float | Decimal, duration_s: int) -> Decimal:
    """price x (setup + pull + duration + margin) / 3600, in dollars.

    Example: $0.36/h for a 20 s measurement bills about 300 + 300 + 20 + 120 = 740 s,
    0.36 x 740 / 3600 = $0.074.
    """
    seconds = Decimal(billed_seconds(duration_s))
    return (Decimal(str(price_per_hour)) * seconds / Decimal(3600)).quantize(Decimal("0.000001"))


def _items(value: str | Sequence[Any], flag: str) -> list[str]:
    raw: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    items = []
    for item in raw:
        text = str(item).strip()
        if text and text not in items:
            items.append(text)
    if not items:
        raise InvalidInputError(f"{flag} must name at least one value, got {value!r}")
    return items


def _models(names: list[str]) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in names:
        model = llm_models.require(name, "--models").name
        if model not in chosen:
            chosen.append(model)
    return tuple(chosen)


def _gpus(names: list[str]) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in names:
        model = lookup(name)
        if model is None:
            hint = suggestions(name)
            more = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise InvalidInputError(f"--gpus {name!r} is not a GPU model we know{more}")
        variants = resolve_query(name)
        if len(variants) > 1:  # a family: the results are per exact model, so name one
            raise InvalidInputError(
                f"--gpus {name!r} is a family of models ({', '.join(variants)}); name one"
            )
        if model.name not in chosen:
            chosen.append(model.name)
    return tuple(chosen)


def _budget(value: str | float | Decimal) -> Decimal:
    try:
        budget = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise InvalidInputError(f"--max-budget must be a dollar amount, got {value!r}") from None
    if not budget.is_finite() or budget <= 0:
        raise InvalidInputError(f"--max-budget must be more than $0, got {value!r}")
    if budget > MAX_BUDGET_USD:
        raise InvalidInputError(f"--max-budget is at most ${MAX_BUDGET_USD}, got {value!r}")
    return budget


def _duration(value: str | int) -> int:
    try:
        seconds = parse_duration(str(value))
    except ValueError as error:
        raise InvalidInputError(f"--duration: {error}") from None
    if seconds > MAX_DURATION_S:
        raise InvalidInputError(f"--duration is at most {MAX_DURATION_S}s, got {value!r}")
    return seconds


def _providers(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None or (not isinstance(value, str) and not value):
        return PROVIDERS
    chosen: list[str] = []
    for name in _items(value, "--providers"):
        provider = name.lower()
        if provider not in PROVIDERS:
            raise InvalidInputError(f"--providers takes {', '.join(PROVIDERS)}, got {name!r}")
        if provider not in chosen:
            chosen.append(provider)
    return tuple(chosen)


def _runtime(value: str) -> str:
    runtime = value.strip().lower()
    if runtime not in RUNTIMES:
        raise InvalidInputError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {value!r}")
    return runtime


def _concurrency(value: str | Sequence[int]) -> tuple[int, ...]:
    levels: list[int] = []
    for item in _items(value, "--concurrency"):
        try:
            level = int(item)
        except ValueError:
            level = 0
        if not 1 <= level <= MAX_CONCURRENCY:
            raise InvalidInputError(
                f"--concurrency takes levels 1-{MAX_CONCURRENCY} such as 1,2,4, got {item!r}"
            )
        if level not in levels:
            levels.append(level)
    return tuple(levels)
