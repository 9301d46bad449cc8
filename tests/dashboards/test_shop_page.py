"""The Shop page through Streamlit's AppTest, on a warehouse from a real sandbox ingest."""

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from shopper_pipelines.inventory.gpu_models import known_models
from shopper_pipelines.inventory.search import MAX_LIMIT
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.settings import load_settings
from shopper_pipelines.warehouse import connect, ensure_schema
from tests.dashboards.app_support import APP_PATH, free_port

RUN_TIMEOUT_S = 60
MATCHES = re.compile(r"^([\d,]+) offers? match")


def run_app(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> AppTest:
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    app = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not app.exception, [item.message for item in app.exception]
    return app


def match_count(app: AppTest) -> int:
    counts = [MATCHES.match(caption.value) for caption in app.caption]
    found = [int(match.group(1).replace(",", "")) for match in counts if match]
    assert len(found) == 1, [caption.value for caption in app.caption]
    return found[0]


def info_text(app: AppTest) -> str:
    return " ".join(str(item.value) for item in app.info)


def test_shop_shows_sandbox_offers_with_banner(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)

    assert any("SANDBOX" in str(item.value) for item in app.warning)
    offers = app.dataframe[0].value
    assert 0 < len(offers) <= match_count(app)
    assert set(offers["provider"]) <= {"vastai", "tensordock"}
    freshness = [caption.value for caption in app.caption if "Last snapshots" in caption.value]
    assert "vastai: ok" in freshness[0] and "tensordock: ok" in freshness[0]


def test_shop_gpu_and_price_filters_narrow_the_table(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)
    everything = match_count(app)

    app.selectbox(key="gpu").set_value("RTX 4090")
    app.number_input(key="max_price").set_value(0.5)
    app.number_input(key="limit").set_value(MAX_LIMIT)
    app.run()

    assert not app.exception
    offers = app.dataframe[0].value
    assert 0 < len(offers) == match_count(app) < everything
    assert set(offers["gpu_model"]) == {"RTX 4090"}
    assert max(offers["price_per_hour"].tolist()) <= 0.5


def test_shop_bad_country_shows_the_validation_message(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)

    app.text_input(key="country").set_value("USA").run()

    assert not app.exception
    assert any("country" in item.value and "'USA'" in item.value for item in app.error)
    assert not app.dataframe


def test_shop_charts_price_history_of_cheapest_gpu(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)

    cheapest = app.dataframe[0].value.iloc[0]["gpu_model"]
    charts = app.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert cheapest in json.dumps(spec["title"])
    assert any(f"showing {cheapest}" in caption.value for caption in app.caption)


def test_shop_chart_follows_picked_gpu_and_window(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)

    app.selectbox(key="gpu").set_value("RTX 4090")
    app.radio(key="window").set_value("all")
    app.run()

    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert "RTX 4090" in json.dumps(spec["title"])


def test_shop_missing_warehouse_shows_ingest_hint(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "never-ingested.duckdb"
    app = run_app(app_env, missing)

    assert "uv run gpu-shopper ingest" in info_text(app)
    assert not missing.exists()


def test_shop_empty_warehouse_shows_ingest_hint(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.duckdb"
    ensure_schema(empty)
    app = run_app(app_env, empty)

    assert "uv run gpu-shopper ingest" in info_text(app)
    assert not app.dataframe


def test_shop_failed_snapshot_shows_its_error(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db_path = tmp_path / "failed.duckdb"
    unreachable = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(
        database_path=db_path,
        sandbox_url=unreachable,
        vastai_api_key=None,
        tensordock_api_token=None,
        http_max_attempts=1,
        http_timeout_s=2,
    )
    ingest(settings)
    app = run_app(app_env, db_path)

    failures = [str(item.value) for item in app.warning if "snapshot failed" in str(item.value)]
    assert len(failures) == 2
    assert "uv run gpu-shopper ingest" in info_text(app)


def test_app_invalid_settings_show_message_not_traceback(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_env.setenv("APP_PORT", "99999")
    app = run_app(app_env, tmp_path / "w.duckdb")

    assert any("APP_PORT" in item.value for item in app.error)
    assert not app.title


def test_shop_no_match_keeps_the_picked_gpus_history(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app = run_app(app_env, sandbox_warehouse)

    app.selectbox(key="gpu").set_value("RTX 4090")
    app.number_input(key="max_price").set_value(0.01)
    app.run()

    assert "No offers match" in info_text(app)
    assert not app.dataframe
    assert len(app.get("vega_lite_chart")) == 1


def test_shop_falls_back_to_all_history_for_old_imports(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path, tmp_path: Path
) -> None:
    db_path = tmp_path / "imported.duckdb"
    shutil.copy(sandbox_warehouse, db_path)
    with connect(db_path) as con:
        charted = {
            row[0] for row in con.execute("SELECT gpu_model FROM gpu_price_points").fetchall()
        }
        gpu = next(model.name for model in known_models() if model.name not in charted)
        con.executemany(
            "INSERT INTO gpu_price_points VALUES (?, 'import:neocloud', 'neocloud', ?, 3, ?, ?, ?)",
            [[datetime(2025, 6, day, tzinfo=UTC), gpu, 1.5, 1.8, 2.0] for day in (1, 2, 3)],
        )
    app = run_app(app_env, db_path)

    app.selectbox(key="gpu").set_value(gpu).run()

    assert any("showing all history" in caption.value for caption in app.caption)
    chart = app.get("vega_lite_chart")[0].proto
    assert gpu in chart.spec
    # The series names travel in the chart's Arrow data, not in its spec.
    assert any(b"neocloud (import:neocloud)" in dataset.data.data for dataset in chart.datasets)
