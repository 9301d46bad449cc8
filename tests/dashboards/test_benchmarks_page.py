"""The Benchmarks page through AppTest, on a sandbox ingest plus real benchmark results,
and its cost frontier checked directly on hand-worked examples."""

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from dashboards.benchmarks_data import PUBLISHED_LABEL, cost_frontier
from shopper_pipelines.warehouse import ensure_schema
from tests.dashboards.bench_support import (
    MEASURED_PRICE,
    MEASURED_TPS,
    MODEL,
    PUBLISHED_LLAMA,
    per_million,
    run_app,
    warehouse_with_results,
)

PAGE = "pages/benchmarks.py"


@pytest.fixture(scope="module")
def bench_warehouse(sandbox_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sandbox offers, the published rows and one measured RTX 4090 run of llama3.1:8b."""
    return warehouse_with_results(sandbox_warehouse, tmp_path_factory.mktemp("bench"))


Point = tuple[str, float | None, float | None]  # name, $/h, tokens/s


def frontier_names(points: Sequence[Point]) -> list[str]:
    schema = {"name": pl.String, "price_per_hour": pl.Float64, "tokens_per_second": pl.Float64}
    frame = pl.DataFrame(points, schema=schema, orient="row")
    return cost_frontier(frame).filter(pl.col("on_frontier"))["name"].to_list()


def test_cost_frontier_keeps_only_points_nothing_beats_on_both() -> None:
    """($/h, tok/s): F (0.10, 40), A (0.20, 100), D (0.30, 90), B (0.40, 150),
    C (0.40, 120), E (0.50, 150). By rising price: F is the cheapest, on. A: faster than
    everything cheaper (100 > 40), on. D: A is cheaper and faster, off. At $0.40, B is
    the faster (150 > 100 before it), on; C loses to B at the same price, off. E: B is
    cheaper and as fast, off. Frontier: F, A, B, in the frame's own order."""
    points = [("A", 0.20, 100.0), ("B", 0.40, 150.0), ("C", 0.40, 120.0),
              ("D", 0.30, 90.0), ("E", 0.50, 150.0), ("F", 0.10, 40.0)]  # fmt: skip
    assert frontier_names(points) == ["A", "B", "F"]


def test_cost_frontier_keeps_equal_points_and_skips_missing_figures() -> None:
    """Two identical points (0.20, 100) beat each other on neither figure: both on. A
    point without a price (X, 900 tok/s) or a rate (Y, $0.01) cannot be placed: off, and
    it blocks nothing (G at 0.30/120 is still faster than anything cheaper)."""
    points = [("P", 0.20, 100.0), ("Q", 0.20, 100.0), ("X", None, 900.0),
              ("Y", 0.01, None), ("G", 0.30, 120.0)]  # fmt: skip
    assert frontier_names(points) == ["P", "Q", "G"]
    assert frontier_names([]) == []


def test_leaderboard_labels_published_and_keeps_it_apart(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    """The RTX 4090 has a measured row (169.07 tok/s at $0.40/h: 0.40 / (169.07 × 3600)
    × 1e6 = $0.657 per M) and, apart from it, the published one (169 tok/s at $0.41/h:
    $0.674 per M)."""
    app = run_app(app_env, bench_warehouse, PAGE)

    board = pl.from_pandas(app.dataframe[0].value)
    assert set(board["source"]) == {"measured", PUBLISHED_LABEL}
    rows = {(row["gpu_model"], row["source"]): row for row in board.iter_rows(named=True)}
    measured = rows[("RTX 4090", "measured")]
    assert measured["tokens_per_second"] == MEASURED_TPS
    assert measured["ttft_ms_p50"] == 23.0
    assert measured["results"] == 1
    assert measured["dollars_per_m_tokens"] == pytest.approx(0.6572, abs=1e-4)
    assert measured["dollars_per_m_tokens"] == pytest.approx(
        per_million(MEASURED_PRICE, MEASURED_TPS)
    )
    for gpu, (price, tps) in PUBLISHED_LLAMA.items():
        published = rows[(gpu, PUBLISHED_LABEL)]
        assert published["tokens_per_second"] == tps
        assert published["price_per_hour"] == pytest.approx(price)
        assert published["dollars_per_m_tokens"] == pytest.approx(per_million(price, tps))
    assert board["tokens_per_second"].to_list() == sorted(board["tokens_per_second"], reverse=True)
    assert any("published (reference)" in caption.value for caption in app.caption)


def test_chart_highlights_the_cost_frontier(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    """llama3.1:8b points ($/h, tok/s): 5060 Ti (0.065, 83), 3090 (0.08, 145), A6000
    (0.40, 122), 4090 measured (0.40, 169.07), 4090 published (0.41, 169). Rising price:
    5060 Ti on (cheapest); 3090 on (145 > 83); at $0.40 the measured 4090 is the faster
    and beats 145, on, the A6000 off; the published 4090 is dearer than the measured one
    and slower, off."""
    app = run_app(app_env, bench_warehouse, PAGE)

    charts = app.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert MODEL in json.dumps(spec["title"])
    assert len(spec["layer"]) == 4  # points, frontier line, frontier rings, frontier names
    frontier = next(c.value for c in app.caption if c.value.startswith("Cost frontier"))
    assert frontier.endswith(
        f"RTX 5060 Ti ({PUBLISHED_LABEL}) $0.07/h, RTX 3090 ({PUBLISHED_LABEL}) $0.08/h, "
        "RTX 4090 (measured) $0.40/h"
    )


def test_toggle_leaves_published_results_out(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse, PAGE)

    app.toggle(key="bench_published").set_value(False).run()

    assert not app.exception
    board = app.dataframe[0].value
    assert list(board["source"]) == ["measured"]
    assert list(board["gpu_model"]) == ["RTX 4090"]
    recommended = app.dataframe[1].value
    assert list(recommended["evidence"]) == ["measured n=1"]
    offers = app.dataframe[2].value
    assert len(offers) > 0 and set(offers["evidence"]) == {"measured n=1"}
    assert any("published-only or no evidence hidden" in c.value for c in app.caption)


def test_recommendation_ranks_gpu_types_with_their_evidence(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse, PAGE)

    ranked = pl.from_pandas(app.dataframe[1].value)
    evidence = dict(zip(ranked["gpu_model"], ranked["evidence"], strict=True))
    assert evidence["RTX 4090"] == "measured n=1"
    assert {evidence[gpu] for gpu in PUBLISHED_LLAMA if gpu != "RTX 4090"} == {PUBLISHED_LABEL}
    costs = ranked["dollars_per_m_tokens"].to_list()
    assert costs == sorted(costs)
    for row in ranked.iter_rows(named=True):
        assert row["dollars_per_m_tokens"] == pytest.approx(
            per_million(row["price_per_hour"], row["tokens_per_second"])
        )
    top = ranked.row(0, named=True)
    message = app.success[0].value
    assert f"rent **{top['gpu_model']}**" in message
    assert f"${top['dollars_per_m_tokens']:.2f} per million tokens" in message


def test_recommendation_honours_vram_and_budget(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    """Of the llama3.1:8b GPUs only the RTX A6000 has a 48 GB card (the others 24 and 16),
    so asking for 30 GB leaves it alone; no GPU rents for $0.01/h."""
    app = run_app(app_env, bench_warehouse, PAGE)

    app.number_input(key="bench_vram").set_value(30.0).run()
    assert list(app.dataframe[1].value["gpu_model"]) == ["RTX A6000"]

    app.number_input(key="bench_vram").set_value(None)
    app.number_input(key="bench_max_price").set_value(0.01).run()
    assert not app.success
    assert any("within this budget" in str(item.value) for item in app.info)

    app.number_input(key="bench_max_price").set_value(0.0).run()
    assert any("--max-price" in item.value and "0.0" in item.value for item in app.error)


def test_live_offers_ranked_by_estimated_cost_with_evidence(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse, PAGE)

    offers = pl.from_pandas(app.dataframe[2].value)
    estimated = offers.filter(pl.col("evidence") != "none")
    assert estimated.height > 0
    costs = estimated["est_dollars_per_m_tokens"].to_list()
    assert costs == sorted(costs)
    assert all(
        label == "measured n=1" or label.startswith(PUBLISHED_LABEL[:-1])
        for label in estimated["evidence"]
    )
    for row in estimated.iter_rows(named=True):
        assert row["est_dollars_per_m_tokens"] == pytest.approx(
            per_million(row["price_per_hour"], row["est_tokens_per_second"])
        )


def test_model_choice_changes_every_section(
    app_env: pytest.MonkeyPatch, bench_warehouse: Path
) -> None:
    app = run_app(app_env, bench_warehouse, PAGE)

    app.selectbox(key="bench_model").set_value("deepseek-r1:32b").run()

    assert not app.exception
    board = app.dataframe[0].value
    assert set(board["source"]) == {PUBLISHED_LABEL}
    assert "A100" in set(board["gpu_model"])
    assert "deepseek-r1:32b" in app.get("vega_lite_chart")[0].proto.spec
    assert "deepseek-r1:32b" in app.success[0].value


def test_no_measured_results_says_how_to_get_some(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path, tmp_path: Path
) -> None:
    db_path = warehouse_with_results(sandbox_warehouse, tmp_path, measured=False)
    app = run_app(app_env, db_path, PAGE)
    assert app.dataframe  # the published reference results still show

    app.toggle(key="bench_published").set_value(False).run()

    hints = " ".join(str(item.value) for item in app.info)
    assert f"No measured results for {MODEL} yet" in hints
    assert f"uv run gpu-shopper benchmarks run --models {MODEL}" in hints
    assert not app.get("vega_lite_chart")


def test_missing_warehouse_says_how_to_start_and_creates_none(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "never.duckdb"
    app = run_app(app_env, missing, PAGE)

    hints = " ".join(str(item.value) for item in app.info)
    assert "uv run gpu-shopper ingest" in hints
    assert "uv run gpu-shopper benchmarks run" in hints
    assert not missing.exists()


def test_warehouse_without_offers_still_shows_published_results(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.duckdb"
    ensure_schema(empty)
    app = run_app(app_env, empty, PAGE)

    assert set(app.dataframe[0].value["source"]) == {PUBLISHED_LABEL}
    assert any("No current offer can hold" in str(item.value) for item in app.info)
