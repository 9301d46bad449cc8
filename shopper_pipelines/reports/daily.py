"""The daily cost report: one UTC day's spend, what still runs, budgets and alerts.

Figures come from the costs capability (ledger and budgets), so the report, the CLI and
the app agree to the micro-dollar; money is shown rounded to the cent.
"""

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from shopper_pipelines.costs import ledger
from shopper_pipelines.costs.alerts import list_alerts
from shopper_pipelines.costs.billing import cents
from shopper_pipelines.costs.budgets import GLOBAL
from shopper_pipelines.reports import budget_section, charts
from shopper_pipelines.reports.document import Chart, Document, Heading, Table, Text
from shopper_pipelines.reports.periods import Window, day_window
from shopper_pipelines.reports.writer import Report, write_report
from shopper_pipelines.sessions.store import alerts_between, list_sessions
from shopper_pipelines.settings import Settings
from shopper_pipelines.warehouse import ensure_schema

TREND_DAYS = 30
TOP_SESSIONS = 10
TOP_RUNNING = 10
# (summary key, row field, column title, heading)
_GROUPS = (
    ("by_consumer", "consumer", "Consumer", "By consumer"),
    ("by_provider", "provider", "Provider", "By provider"),
    ("by_gpu", "gpu_model", "GPU", "By GPU model"),
)


def usd(value: Decimal | float) -> str:
    return f"${cents(Decimal(str(value))):,}"


def _breakdowns(doc: Document, summary: dict[str, Any]) -> None:
    for key, field, label, heading in _GROUPS:
        doc.add(Heading(heading, level=3))
        rows = [
            [str(row[field]), usd(row["cost"]), f"{row['hours']:.1f}", str(row["sessions"])]
            for row in summary[key]
        ]
        doc.add(Table([label, "Cost", "Hours", "Sessions"], rows, empty="No spend."))


def _top_sessions(settings: Settings, window: Window, now: datetime) -> list[dict[str, Any]]:
    """The day's most expensive sessions, each costed by the ledger for that day only.

    Each item: session_id, consumer, provider, gpu_model, cost (Decimal), hours.
    TODO: drop the fallback once `costs.ledger.session_costs(db, start, end, now, limit)`
    (one grouped query) ships; until then each candidate, a session whose life overlaps
    the day, is one small ledger query (about 6 s for 76 sessions a day, see
    tests/perf/test_report_benchmarks.py).
    """
    day = window.first_day
    grouped = getattr(ledger, "session_costs", None)
    if grouped is not None:
        return list(grouped(settings.database_path, day, day, now=now, limit=TOP_SESSIONS))
    costed = []
    for session in list_sessions(settings.database_path):
        ended = session.terminated_at
        if session.created_at >= window.end or (ended is not None and ended < window.start):
            continue
        total = ledger.cost_summary(
            settings.database_path, session=session.session_id, start=day, end=day, now=now
        )["total"]
        if total["cost"] > 0:
            costed.append({
                "session_id": session.session_id, "consumer": session.consumer_id,
                "provider": session.provider, "gpu_model": session.gpu_model,
                "cost": total["cost"], "hours": total["hours"],
            })  # fmt: skip
    costed.sort(key=lambda item: (-item["cost"], item["session_id"]))
    return costed[:TOP_SESSIONS]


def _sessions_section(doc: Document, settings: Settings, window: Window, now: datetime) -> None:
    doc.add(Heading("Most expensive sessions of the day"))
    rows = [
        [item["session_id"], item["consumer"], item["provider"], item["gpu_model"],
         f"{item['hours']:.2f}", usd(item["cost"])]
        for item in _top_sessions(settings, window, now)
    ]  # fmt: skip
    columns = ["Session", "Consumer", "Provider", "GPU", "Hours", "Cost that day"]
    doc.add(Table(columns, rows, empty="No session billed that day."))


def _running_section(doc: Document, settings: Settings, now: datetime) -> dict[str, Any]:
    running = ledger.running_costs(settings.database_path, now)
    doc.add(Heading(f"Running now ({now:%Y-%m-%d %H:%M} UTC)"))
    rows = [
        [
            row["session_id"],
            row["consumer"],
            row["provider"],
            row["gpu_model"],
            row["status"],
            f"{row['hours']:.2f}",
            usd(row["cost"]),
            f"${row['price_per_hour']:.3f}/h",
            usd(row["projected_cost"]),
        ]
        for row in running[:TOP_RUNNING]
    ]
    columns = [
        "Session",
        "Consumer",
        "Provider",
        "GPU",
        "Status",
        "Hours",
        "Cost so far",
        "Rate",
        "Projected",
    ]
    doc.add(Table(columns, rows, empty="No session is billing now."))
    if len(running) > TOP_RUNNING:
        doc.add(Text(f"{len(running) - TOP_RUNNING} more sessions are billing."))
    so_far = sum((row["cost"] for row in running), Decimal(0))
    rate = sum((row["price_per_hour"] for row in running), Decimal(0))
    return {
        "running_sessions": len(running),
        "running_cost_so_far_usd": float(cents(so_far)),
        "running_rate_usd_per_hour": float(rate),
    }


