"""A benchmark run's plan: validated at the edge with errors naming the flag and value."""

from decimal import Decimal

import pytest

from shopper_pipelines.benchmarks.runner_offers import fits
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan, billed_seconds, estimate_cost
from shopper_pipelines.errors import InvalidInputError


def _plan(**overrides):
    values = {"models": "llama3.1:8b,mistral:7b", "gpus": "RTX 3090,RTX 4090",
              "max_budget": "1.00", "duration": "20s"}  # fmt: skip
    return BenchmarkPlan.parse(**{**values, **overrides})


def test_plan_parses_comma_lists_and_canonicalises_gpu_spellings():
    plan = _plan(gpus="rtx_3090, GeForce RTX 4090, 3090", providers="TensorDock")
    assert plan.gpus == ("RTX 3090", "RTX 4090")  # duplicates by any spelling dropped
    assert plan.models == ("llama3.1:8b", "mistral:7b")
    assert plan.providers == ("tensordock",)
    assert plan.max_budget == Decimal("1.00")
    assert plan.duration_s == 20
    assert plan.combinations == [
        ("RTX 3090", "llama3.1:8b"), ("RTX 3090", "mistral:7b"),
        ("RTX 4090", "llama3.1:8b"), ("RTX 4090", "mistral:7b"),
    ]  # fmt: skip


def test_plan_round_trips_through_its_stored_config():
    plan = _plan(runtime="openai", concurrency="1,2,4", providers="vastai")
    assert BenchmarkPlan.from_config(plan.to_config()) == plan


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gpus": "RTX 9999"}, "--gpus 'RTX 9999' is not a GPU model we know"),
        ({"gpus": "A100"}, "--gpus 'A100' is a family of models"),
        ({"gpus": " , "}, "--gpus must name at least one value"),
        ({"models": "llama9:1b"}, "--models 'llama9:1b' is not a model we know"),
        ({"providers": "runpod"}, "--providers takes vastai, tensordock, got 'runpod'"),
        ({"max_budget": "0"}, "--max-budget must be more than $0, got '0'"),
        ({"max_budget": "-1"}, "--max-budget must be more than $0, got '-1'"),
        ({"max_budget": "lots"}, "--max-budget must be a dollar amount, got 'lots'"),
        ({"max_budget": "nan"}, "--max-budget must be more than $0, got 'nan'"),
        ({"duration": "soon"}, "--duration: expected a duration such as 30s"),
        ({"duration": "2h"}, "--duration is at most 3600s, got '2h'"),
        ({"runtime": "vllm"}, "--runtime must be one of ollama, openai, got 'vllm'"),
        ({"concurrency": "0"}, "--concurrency takes levels 1-64 such as 1,2,4, got '0'"),
    ],
)
def test_bad_input_names_the_flag_and_the_value(overrides, message):
    with pytest.raises(InvalidInputError) as error:
        _plan(**overrides)
    assert message in str(error.value)


def test_cost_estimate_worked_example():
    """$0.36/h for a 20 s measurement: setup 300 s + pull 300 s + 20 s + margin 120 s = 740 s
    billed; 0.36 x 740 / 3600 = $0.074."""
    assert billed_seconds(20) == 740
    assert estimate_cost(0.36, 20) == Decimal("0.074000")


def test_a_model_fits_only_gpus_with_enough_vram():
    # llama3.1:70b needs 43 GB + 20 % = 51.6 GB; an RTX 3090 has 24 GB, an A6000 48 GB.
    assert not fits("RTX 3090", 51.6)
    assert not fits("RTX A6000", 51.6)
    assert fits("H100 NVL", 51.6)
    assert fits("RTX 4090", 22.8)  # deepseek-r1:32b fits a 24 GB card
