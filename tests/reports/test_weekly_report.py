"""The weekly market report: price moves worked by hand, real history, real offers."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.search import OfferFilters, search_offers
from shopper_pipelines.reports.weekly import build_weekly_report
from shopper_pipelines.settings import Settings, load_settings
from shopper_pipelines.warehouse import connect
from tests.reports.conftest import HISTORY_WEEK_ENDING

# (observed day in Nov 2025, provider, GPU model, median, min) in $/GPU-hour
POINTS = [
    (3, "vastai", "RTX 4090", "0.40", "0.35"),
    (5, "vastai", "RTX 4090", "0.40", "0.36"),
    (10, "vastai", "RTX 4090", "0.40", "0.33"),
    (12, "vastai", "RTX 4090", "0.42", "0.34"),
    (12, "tensordock", "RTX 4090", "0.46", "0.40"),
    (16, "vastai", "RTX 4090", "0.46", "0.31"),
    (11, "vastai", "H100 SXM", "2.00", "1.80"),
]


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        database_path=tmp_path / "w.duckdb", reports_dir=tmp_path / "reports", _env_file=None
    )


def test_weekly_price_moves_worked_example(tmp_path: Path):
    """Week 2025-W46 is Mon 10 to Sun 16 Nov. RTX 4090 daily medians (the median of the
    providers' medians): 10th 0.40; 12th median(0.42, 0.46) = 0.44; 16th 0.46. The
    week's median of those is 0.44; first to last day 0.40 -> 0.46 = +15.0%. The week
    before (3rd and 5th) has median 0.40, so vs last week (0.44 - 0.40) / 0.40 = +10.0%.
    The lowest price of the week is 0.31 (16th). H100 SXM has no week before: "-"."""
    settings = _settings(tmp_path)
    with connect(settings.database_path) as con:
        for day, provider, model, median, low in POINTS:
            con.execute(
                "INSERT INTO gpu_price_points VALUES (?, 'snapshot', ?, ?, 10, ?, ?, ?)",
                [datetime(2025, 11, day, 12, tzinfo=UTC), provider, model, Decimal(low),
                 Decimal(median), Decimal(median)],
            )  # fmt: skip

    report = build_weekly_report(settings, date(2025, 11, 16), now=datetime(2026, 1, 1, tzinfo=UTC))

    assert report.folder == settings.reports_dir / "weekly" / "2025-W46"
    text = report.markdown
    assert "| RTX 4090 | $0.440 | $0.400 → $0.460 (+15.0%) | +10.0% | $0.310 |" in text
    assert "| H100 SXM | $2.000 | $2.000 → $2.000 (+0.0%) | - | $1.800 |" in text
    assert report.headline["gpu_models_priced"] == 2
    assert report.headline["biggest_move_gpu"] == "RTX 4090"
    assert report.headline["biggest_move_pct"] == 10.0
    assert {path.name for path in report.charts} == {"median_price.png", "week_over_week.png"}
    assert "No current offers" in text


def test_weekly_report_on_real_history_and_offers(report_settings: Settings):
    report = build_weekly_report(report_settings, HISTORY_WEEK_ENDING)

    text = report.markdown_path.read_text()
    moves = re.findall(r"^\| ([^|]+) \| \$[\d.]+ \| \$[\d.]+ → \$[\d.]+ ", text, re.M)
    assert len(moves) == report.headline["gpu_models_priced"] > 0
    assert "H100 SXM" in moves
    cheapest = search_offers(report_settings.database_path, OfferFilters(gpu="RTX 4090", limit=1))
    offer = cheapest.offers[0]
    assert f"| RTX 4090 | {cheapest.total} | ${offer['price_per_hour']:.3f} |" in text
    assert f"| {offer['id']} |" in text
    assert "Cheapest per million tokens" in text and "llama3.1:8b" in text
    for chart in report.charts:
        assert chart.read_bytes()[:4] == b"\x89PNG"
    html = report.html_path.read_text()
    assert f"<td>{offer['id']}</td>" in html and '<img src="median_price.png"' in html


def test_weekly_report_without_prices_says_so(tmp_path: Path):
    report = build_weekly_report(_settings(tmp_path), date(2026, 11, 29))
    assert "No price points this week" in report.markdown
    assert "No current offers" in report.markdown
    assert report.charts == ()


@pytest.mark.parametrize(
    ("week_ending", "message"),
    [
        (date(2025, 11, 15), "--week-ending must be a Sunday .* got 2025-11-15 \\(a Saturday\\)"),
        (date(2099, 1, 4), "--week-ending must not be a week in the future, got 2099-01-04"),
    ],
)
def test_weekly_report_refuses_bad_weeks(tmp_path: Path, week_ending: date, message: str):
    with pytest.raises(InvalidInputError, match=message):
        build_weekly_report(_settings(tmp_path), week_ending)
