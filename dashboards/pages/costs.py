"""Costs: where the money goes (spend over time by consumer, provider or GPU), budgets with
their status, and the most expensive sessions billing right now.

Days are UTC. Figures come from the costs capability's ledger, the same numbers as
`gpu-shopper costs` and the daily report; they are cached for a few seconds.
"""

from datetime import date, timedelta

import streamlit as st

from dashboards import costs_charts, costs_data, data
from shopper_pipelines.errors import ShopperError
from shopper_pipelines.reports.periods import today_utc

DEFAULT_DAYS = 30
NO_WAREHOUSE = (
    "The warehouse does not exist yet. Fetch offers with `uv run gpu-shopper ingest`, "
    "then rent a session from the Shop page: its cost shows here."
)
NO_SPEND = "No session billed anything in these dates."
NO_BUDGETS = (
    "No budgets yet. Set one with "
    "`uv run gpu-shopper budgets set CONSUMER --monthly USD [--action warn|refuse|stop]`."
)
NO_RUNNING = "No session is billing right now."
_MONEY = "$%.2f"
BUDGET_COLUMNS = {
    "consumer": st.column_config.TextColumn("Consumer"),
    "spend_usd": st.column_config.NumberColumn("Spent this month", format=_MONEY),
    "monthly_usd": st.column_config.NumberColumn("Monthly budget", format=_MONEY),
    "used": st.column_config.ProgressColumn("Used", format="percent", min_value=0, max_value=1),
    "percent": st.column_config.NumberColumn("%", format="%.1f%%"),
    "projected_usd": st.column_config.NumberColumn("Projected", format=_MONEY),
    "crossed": st.column_config.TextColumn("Thresholds crossed"),
    "state": st.column_config.TextColumn("State"),
    "action": st.column_config.TextColumn("At 100%"),
}
RUNNING_COLUMNS = {
    "session_id": st.column_config.TextColumn("Session"),
    "consumer": st.column_config.TextColumn("Consumer"),
    "provider": st.column_config.TextColumn("Provider"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "status": st.column_config.TextColumn("Status"),
    "hours": st.column_config.NumberColumn("Hours", format="%.2f"),
    "cost": st.column_config.NumberColumn("Cost so far", format=_MONEY),
    "price_per_hour": st.column_config.NumberColumn("$/h now", format="$%.3f"),
    "projected_cost": st.column_config.NumberColumn("Projected", format=_MONEY),
    "expires_at": st.column_config.DatetimeColumn("Reserved until", format="YYYY-MM-DD HH:mm"),
}


def range_widgets() -> tuple[date, date, str]:
    """The UTC dates to show (both inclusive) and what to group spend by."""
    today = today_utc()
    left, right = st.columns([2, 1])
    picked = left.date_input(
        "Dates (UTC)",
        value=(today - timedelta(days=DEFAULT_DAYS - 1), today),
        max_value=today,
        key="costs_range",
    )
    group = right.selectbox(
        "Group by",
        list(costs_charts.GROUPS),
        format_func=costs_charts.GROUPS.__getitem__,
        key="costs_group",
    )
    days = [day for day in (picked if isinstance(picked, tuple) else (picked,)) if day]
    start = days[0] if days else today
    end = days[-1] if days else today  # one date picked so far: that day alone
    return start, end, str(group)


def show_spend(db_path, start: date, end: date, group: str) -> None:
    """Totals, then spend per day stacked by the chosen group, then totals per group."""
    totals = costs_data.totals(db_path, start, end)
    running = costs_data.running(db_path)
    cols = st.columns(4)
    cols[0].metric("Spend", f"${totals.cost:,.2f}")
    cols[1].metric("Sessions", f"{totals.sessions}")
    cols[2].metric("Instance-hours", f"{totals.hours:,.1f}")
    rate = running["price_per_hour"].sum() if not running.is_empty() else 0.0
    count = f"{running.height} session{'' if running.height == 1 else 's'}"
    cols[3].metric("Billing now", f"${rate:,.2f}/h", count, "off")
    spend = costs_data.spend(db_path, start, end)
    if spend.is_empty():
        st.info(NO_SPEND)
        return
    left, right = st.columns([3, 2])
    left.altair_chart(costs_charts.spend_over_time(spend, group), width="stretch")
    right.altair_chart(costs_charts.spend_by_group(spend, group), width="stretch")


def show_budgets(db_path) -> None:
    st.subheader("Budgets")
    table = costs_data.budgets(db_path)
    if table.is_empty():
        st.info(NO_BUDGETS)
        return
    for row in table.filter(table["state"] != "ok").iter_rows(named=True):
        (st.error if row["state"] == "exceeded" else st.warning)(
            f"{row['consumer']}: {row['percent']:.0f}% of ${row['monthly_usd']:,.2f} used "
            f"this month (thresholds crossed: {row['crossed']}; at 100%: {row['action']})."
        )
    st.dataframe(
        table, hide_index=True, column_order=list(BUDGET_COLUMNS), column_config=BUDGET_COLUMNS
    )


def show_running(db_path) -> None:
    st.subheader("Most expensive sessions billing now")
    table = costs_data.running(db_path)
    if table.is_empty():
        st.info(NO_RUNNING)
        return
    st.dataframe(
        table, hide_index=True, column_order=list(RUNNING_COLUMNS), column_config=RUNNING_COLUMNS
    )


def render() -> None:
    st.title("Costs")
    db_path = data.settings().database_path
    if not data.warehouse_exists(db_path):
        st.info(NO_WAREHOUSE)
        return
    start, end, group = range_widgets()
    show_spend(db_path, start, end, group)
    show_budgets(db_path)
    show_running(db_path)


try:
    render()
except ShopperError as error:
    st.error(str(error))
