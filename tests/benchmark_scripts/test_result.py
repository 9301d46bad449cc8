"""Summary, flags, status and the result file: degenerate numbers become null, not absurd."""

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

from benchmark_scripts.errors import OOM, TIMEOUT, BenchError
from benchmark_scripts.prompts import PROMPTS, quality_prompts
from benchmark_scripts.result import (
    NO_GPU_SAMPLES,
    NO_SUCCESSFUL_REQUESTS,
    SHORT_ANSWERS,
    SHORT_RUN,
    clean,
    document_skeleton,
    model_slug,
    outcome,
    percentile,
    request_record,
    run_flags,
    summarize,
    sweep_entry,
    write_result,
)
from benchmark_scripts.streams import DEGENERATE_TPS, MISSING_TOKEN_COUNTS, Measurement

THROUGHPUT = PROMPTS[-1]


def measured(tps: float | None, tokens: int = 40, ttft_s: float = 0.1, flags=()) -> Measurement:
    return Measurement(
        text="x",
        ttft_s=ttft_s,
        output_tokens=tokens,
        prompt_tokens=20,
        prompt_cached=False,
        tokens_per_second=tps,
        total_s=1.0,
        flags=list(flags),
    )


def test_summary_of_throughput_requests():
    """Three requests at 60, 80, 100 tokens/s (40 tokens each), TTFT 100, 200, 300 ms, over
    a 6 s phase: mean 80 tokens/s, p50 80, aggregate 120 tokens / 6 s = 20 tokens/s; TTFT
    mean 200 ms, p50 200 ms, p95 = 200 + 0.9 * 100 = 290 ms (linear interpolation)."""
    records = [
        request_record(THROUGHPUT, "throughput", 1, measured(tps, ttft_s=ttft))
        for tps, ttft in ((60.0, 0.1), (100.0, 0.3), (80.0, 0.2))
    ]
    summary = summarize(records, wall_s=6.0)
    assert summary["requests"] == 3
    assert summary["successful"] == 3
    assert summary["output_tokens"] == 120
    assert summary["tokens_per_second"] == 80.0
    assert summary["aggregate_tokens_per_second"] == 20.0
    assert (summary["tps_p50"], summary["tps_min"], summary["tps_max"]) == (80.0, 60.0, 100.0)
    assert summary["ttft_ms_mean"] == 200.0
    assert summary["ttft_ms_p50"] == 200.0
    assert summary["ttft_ms_p95"] == 290.0
    assert summary["quality_match_rate"] is None


def test_degenerate_request_is_excluded_and_flagged():
    """A request whose rate was degenerate keeps its tokens but no rate: the mean is over
    the two usable rates, (60 + 100) / 2 = 80."""
    records = [
        request_record(THROUGHPUT, "throughput", 1, measured(60.0)),
        request_record(THROUGHPUT, "throughput", 1, measured(None, flags=[DEGENERATE_TPS])),
        request_record(THROUGHPUT, "throughput", 1, measured(100.0)),
    ]
    summary = summarize(records, wall_s=10.0)
    assert summary["tokens_per_second"] == 80.0
    assert summary["output_tokens"] == 120
    flags = run_flags(records, summary, gpu_samples=5, duration_s=10.0)
    assert flags == [DEGENERATE_TPS]
    assert outcome(summary, records, []) == ("ok", True)


def test_all_degenerate_is_invalid():
    records = [
        request_record(THROUGHPUT, "throughput", 1, measured(None, flags=[DEGENERATE_TPS]))
        for _ in range(3)
    ]
    summary = summarize(records, wall_s=10.0)
    assert summary["tokens_per_second"] is None
    assert summary["tps_p50"] is None
    assert outcome(summary, records, []) == ("ok", False)


def test_missing_counts_flag_comes_from_measured_requests_only():
    """Quality answers are short; their flags do not speak for the throughput numbers."""
    quality = request_record(
        quality_prompts()[0], "quality", 1, measured(None, flags=[MISSING_TOKEN_COUNTS])
    )
    throughput = [
        request_record(THROUGHPUT, "throughput", 1, measured(50.0, flags=[MISSING_TOKEN_COUNTS]))
    ] + [request_record(THROUGHPUT, "throughput", 1, measured(50.0)) for _ in range(2)]
    summary = summarize([quality, *throughput], wall_s=10.0)
    flags = run_flags([quality, *throughput], summary, gpu_samples=3, duration_s=10.0)
    assert flags == [MISSING_TOKEN_COUNTS]
    flags = run_flags([quality, *throughput[1:]], summary, gpu_samples=3, duration_s=10.0)
    assert flags == []


def test_short_answers_do_not_count_for_rates():
    """The quality prompts cycle through the throughput phase too; a 3-token answer's rate
    (here 900 tokens/s, degenerate or not) is overhead, not decoding. Only the 500-token
    answers count: (60 + 100) / 2 = 80 tokens/s; all 1,006 tokens count for the
    aggregate, 1006 / 10 s = 100.6 tokens/s."""
    short = [
        request_record(THROUGHPUT, "throughput", 1, measured(900.0, tokens=3)),
        request_record(THROUGHPUT, "throughput", 1, measured(None, 3, flags=[DEGENERATE_TPS])),
    ]
    long = [
        request_record(THROUGHPUT, "throughput", 1, measured(tps, tokens=500))
        for tps in (60.0, 100.0)
    ]
    summary = summarize([*short, *long], wall_s=10.0)
    assert summary["tokens_per_second"] == 80.0
    assert (summary["tps_min"], summary["tps_max"]) == (60.0, 100.0)
    assert summary["aggregate_tokens_per_second"] == 100.6
    assert run_flags([*short, *long], summary, gpu_samples=10, duration_s=10.0) == []

    only_short = summarize(short, wall_s=10.0)
    assert only_short["tokens_per_second"] is None
    assert run_flags(short, only_short, gpu_samples=10, duration_s=10.0) == [
        SHORT_ANSWERS,
        SHORT_RUN,
    ]
    assert outcome(only_short, short, []) == ("ok", False)


