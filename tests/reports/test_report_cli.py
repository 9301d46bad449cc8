"""`gpu-shopper report daily|weekly` as a user runs it: a real process, a real warehouse."""

import json
import os
from pathlib import Path

import pytest

from tests.cli.test_cli import run_cli
from tests.reports.conftest import HISTORY_WEEK_ENDING, Filled


@pytest.fixture
def env(filled_warehouse: Filled, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["DATABASE_PATH"] = str(filled_warehouse.db_path)
    env["REPORTS_DIR"] = str(tmp_path / "reports")
    return env


def test_report_daily_writes_the_report_and_prints_its_paths(env, filled_warehouse: Filled):
    day = filled_warehouse.day.isoformat()
    out = json.loads(run_cli("report", "daily", "--date", day, "-o", "json", env=env).stdout)

    report = out["report"]
    assert report["period"] == day
    assert report["markdown"] == str(Path(env["REPORTS_DIR"]) / "daily" / day / "report.md")
    assert Path(report["markdown"]).is_file() and Path(report["html"]).is_file()
    assert len(report["charts"]) == 2 and all(Path(path).is_file() for path in report["charts"])
    assert report["headline"]["total_cost_usd"] == 5.8

    table = run_cli("report", "daily", "--date", day, env=env).stdout
    assert f"  {report['markdown']}\n" in table and "total_cost_usd" in table


def test_report_weekly_writes_the_market_report(env):
    week = HISTORY_WEEK_ENDING.isoformat()
    out = json.loads(
        run_cli("report", "weekly", "--week-ending", week, "-o", "json", env=env).stdout
    )
    assert out["report"]["period"] == "2025-W46"
    assert Path(out["report"]["html"]).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "--date", "2026-02-30"), "--date takes a date as YYYY-MM-DD, got '2026-02-30'"),
        (("daily", "--date", "yesterday"), "--date takes a date as YYYY-MM-DD, got 'yesterday'"),
        (("weekly", "--week-ending", "2026-12-02"), "--week-ending must be a Sunday"),
    ],
)
def test_report_bad_dates_exit_2_naming_the_flag(env, args, message):
    result = run_cli("report", *args, env=env, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
