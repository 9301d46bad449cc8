"""The Costs page with AppTest, on a real warehouse holding real session rows."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.reports.periods import midnight, today_utc
from shopper_pipelines.warehouse import ensure_schema
from tests.dashboards.app_support import APP_PATH
from tests.reports.sessions_support import add_session, worked_example_sessions

COSTS_PAGE = "pages/costs.py"


def run_costs_page() -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=60).run()
    app.switch_page(COSTS_PAGE).run()
    assert not app.exception, [item.message for item in app.exception]
    return app


def texts(elements: object) -> str:
    return " ".join(str(item.value) for item in elements)  # type: ignore[attr-defined]


def metrics(app: AppTest) -> dict[str, str]:
    return {item.label: item.value for item in app.metric}


@pytest.fixture
def costs_warehouse(app_env: pytest.MonkeyPatch, tmp_path: Path) -> datetime:
    """The reports' worked example, plus this month's sessions behind a budget warning:
    frank ran 30 min at $4.00/h = $2.00 of a $2.50 budget (80%: 50 and 80 crossed);
    gina has run 1 h at $50.00/h and still bills: $50.00 so far, more than carol's at most
    27 h x $1.00 (she started 3 h before today's midnight)."""
    now = datetime.now(UTC)
    if now - midnight(today_utc().replace(day=1)) < timedelta(hours=2):
        pytest.skip("the month began under 2 h ago: this month's sessions would straddle it")
    db_path = tmp_path / "warehouse.duckdb"
    ensure_schema(db_path)
    today = midnight(today_utc())
    worked_example_sessions(db_path, today)
    add_session(db_path, "sess-frank", consumer="frank", price=4.0,
                start=now - timedelta(minutes=40), end=now - timedelta(minutes=10))  # fmt: skip
    add_session(db_path, "sess-gina", consumer="gina", price=50.0, gpu_model="H200",
                start=now - timedelta(hours=1), end=None)  # fmt: skip
    set_budget(db_path, "frank", "2.50", thresholds=(50, 80, 100), action="refuse")
    app_env.setenv("DATABASE_PATH", str(db_path))
    return today


def test_costs_page_totals_chart_budgets_and_running(costs_warehouse: datetime):
    """Dates D-5..D of the worked example: dave $0.90 (3 h) + alice $1.00 (2 h) + bob's
    $4.80 before midnight (2 h) = $6.70 over 3 sessions and 7.0 instance-hours."""
    day = (costs_warehouse - timedelta(days=2)).date()
    app = run_costs_page()
    app.date_input(key="costs_range").set_value((day - timedelta(days=5), day)).run()

    assert not app.exception
    assert metrics(app)["Spend"] == "$6.70"
    assert metrics(app)["Sessions"] == "3"
    assert metrics(app)["Instance-hours"] == "7.0"
    billing = metrics(app)["Billing now"]
    assert billing == "$51.00/h"  # carol $1.00/h + gina $50.00/h
    [over_time, by_group] = [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]
    assert over_time["encoding"]["color"]["field"] == "consumer"
    assert "Spend per day by consumer" in json.dumps(over_time["title"])
    assert "Spend by consumer" in json.dumps(by_group["title"])

    budgets = app.dataframe[0].value
    assert budgets["consumer"].tolist() == ["frank"]
    assert budgets["spend_usd"].tolist() == [2.0] and budgets["percent"].tolist() == [80.0]
    assert budgets["crossed"].tolist() == ["50%, 80%"] and budgets["state"].tolist() == ["warning"]
    assert "frank: 80% of $2.50 used this month" in texts(app.warning)

    running = app.dataframe[1].value
    assert running["session_id"].tolist() == ["sess-gina", "sess-carol"]
    assert running["cost"].iloc[0] >= 50.0 and running["price_per_hour"].iloc[0] == 50.0


def test_costs_page_groups_by_gpu(costs_warehouse: datetime):
    day = (costs_warehouse - timedelta(days=2)).date()
    app = run_costs_page()
    app.date_input(key="costs_range").set_value((day, day)).run()
    app.selectbox(key="costs_group").set_value("gpu_model").run()

    assert metrics(app)["Spend"] == "$5.80"  # alice $1.00 + bob $4.80 on D
    chart = app.get("vega_lite_chart")[0].proto
    spec = json.loads(chart.spec)
    assert spec["encoding"]["color"]["field"] == "gpu_model"
    # The GPU names travel in the chart's Arrow data, not in its spec.
    data = b"".join(dataset.data.data for dataset in chart.datasets)
    assert b"H100 SXM" in data and b"RTX 4090" in data and b"A100 SXM4" not in data


def test_costs_page_empty_states(app_env: pytest.MonkeyPatch, tmp_path: Path):
    missing = tmp_path / "missing.duckdb"
    app_env.setenv("DATABASE_PATH", str(missing))
    assert "gpu-shopper ingest" in texts(run_costs_page().info)
    assert not missing.exists()

    empty = tmp_path / "empty.duckdb"
    ensure_schema(empty)
    app_env.setenv("DATABASE_PATH", str(empty))
    info = texts(run_costs_page().info)
    assert "No session billed anything" in info
    assert "No budgets yet" in info and "No session is billing right now" in info


def test_costs_page_shows_a_warehouse_error(app_env: pytest.MonkeyPatch, tmp_path: Path):
    broken = tmp_path / "not-duckdb.duckdb"
    broken.write_text("this is not a DuckDB file")
    app_env.setenv("DATABASE_PATH", str(broken))
    app = run_costs_page()
    assert "cannot open the warehouse" in texts(app.error)
