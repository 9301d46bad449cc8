"""Cost benchmarks: a year of 100,000 sessions in a real DuckDB file; print figures only.

Target (issue 5): a cost summary over a year of 100,000 sessions under 1 s on two cores.
The figures are printed with the machine's core count; nothing here asserts a time.
"""

import os
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shopper_pipelines.costs.budgets import budget_status, check_provision, set_budget
from shopper_pipelines.costs.ledger import cost_summary, daily_costs, running_costs
from shopper_pipelines.sessions.models import Status
from tests.costs.ledger_support import Billed, insert

pytestmark = pytest.mark.perf
SESSIONS = 100_000
RUNS = 5
NOW = datetime(2026, 1, 1, 6, tzinfo=UTC)
PROVIDERS = ("vastai", "tensordock")
GPUS = ("RTX 4090", "RTX 3090", "A100 SXM4 80GB", "H100 SXM5 80GB", "L40S", "RTX A6000")


def _year_of_sessions(seed: int = 5) -> list[Billed]:
    """Starts spread over 2025; 10 min to 12 h; one in ten changes price mid-session;
    the last 200 still running at NOW (Jan 1 2026, 06:00)."""
    rng = random.Random(seed)
    year = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n in range(SESSIONS):
        running = n >= SESSIONS - 200
        start = NOW - timedelta(hours=rng.uniform(1, 12)) if running else year + timedelta(
            seconds=rng.uniform(0, 365 * 86400 - 13 * 3600))  # fmt: skip
        length = timedelta(minutes=rng.uniform(10, 720))
        price = Decimal(str(round(rng.uniform(0.1, 4.0), 4)))
        prices = [(start, price, "on_demand")]
        if n % 10 == 0:
            prices.append((start + length / 3, price * Decimal("1.1"), "on_demand"))
        out.append(Billed(
            f"sess-{n:06d}", f"consumer-{n % 50:02d}", start, prices,
            end=None if running else start + length,
            provider=PROVIDERS[n % 2], gpu_model=GPUS[n % len(GPUS)],
            status=Status.RUNNING if running else Status.TERMINATED,
        ))  # fmt: skip
    return out


def _median(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (min {min(samples) * 1000:.1f})"


def _time(call, runs: int = RUNS) -> tuple[list[float], object]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return samples, result


def test_bench_cost_summary_over_a_year_of_100k_sessions(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    started = time.perf_counter()
    insert(db, _year_of_sessions())
    build_s = time.perf_counter() - started
    set_budget(db, "consumer-07", "500", action="refuse")
    set_budget(db, "*", "100000")

    year = (date(2025, 1, 1), date(2025, 12, 31))
    rows = []
    samples, summary = _time(lambda: cost_summary(db, now=NOW))
    rows.append(("cost_summary, everything (totals, provider, GPU, consumer)", _median(samples)))
    assert isinstance(summary, dict) and summary["total"]["sessions"] == SESSIONS
    samples, daily = _time(lambda: cost_summary(db, start=year[0], end=year[1], period="daily",
                                                now=NOW))  # fmt: skip
    assert isinstance(daily, dict)
    rows.append((f"cost_summary, 2025 by day ({len(daily['by_period'])} rows)", _median(samples)))
    samples, _ = _time(lambda: cost_summary(db, period="monthly", now=NOW))
    rows.append(("cost_summary, by month", _median(samples)))
    samples, _ = _time(lambda: cost_summary(db, consumer="consumer-07", period="daily", now=NOW))
    rows.append(("cost_summary, one consumer by day", _median(samples)))
    samples, frame = _time(lambda: daily_costs(db, *year, now=NOW))
    rows.append((f"daily_costs for 2025 ({getattr(frame, 'height', 0):,} rows)", _median(samples)))
    samples, running = _time(lambda: running_costs(db, NOW))
    rows.append((f"running_costs ({len(running) if isinstance(running, list) else 0})",
                 _median(samples)))  # fmt: skip
    samples, _ = _time(lambda: budget_status(db, NOW))
    rows.append(("budget_status (2 budgets)", _median(samples)))
    samples, _ = _time(lambda: check_provision(db, "consumer-07", 0.5, 1, NOW))
    rows.append(("provision budget check", _median(samples)))

    total = summary["total"]
    with capsys.disabled():
        print(f"\n== costs over {SESSIONS:,} sessions (2025 + 200 running), "
              f"{os.cpu_count()} cores, median of {RUNS}")  # fmt: skip
        print(f"   {'build the warehouse (insert sessions + prices)':<62} {build_s:8.1f} s")
        for name, value in rows:
            print(f"   {name:<62} {value}")
        print(f"   total ${total['cost']:,.2f}, {total['hours']:,.0f} h, "
              f"{total['running']} running")  # fmt: skip