def _alerts_section(doc: Document, settings: Settings, window: Window) -> int:
    alerts = alerts_between(settings.database_path, window.start, window.end)
    doc.add(Heading("Session alerts of the day"))
    rows = [
        [
            f"{a['occurred_at'].astimezone(UTC):%H:%M:%S}",
            a["session_id"],
            a["consumer_id"] or "-",
            a["reason"],
        ]
        for a in alerts
    ]
    doc.add(Table(["Time (UTC)", "Session", "Consumer", "Alert"], rows, empty="No alerts."))
    return len(alerts)


def _budget_alerts_section(doc: Document, settings: Settings, window: Window) -> int:
    """Budget thresholds crossed that day, with how each alert was delivered."""
    month = window.start.date().replace(day=1)
    alerts = [
        a
        for a in list_alerts(settings.database_path, month)
        if window.start <= a["sent_at"] < window.end
    ]
    doc.add(Heading("Budget alerts of the day"))
    rows = [
        [
            f"{a['sent_at'].astimezone(UTC):%H:%M:%S}",
            "everyone" if a["consumer"] == GLOBAL else a["consumer"],
            f"{a['threshold']}%",
            f"${cents(a['spend_usd'])} of ${cents(a['budget_usd'])}",
            a["action"],
            a["delivery"],
        ]
        for a in reversed(alerts)
    ]
    columns = ["Time (UTC)", "Consumer", "Threshold", "Spend", "Action", "Webhook"]
    doc.add(Table(columns, rows, empty="No budget threshold crossed."))
    return len(alerts)


def _charts(
    doc: Document, settings: Settings, day: date, summary: dict[str, Any], now: datetime
) -> None:
    trend = ledger.daily_costs(
        settings.database_path, day - timedelta(days=TREND_DAYS - 1), day, now
    )
    if trend.is_empty():
        return
    per_consumer = trend.group_by("day", "consumer").agg(pl.col("cost").sum())
    doc.add(
        Chart(
            "spend_per_day",
            "Spend per day by consumer",
            charts.spend_per_day(
                per_consumer,
                "consumer",
                f"Spend per day, last {TREND_DAYS} days",
                (day - timedelta(days=TREND_DAYS - 1), day),
            ),
        ),
    )
    by_gpu = pl.DataFrame(
        [{"gpu_model": row["gpu_model"], "cost": float(row["cost"])} for row in summary["by_gpu"]],
        schema={"gpu_model": pl.String(), "cost": pl.Float64()},
    )
    if not by_gpu.is_empty():
        doc.add(
            Chart(
                "spend_by_gpu",
                "Spend by GPU",
                charts.spend_by_category(
                    by_gpu, "gpu_model", f"Spend by GPU model on {day.isoformat()}"
                ),
            )
        )


def build_daily_report(settings: Settings, day: date, now: datetime | None = None) -> Report:
    """Build and write `reports_dir/daily/YYYY-MM-DD/` for the UTC day `day`."""
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    window = day_window(day, now)
    ensure_schema(settings.database_path)
    db = settings.database_path
    doc = Document(f"GPU spend on {day:%A %d %B %Y} (UTC)")

    summary = ledger.cost_summary(db, start=day, end=day, now=now)
    total = summary["total"]
    doc.add(Heading("Summary"))
    if total["sessions"] == 0:
        doc.add(Text("No session billed anything on this day."))
    else:
        doc.add(
            Text(
                f"Spent {usd(total['cost'])} on {total['sessions']} sessions "
                f"({total['hours']:.1f} instance-hours)."
            )
        )
        _breakdowns(doc, summary)
    _charts(doc, settings, day, summary, now)
    _sessions_section(doc, settings, window, now)
    headline: dict[str, Any] = {
        "day": day.isoformat(),
        "total_cost_usd": float(cents(total["cost"])),
        "sessions": int(total["sessions"]),
        "hours": float(total["hours"]),
        "top_consumer": summary["by_consumer"][0]["consumer"] if summary["by_consumer"] else "",
    }
    headline |= _running_section(doc, settings, now)
    headline |= budget_section.add_section(doc, settings, now)
    headline["alerts"] = _alerts_section(doc, settings, window)
    headline["budget_alerts"] = _budget_alerts_section(doc, settings, window)

    target = settings.reports_dir / "daily" / window.label
    return write_report(
        doc, target, kind="daily", period=window.label, headline=headline, started=started
    )
