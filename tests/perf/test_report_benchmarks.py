"""Report benchmarks: print how long the daily and weekly reports take on a realistic
warehouse (30 days of sessions, one ingest, the imported market history); no timed asserts.

References in the same run: rendering one chart to PNG alone, and the ledger's summary of
the same day, so the figures separate data reads from drawing.
"""

import statistics
import time
from dataclasses import replace
from datetime import timedelta

import altair as alt
import pytest
import vl_convert

from shopper_pipelines.costs.ledger import cost_summary
from shopper_pipelines.inventory.history_import import import_history
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.reports.daily import build_daily_report
from shopper_pipelines.reports.periods import default_week_ending, midnight, today_utc
from shopper_pipelines.reports.weekly import build_weekly_report
from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.models import Status
from shopper_pipelines.settings import load_settings
from tests.reports.conftest import HISTORY_WEEK_ENDING, MARKET_HISTORY
from tests.reports.sessions_support import add_session

pytestmark = pytest.mark.perf
DAYS = 30
SESSIONS_PER_DAY = 40
RUNNING = 20
RUNS = 3
CONSUMERS = ("research", "inference", "batch-jobs", "alice", "bob", "ci")
GPUS = (("RTX 4090", 0.35), ("H100 SXM", 2.1), ("A100 SXM4", 1.2), ("RTX 3090", 0.2))


def _report(capsys, title, rows):
    with capsys.disabled():
        print(f"\n== {title}")
        for name, value in rows:
            print(f"   {name:<56} {value}")


def _median_ms(samples):
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def test_bench_daily_and_weekly_reports(sandbox_url, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    settings = load_settings(
        database_path=db, sandbox_url=sandbox_url, reports_dir=tmp_path / "r", _env_file=None
    )
    ingest(settings)
    import_history(db, MARKET_HISTORY)
    today = midnight(today_utc())
    add_session(db, "sess-template", consumer="ci", start=today - timedelta(hours=1), end=None,
                price=0.35)  # fmt: skip
    template = store.require_session(db, "sess-template")
    sessions = []
    for n in range(DAYS * SESSIONS_PER_DAY + RUNNING):
        gpu, price = GPUS[n % len(GPUS)]
        start = today - timedelta(days=DAYS) + timedelta(minutes=n * 36 % (DAYS * 1440))
        running = n >= DAYS * SESSIONS_PER_DAY
        end = None if running else start + timedelta(minutes=20 + n % 600)
        sessions.append(replace(
            template, session_id=f"sess-p{n:05d}", consumer_id=CONSUMERS[n % len(CONSUMERS)],
            gpu_model=gpu, price_per_hour=price * (1 + n % 4), gpu_count=1 + n % 4,
            created_at=start, terminated_at=end, instance_id=f"i-{n}",
            status=Status.RUNNING if running else Status.TERMINATED,
            label=f"gpu-shopper:reports:sess-p{n:05d}",
        ))  # fmt: skip
    store.insert_sessions(db, sessions, "benchmark")
    day = (today - timedelta(days=1)).date()

    daily, weekly_history, weekly_now, summaries = [], [], [], []
    for _ in range(RUNS):
        daily.append(build_daily_report(settings, day))
        weekly_history.append(build_weekly_report(settings, HISTORY_WEEK_ENDING))
        weekly_now.append(build_weekly_report(settings, default_week_ending()))
        started = time.perf_counter()
        cost_summary(db, start=day, end=day)
        summaries.append(time.perf_counter() - started)
    assert daily[-1].headline["sessions"] > 0 and daily[-1].headline["running_sessions"] > 0
    assert weekly_history[-1].headline["gpu_models_priced"] > 0

    chart = alt.Chart(alt.Data(values=[{"x": i, "y": i} for i in range(30)])).mark_bar()
    renders = []
    for _ in range(RUNS):
        started = time.perf_counter()
        vl_convert.vegalite_to_png(chart.encode(x="x:O", y="y:Q").to_json(), scale=2)
        renders.append(time.perf_counter() - started)

    _report(capsys, f"reports on {len(sessions):,} sessions over {DAYS} days, median of {RUNS}", [
        (f"daily report ({len(daily[-1].charts)} charts, "
         f"{daily[-1].headline['sessions']} sessions that day)",
         _median_ms([r.duration_s for r in daily])),
        (f"weekly report, imported history week ({len(weekly_history[-1].charts)} charts)",
         _median_ms([r.duration_s for r in weekly_history])),
        (f"weekly report, last week ({len(weekly_now[-1].charts)} charts)",
         _median_ms([r.duration_s for r in weekly_now])),
        ("reference: cost_summary of that day", _median_ms(summaries)),
        ("reference: one small chart to PNG", _median_ms(renders)),
    ])  # fmt: skip
