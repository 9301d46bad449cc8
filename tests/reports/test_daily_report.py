"""The daily cost report on a real warehouse: figures, files, charts, escaping, empties."""

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shopper_pipelines.costs.alerts import send_budget_alerts
from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.errors import InvalidInputError, ShopperError
from shopper_pipelines.reports import writer
from shopper_pipelines.reports.daily import build_daily_report
from shopper_pipelines.reports.periods import midnight
from shopper_pipelines.sessions import store
from shopper_pipelines.settings import Settings, load_settings
from shopper_pipelines.warehouse import ensure_schema
from tests.reports.conftest import Filled

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_daily_report_worked_example(report_settings: Settings, filled_warehouse: Filled):
    """Day D of `worked_example_sessions`: alice 2 h x $0.50 = $1.00 and bob's 4-GPU
    instance 2 h (22:00-24:00) x $2.40 = $4.80 make $5.80 over 2 sessions and 4.0 hours;
    bob's other 2 h fall on D+1, dave's $0.90 on D-5. carol runs since 3 h before the
    build time at $1.00/h: $3.00 so far."""
    day = filled_warehouse.day
    report = build_daily_report(report_settings, day, now=filled_warehouse.today)

    assert report.folder == report_settings.reports_dir / "daily" / day.isoformat()
    assert report.headline["total_cost_usd"] == 5.80
    assert report.headline["sessions"] == 2
    assert report.headline["hours"] == 4.0
    assert report.headline["top_consumer"] == "bob"
    assert report.headline["running_sessions"] == 1
    assert report.headline["running_cost_so_far_usd"] == 3.00
    text = report.markdown_path.read_text()
    assert text == report.markdown
    assert "Spent $5.80 on 2 sessions (4.0 instance-hours)." in text
    assert "| bob | $4.80 | 2.0 | 1 |" in text and "| alice | $1.00 | 2.0 | 1 |" in text
    assert "| H100 SXM | $4.80 | 2.0 | 1 |" in text
    assert "| vastai | $5.80 | 4.0 | 2 |" in text
    sessions = re.findall(r"^\| (sess-\w+) \|.*\| ([\d.]+) \| (\$[\d.]+) \|$", text, re.M)
    assert sessions == [("sess-bob", "2.00", "$4.80"), ("sess-alice", "2.00", "$1.00")]
    assert "| sess-carol | carol | tensordock | RTX 3090 | running | 3.00 | $3.00 |" in text
    assert "sess-dave" not in text

    names = sorted(path.name for path in report.charts)
    assert names == ["spend_by_gpu.png", "spend_per_day.png"]
    for chart in report.charts:
        assert chart.read_bytes().startswith(PNG_MAGIC)
        assert f"]({chart.name})" in text
    html = report.html_path.read_text()
    assert '<img src="spend_per_day.png"' in html and "$5.80" in html
    assert not [p for p in report.folder.parent.iterdir() if p.name.startswith(".")]


def test_daily_report_escapes_alert_text_in_html(report_settings: Settings, filled_warehouse):
    db = report_settings.database_path
    store.record(db, "sess-carol", '<script>alert("x")</script> & | pipe', kind="alert")
    today = filled_warehouse.today.date()

    report = build_daily_report(
        report_settings, today, now=filled_warehouse.today + timedelta(hours=23, minutes=59)
    )

    assert report.headline["alerts"] == 1
    html = report.html_path.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; | pipe" in html
    assert r"&lt;script&gt;" not in report.markdown  # Markdown keeps text, escapes pipes
    assert r'<script>alert("x")</script> & \| pipe' in report.markdown


def test_daily_report_on_an_empty_warehouse_says_so(tmp_path: Path):
    settings = load_settings(
        database_path=tmp_path / "empty.duckdb", reports_dir=tmp_path / "r", _env_file=None
    )
    ensure_schema(settings.database_path)
    report = build_daily_report(settings, date(2026, 1, 5))

    assert report.headline["total_cost_usd"] == 0 and report.headline["sessions"] == 0
    assert report.charts == ()
    assert "No session billed anything on this day." in report.markdown
    assert "No session is billing now." in report.markdown
    assert report.html_path.is_file() and report.folder.name == "2026-01-05"


def test_rebuild_replaces_the_report_and_a_failed_build_leaves_the_old_one(
    report_settings: Settings, filled_warehouse: Filled, monkeypatch: pytest.MonkeyPatch
):
    day = filled_warehouse.day
    first = build_daily_report(report_settings, day, now=filled_warehouse.today)
    second = build_daily_report(report_settings, day, now=filled_warehouse.today)
    assert second.folder == first.folder and second.markdown_path.read_text() == second.markdown

    def broken_renderer(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("renderer crashed half way")

    monkeypatch.setattr(writer.vl_convert, "vegalite_to_png", broken_renderer)
    with pytest.raises(RuntimeError, match="half way"):
        build_daily_report(report_settings, day, now=filled_warehouse.today)
    assert first.markdown_path.read_text() == second.markdown
    assert all(chart.is_file() for chart in second.charts)
    leftovers = [p.name for p in first.folder.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_daily_report_refuses_a_future_day(report_settings: Settings, filled_warehouse):
    tomorrow = filled_warehouse.today.date() + timedelta(days=1)
    with pytest.raises(
        InvalidInputError, match=f"--date must not be in the future, got {tomorrow}"
    ):
        build_daily_report(report_settings, tomorrow, now=filled_warehouse.today)


def test_unwritable_reports_dir_is_a_clear_error(report_settings: Settings, filled_warehouse):
    blocker = report_settings.reports_dir
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the reports folder should be")
    with pytest.raises(ShopperError, match=f"REPORTS_DIR: cannot write under {blocker}"):
        build_daily_report(report_settings, filled_warehouse.day, now=filled_warehouse.today)


def test_daily_report_lists_the_budget_alerts_of_the_day(
    report_settings: Settings, filled_warehouse: Filled
):
    """Bug: budget thresholds crossed during the day showed only as a state in the budgets
    table, not as alerts. bob ($5.00/month, 50 and 80 %) has spent 1 h 59 min x $2.40 =
    $4.76 by 23:59 of day D (95 %): both thresholds alert then, and the report lists them."""
    db = report_settings.database_path
    set_budget(db, "bob", Decimal("5.00"), thresholds=(50, 80))
    late = midnight(filled_warehouse.day) + timedelta(hours=23, minutes=59)
    send_budget_alerts(report_settings, now=late)

    report = build_daily_report(report_settings, filled_warehouse.day, now=filled_warehouse.today)

    assert report.headline["budget_alerts"] == 2
    assert "| 23:59:00 | bob | 50% | $4.76 of $5.00 | warn | off |" in report.markdown
    assert "| 23:59:00 | bob | 80% | $4.76 of $5.00 | warn | off |" in report.markdown