def test_failed_requests_make_a_partial_run():
    ok = [request_record(THROUGHPUT, "throughput", 1, measured(50.0)) for _ in range(3)]
    failed = request_record(THROUGHPUT, "throughput", 1, error=BenchError(TIMEOUT, "slow"))
    records = [*ok, failed]
    summary = summarize(records, wall_s=10.0)
    assert (summary["requests"], summary["successful"], summary["failed"]) == (4, 3, 1)
    assert failed["ttft_ms"] is None and failed["error"] == TIMEOUT
    assert outcome(summary, records, [BenchError(TIMEOUT, "slow").as_record("throughput")]) == (
        "partial",
        True,
    )


def test_no_successful_request_fails_with_nulls_not_zeros():
    records = [request_record(THROUGHPUT, "throughput", 1, error=BenchError(OOM, "no room"))]
    summary = summarize(records, wall_s=0.4)
    assert summary["output_tokens"] is None
    assert summary["aggregate_tokens_per_second"] is None
    assert summary["ttft_ms_mean"] is None
    flags = run_flags(records, summary, gpu_samples=0, duration_s=300)
    assert flags == [NO_SUCCESSFUL_REQUESTS, NO_GPU_SAMPLES, SHORT_RUN]
    assert outcome(summary, records, []) == ("failed", False)


def test_short_run_when_phase_ended_early():
    records = [request_record(THROUGHPUT, "throughput", 1, measured(50.0)) for _ in range(5)]
    summary = summarize(records, wall_s=30.0)
    assert SHORT_RUN in run_flags(records, summary, gpu_samples=30, duration_s=300)
    assert SHORT_RUN not in run_flags(records, summary, gpu_samples=30, duration_s=30)


def test_quality_match_rate():
    """Two of three quality prompts answered correctly, one failed request not counted:
    2 / 3 = 0.6667."""
    prompts = quality_prompts()
    right = [Measurement(text=f"It is {p['expect'][0].lower()}.") for p in prompts[:2]]
    records = [request_record(p, "quality", 1, m) for p, m in zip(prompts, right, strict=False)]
    records.append(request_record(prompts[2], "quality", 1, Measurement(text="no idea")))
    records.append(request_record(prompts[3], "quality", 1, error=BenchError(TIMEOUT, "x")))
    summary = summarize(records, wall_s=None)
    assert [r["match"] for r in records] == [True, True, False, None]
    assert (summary["quality_prompts"], summary["quality_matches"]) == (3, 2)
    assert summary["quality_match_rate"] == 0.6667


def test_sweep_entry():
    """Four requests of 40 tokens at concurrency 2 in 2 s: 80 tokens/s in aggregate."""
    records = [
        request_record(THROUGHPUT, "sweep", 2, measured(45.0, ttft_s=t)) for t in (0.1, 0.2, 0.3)
    ]
    records.append(request_record(THROUGHPUT, "sweep", 2, measured(45.0, ttft_s=0.4)))
    entry = sweep_entry(2, records, wall_s=2.0)
    assert entry == {
        "concurrency": 2,
        "requests": 4,
        "successful": 4,
        "aggregate_tokens_per_second": 80.0,
        "ttft_ms_p50": 250.0,
    }


def test_percentile():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


@pytest.mark.parametrize(
    ("model", "slug"),
    [
        ("llama3.1:8b", "llama3.1-8b"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama-Llama-3.1-8B-Instruct"),
        ("hf.co/x/y:Q4_K_M", "hf.co-x-y-Q4_K_M"),
    ],
)
def test_model_slug(model: str, slug: str):
    assert model_slug(model) == slug


def test_clean_turns_non_finite_numbers_to_null():
    assert clean({"a": math.inf, "b": [1.5, math.nan], "c": "x"}) == {
        "a": None,
        "b": [1.5, None],
        "c": "x",
    }


def test_write_result_names_and_keeps_both_files_of_one_second(tmp_path):
    started = datetime(2026, 12, 4, 17, 5, 9, tzinfo=timezone.utc)  # noqa: UP017
    document = document_skeleton("bench-0123456789ab", "ollama", "llama3.1:8b", "u", {})
    document["summary"]["wall_s"] = math.inf
    first = write_result(document, str(tmp_path / "out"), "llama3.1:8b", started)
    second = write_result(document, str(tmp_path / "out"), "llama3.1:8b", started)
    assert first.endswith("out/benchmark_llama3.1-8b_20261204T170509Z.json")
    assert second.endswith("out/benchmark_llama3.1-8b_20261204T170509Z-2.json")
    assert json.loads(Path(first).read_text())["summary"]["wall_s"] is None
