"""Decode rates of the sandbox's LLM stand-in: published rows, then estimates, then answers."""

import pytest

from benchmark_scripts.prompts import PROMPTS
from shopper_pipelines.benchmarks.llm_models import LLM_MODELS, LlmModel
from shopper_pipelines.sandbox.inference_rates import (
    ESTIMATED,
    PUBLISHED,
    bandwidth_gbs,
    published_rates,
    rate_for,
)
from shopper_pipelines.sandbox.inference_text import accuracy, answer_tokens, prompt_tokens

RTX_4090_MIB = 24_564


def test_published_rate_is_the_mean_of_low_and_high() -> None:
    """deepseek-r1:14b on an RTX 4090 has two rows: vastai 94-97 and tensordock 92-94.

    Midpoints 95.5 and 93.0; the rate is their median, (95.5 + 93.0) / 2 = 94.25.
    """
    rate = rate_for("RTX 4090", LLM_MODELS["deepseek-r1:14b"], RTX_4090_MIB)
    assert (rate.tokens_per_second, rate.source) == (94.25, PUBLISHED)
    assert rate.basis.startswith("2 published row(s)")


def test_published_rate_ignores_one_odd_row() -> None:
    """deepseek-r1:32b on an RTX 4090: rows 44.5, 13 (one host's 13-13) and 44.

    The median of 44.5, 13.0 and 44.0 is 44.0: the odd row does not drag it to 33.8.
    """
    rate = rate_for("RTX 4090", LLM_MODELS["deepseek-r1:32b"], RTX_4090_MIB)
    assert (rate.tokens_per_second, rate.source) == (44.0, PUBLISHED)


@pytest.mark.parametrize(
    "spelling", ["RTX 4090", "geforcertx4090-pcie-24gb", "NVIDIA GeForce RTX 4090", "rtx_4090"]
)
def test_every_spelling_of_a_gpu_gets_the_same_published_rate(spelling: str) -> None:
    """llama3.1:8b on an RTX 4090: one row, 169-169, so 169."""
    rate = rate_for(spelling, LLM_MODELS["llama3.1:8b"], RTX_4090_MIB)
    assert (rate.gpu, rate.tokens_per_second, rate.source) == ("RTX 4090", 169.0, PUBLISHED)


def test_family_with_memory_matches_only_that_memory_size() -> None:
    """The file says "A100 80GB" (deepseek-r1:32b at 42): an 80 GB A100 SXM4 is that GPU,
    a 40 GB one is not, and gets an estimate instead."""
    model = LLM_MODELS["deepseek-r1:32b"]
    big = rate_for("A100 SXM4", model, 81_920)
    assert (big.gpu, big.tokens_per_second, big.source) == ("A100 SXM4", 42.0, PUBLISHED)
    small = rate_for("A100 SXM4", model, 40_960)
    assert small.source == ESTIMATED and small.tokens_per_second != 42.0


def test_estimate_scales_the_same_model_by_memory_bandwidth() -> None:
    """llama3.1:8b on an L40S (864 GB/s), which the file does not have.

    Published llama3.1:8b rows, each scaled by 864 / its GPU's bandwidth:
      RTX 4090    169 x 864/1008 = 144.857
      RTX 3090    145 x 864/936  = 133.846
      RTX A6000   122 x 864/768  = 137.250
      RTX 5060 Ti  83 x 864/448  = 160.071
    Median of the four: (137.250 + 144.857) / 2 = 141.05.
    """
    assert bandwidth_gbs("L40S") == 864.0
    rate = rate_for("L40S", LLM_MODELS["llama3.1:8b"], 46_068)
    assert (rate.tokens_per_second, rate.source) == (141.05, ESTIMATED)
    assert "llama3.1:8b on 4 GPU(s)" in rate.basis


def test_estimate_scales_the_same_gpu_by_model_size() -> None:
    """llama3.2:3b (2.0 GB), which the file never ran, on an RTX A6000.

    The A6000's rows: llama3.1:8b (4.9 GB) at 122 and deepseek-r1:14b (9.0 GB) at 68.
    Scaled by size: 122 x 4.9/2.0 = 298.9 and 68 x 9.0/2.0 = 306.0; median 302.45.
    """
    rate = rate_for("RTX A6000", LLM_MODELS["llama3.2:3b"], 49_140)
    assert (rate.tokens_per_second, rate.source) == (302.45, ESTIMATED)


def test_estimate_for_unknown_gpu_and_model_is_deterministic_and_positive() -> None:
    model = LLM_MODELS["qwen2.5:14b"]
    first = rate_for("NVIDIA Graphics Device", model, 8_192)
    assert first == rate_for("NVIDIA Graphics Device", model, 8_192)
    assert first.source == ESTIMATED and first.tokens_per_second > 0
    assert "published pair(s)" in first.basis


def test_published_rates_cover_every_row_of_the_file() -> None:
    rates = published_rates()
    assert rates["RTX 3090", "mistral:7b"] == 159.0
    assert rates["A100", "deepseek-r1:14b"] == 86.0
    # 23 rows; RTX 4090 x deepseek-r1:32b thrice, RTX 4090 and RTX 3090 x deepseek-r1:14b
    # and RTX 3090 x deepseek-r1:32b twice each: 23 - 2 - 1 - 1 - 1 = 18 pairs.
    assert len(rates) == 18


def test_quality_answers_follow_the_model_accuracy() -> None:
    """llama3.1:8b (8.0B parameters): accuracy 0.85 + 0.15 x 8/70 = 0.8671. Of the n
    quality prompts it misses round((1 - 0.8671) x n); with the 7 of standard-v1 that is
    round(0.93) = 1, so 6 of 7 match. 70B models (accuracy 1.0) match all of them. A wrong
    answer never contains an expected string; answers are short and deterministic."""
    quality = [p for p in PROMPTS if p["expect"]]
    big, small = LLM_MODELS["llama3.1:70b"], LLM_MODELS["llama3.1:8b"]
    assert (accuracy(big), accuracy(small)) == (1.0, 0.8671)

    def matches(model: LlmModel) -> int:
        found = 0
        for entry in quality:
            answer = "".join(answer_tokens(model, entry["prompt"]))
            assert answer == "".join(answer_tokens(model, entry["prompt"]))
            assert len(answer.split()) < 20
            if any(e.lower() in answer.lower() for e in entry["expect"]):
                found += 1
            else:
                assert answer in ("I am not sure.", "I do not know the answer to that.")
        return found

    assert matches(big) == len(quality)
    assert matches(small) == len(quality) - round((1 - 0.8671) * len(quality))
    if len(quality) == 7:  # the worked example above
        assert matches(small) == 6


def test_other_prompts_get_long_filler() -> None:
    tokens = answer_tokens(LLM_MODELS["mistral:7b"], "Tell me everything about GPUs.")
    assert 400 <= len(tokens) <= 1000
    assert len("".join(tokens).split()) == len(tokens)  # one word per token
    assert prompt_tokens(["abcd" * 10]) == 10 + 10  # 40 chars / 4, plus the template
