"""The budgets part of the daily report: each budget's month so far and its thresholds."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from shopper_pipelines.costs.billing import cents
from shopper_pipelines.costs.budgets import budget_status
from shopper_pipelines.reports.document import Document, Heading, Table
from shopper_pipelines.settings import Settings


def _usd(value: Decimal) -> str:
    return f"${cents(value):,}"


def add_section(doc: Document, settings: Settings, now: datetime) -> dict[str, Any]:
    doc.add(Heading(f"Budgets ({now:%B %Y}, UTC month to date)"))
    statuses = budget_status(settings.database_path, now)
    rows = [
        [
            "everyone (global)" if status["global"] else str(status["consumer"]),
            _usd(status["spend_usd"]),
            _usd(status["monthly_usd"]),
            f"{status['percent']:.0f}%",
            _usd(status["projected_usd"]),
            ", ".join(f"{t}%" for t in status["crossed"]) or "none",
            str(status["state"]),
            str(status["action"]),
        ]
        for status in statuses
    ]
    columns = [
        "Consumer",
        "Spent",
        "Budget",
        "Used",
        "Projected",
        "Thresholds crossed",
        "State",
        "Action at 100%",
    ]
    doc.add(Table(columns, rows, empty="No budgets set (`gpu-shopper budgets set`)."))
    return {
        "budgets": len(statuses),
        "budgets_exceeded": sum(1 for status in statuses if status["state"] == "exceeded"),
        "budgets_warning": sum(1 for status in statuses if status["state"] == "warning"),
        "budgets_over_projected": sum(
            1 for status in statuses if status["state"] == "over (projected)"
        ),
    }
