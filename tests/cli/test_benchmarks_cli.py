"""`gpu-shopper benchmarks ...` as a user runs it: a real process, a real warehouse with
sandbox offers, the fixture result files loaded through the CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.results_support import DEGENERATE, FIXTURES, GOOD, MALFORMED, variant, write

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "shopper_pipelines.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _json(env, *args):
    return json.loads(run_cli("benchmarks", *args, "-o", "json", env=env).stdout)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """The fixtures plus a second RTX 4090 run and an RTX 3090 run of llama3.1:8b."""
    folder = tmp_path_factory.mktemp("results")
    for path in (GOOD, DEGENERATE, MALFORMED):
        shutil.copy(path, folder / path.name)
    write(folder / "node-b", variant(tps=160.0))
    write(folder / "node-c", variant(gpu_name="NVIDIA GeForce RTX 3090", tps=140.0))
    return folder


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, sandbox_url, results_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["DATABASE_PATH"] = str(tmp_path_factory.mktemp("cli") / "w.duckdb")
    env["SANDBOX_URL"] = sandbox_url
    env["COLUMNS"] = "200"
    run_cli("ingest", env=env)
    return env


@pytest.fixture(scope="module")
def loaded(cli_env, results_dir) -> dict:
    return _json(cli_env, "load", str(results_dir), "--provider", "vastai", "--price", "0.35",
                 "--location", "Quebec, CA")  # fmt: skip


def test_load_counts_stored_invalid_and_rejected_files(loaded, results_dir):
    assert (loaded["files"], loaded["stored"], loaded["stored_invalid"], loaded["rejected"]) == (
        5, 4, 1, 1
    )  # fmt: skip
    rejected = [r for r in loaded["results"] if r["outcome"] == "rejected"]
    assert rejected[0]["path"].endswith(MALFORMED.name)
    assert "summary.tokens_per_second" in rejected[0]["message"]


def test_load_again_is_all_duplicates(cli_env, loaded, results_dir):
    again = _json(cli_env, "load", str(results_dir), "-p", "vastai", "--price", "0.35")
    assert (again["stored"], again["duplicates"], again["rejected"]) == (0, 4, 1)


def test_list_marks_sources_and_hides_invalid_unless_asked(cli_env, loaded):
    results = _json(cli_env, "list", "--model", "llama3.1:8b")["results"]
    assert {r["source"] for r in results} == {"measured", "published"}
    assert all(r["valid"] for r in results)
    everything = _json(cli_env, "list", "--all", "--source", "measured")["results"]
    assert {r["source"] for r in everything} == {"measured"}
    assert any(not r["valid"] for r in everything)
    text = run_cli("benchmarks", "list", "-m", "llama3.1:8b", env=cli_env).stdout
    assert "published (ref)" in text
    assert "bench-3f9a2c71d04e" in text


def test_get_shows_one_result_with_its_raw_json(cli_env, loaded):
    result = _json(cli_env, "get", "bench-3f9a2c71d04e")["result"]
    assert result["raw"] == json.loads(GOOD.read_text())
    assert result["location"] == "Quebec, CA"
    assert result["dollars_per_m_tokens"] == pytest.approx(0.35 / (169.07 * 3600) * 1e6)


def test_best_and_cheapest_answer_from_our_measurements(cli_env, loaded):
    """Measured llama3.1:8b at $0.35/h: RTX 4090 169.07 and 160 tok/s, RTX 3090 140.
    Best is 169.07 tok/s; cheapest is the fastest at the same price: 0.35 ÷ (169.07 ×
    3600) × 1e6 = $0.575 per M tokens. The published figures come labelled beside them."""
    best = _json(cli_env, "best", "--model", "llama3.1:8b")
    assert (best["best"]["source"], best["best"]["tokens_per_second"]) == ("measured", 169.07)
    assert best["published_reference"]["source"] == "published"
    cheapest = _json(cli_env, "cheapest", "-m", "llama3.1:8b")["cheapest"]
    assert cheapest["result_id"] == "bench-3f9a2c71d04e"
    assert round(cheapest["dollars_per_m_tokens"], 3) == 0.575
    # Regression: best/cheapest gave flags as JSON text ("[]") where list/get give a list.
    assert isinstance(cheapest["flags"], list) and isinstance(best["best"]["flags"], list)
    text = run_cli("benchmarks", "cheapest", "-m", "llama3.1:8b", env=cli_env).stdout
    assert "$0.58" in text and "published (ref)" in text


def test_cheapest_for_an_unmeasured_model_says_it_is_published(cli_env, loaded):
    text = run_cli("benchmarks", "cheapest", "-m", "deepseek-r1:32b", env=cli_env).stdout
    assert "Published reference figure only" in text


def test_compare_lists_each_gpu_with_its_basis(cli_env, loaded):
    gpus = {g["gpu_model"]: g for g in _json(cli_env, "compare", "-m", "llama3.1:8b")["gpus"]}
    assert gpus["RTX 4090"]["basis"] == "measured" and gpus["RTX 4090"]["n_measured"] == 2
    assert gpus["RTX A6000"]["basis"] == "published"
    text = run_cli("benchmarks", "compare", "-m", "llama3.1:8b", env=cli_env).stdout
    assert "published (ref)" in text


def test_recommend_ranks_gpu_types_and_shows_live_offers(cli_env, loaded):
    answer = _json(cli_env, "recommend", "-m", "llama3.1:8b", "--max-price", "1.0",
                   "--offers", "5")  # fmt: skip
    ranked = answer["recommendations"]
    assert ranked and [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(r["price_per_hour"] <= 1.0 for r in ranked)
    assert len(answer["offers"]["offers"]) == 5
    assert answer["offers"]["offers"][0]["est_dollars_per_m_tokens"] is not None
    text = run_cli("benchmarks", "recommend", "-m", "llama3.1:8b", env=cli_env).stdout
    assert "Recommended GPUs for llama3.1:8b" in text
    assert "Live offers for llama3.1:8b" in text


def test_offers_ranks_live_offers_with_filters(cli_env, loaded):
    answer = _json(cli_env, "offers", "-m", "llama3.1:8b", "-g", "RTX 4090", "--limit", "3")
    assert [o["gpu_model"] for o in answer["offers"]] == ["RTX 4090"] * 3
    assert {o["evidence"] for o in answer["offers"]} == {"measured n=2"}
    costs = [o["est_dollars_per_m_tokens"] for o in answer["offers"]]
    assert costs == sorted(costs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("best", "-m", "gpt-5"), "--model 'gpt-5' is not a model we know; known:"),
        (("list", "--source", "vendor"), "--source must be one of measured, published, all"),
        (("get", "bench-000000000000"), "no benchmark result with id 'bench-000000000000'"),
        (("recommend", "-m", "llama3.1:8b", "--max-price", "-1"), "--max-price must be"),
        (("offers", "-m", "llama3.1:8b", "-p", "runpod"), "--provider must be one of"),
        (("load", str(FIXTURES), "-p", "vastai", "--price", "0"), "--price must be $/hour"),
        (("load", str(FIXTURES), "-p", "runpod", "--price", "1"), "--provider must be one of"),
        (("load", "/nonexistent-dir", "-p", "vastai", "--price", "1"), "is not a folder"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_the_flag(cli_env, args, message):
    result = run_cli("benchmarks", *args, env=cli_env, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_load_of_only_bad_files_exits_1(cli_env, tmp_path):
    shutil.copy(MALFORMED, tmp_path / MALFORMED.name)
    result = run_cli("benchmarks", "load", str(tmp_path), "-p", "vastai", "--price", "0.3",
                     env=cli_env, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "rejected" in result.stdout
