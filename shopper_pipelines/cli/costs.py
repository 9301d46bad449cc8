"""`costs`, `costs summary` and `budgets ...`: what sessions cost, and spending limits.

JSON money: every amount is a JSON number in dollars to 6 decimal places (what the
ledger adds up), with a sibling `<name>_cents` string rounded half-up to the cent (what
to show). Dates are UTC; `--start/--end` are inclusive UTC days.
"""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer

from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, print_json, table
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.settings import get_settings

costs_app = typer.Typer(help="What sessions cost, by consumer, provider, GPU, day and month.")
budgets_app = typer.Typer(help="Monthly budgets per consumer, with alerts.", no_args_is_help=True)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(flag: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{flag} must be a date YYYY-MM-DD, got {text!r}") from None


def usd(value: Decimal | float | int | None) -> str:
    from shopper_pipelines.costs.billing import cents

    return "-" if value is None else f"${cents(Decimal(str(value))):,}"


def jsonable(value: Any) -> Any:
    """Decimals to 6-dp numbers plus `<key>_cents` strings; dates to ISO text."""
    from shopper_pipelines.costs.billing import cents

    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, Decimal):
                out[key] = float(round(item, 6))
                out[f"{key}_cents"] = str(cents(item))
            else:
                out[key] = jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _lines(title: str, rows: list[tuple[str, str]]) -> None:
    console.print(f"\n{title}:", highlight=False)
    width = max((len(name) for name, _ in rows), default=0) + 3
    for name, amount in rows:
        console.print(f"  {name:<{width}}{amount}", highlight=False)


@costs_app.callback(invoke_without_command=True)
def costs(
    ctx: typer.Context,
    consumer: Annotated[str | None, typer.Option("-c", "--consumer", help="Consumer id")] = None,
    session: Annotated[
        str | None, typer.Option("-s", "--session", help="One session's bill, with segments")
    ] = None,
    period: Annotated[
        str | None, typer.Option("-p", "--period", help="daily or monthly breakdown")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First UTC day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last UTC day, YYYY-MM-DD")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Total cost, sessions and hours, by provider and GPU (running sessions to now)."""
    if ctx.invoked_subcommand is not None:
        return
    if session:
        given = [flag for flag, value in (("-c/--consumer", consumer), ("-p/--period", period),
                 ("--start", start), ("--end", end)) if value is not None]  # fmt: skip
        if given:
            raise InvalidInputError(
                f"-s/--session {session!r} cannot be combined with {', '.join(given)}: a"
                " session's bill covers its whole life; drop -s for a filtered summary"
            )
    from shopper_pipelines.costs.ledger import PERIODS, check_range, cost_summary, session_cost

    if period is not None and period not in PERIODS:
        raise InvalidInputError(f"--period must be daily or monthly, got {period!r}")
    first, last = parse_day("--start", start), parse_day("--end", end)
    check_range(first, last)
    db = get_settings().database_path
    if session:
        bill = session_cost(db, session)
        if output is OutputFormat.json:
            print_json(jsonable(bill))
        else:
            _print_bill(bill)
        return
    summary = cost_summary(db, consumer=consumer, start=first, end=last, period=period)
    if output is OutputFormat.json:
        print_json(jsonable(summary))
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    total = summary["total"]
    scope = [f"consumer {summary['consumer']}"] if summary["consumer"] else []
    if summary["start"] or summary["end"]:
        scope.append(f"{summary['start'] or '...'} to {summary['end'] or '...'} UTC")
    console.print("Cost Summary" + (f" ({', '.join(scope)})" if scope else ""), highlight=False)
    console.print("============", highlight=False)
    console.print(f"\nTotal Cost:    {usd(total['cost'])}", highlight=False)
    console.print(f"Sessions:      {total['sessions']}", highlight=False)
    console.print(f"Hours Used:    {total['hours']:.1f}", highlight=False)
    if total["running"]:
        console.print(f"Running:       {total['running']} (cost so far included)", highlight=False)
    if summary["by_provider"]:
        _lines("By Provider", [(r["provider"], usd(r["cost"])) for r in summary["by_provider"]])
        _lines("By GPU Type", [(r["gpu_model"], usd(r["cost"])) for r in summary["by_gpu"]])
    if summary["period"]:
        rows = [[str(r["period"])[: 7 if summary["period"] == "monthly" else 10],
                 usd(r["cost"]), str(r["sessions"]), f"{r['hours']:.1f}"]
                for r in summary["by_period"]]  # fmt: skip
        console.print()
        console.print(table(f"By {summary['period']} period (UTC)",
                            ["PERIOD", "COST", "SESSIONS", "HOURS"], rows))  # fmt: skip


def _print_bill(bill: dict[str, Any]) -> None:
    ended = bill["billing_end"] or ("still accruing" if bill["accruing"] else "-")
    rows = [
        ["consumer", bill["consumer"]],
        ["provider / GPU", f"{bill['provider']} / {bill['gpu_model']} x{bill['gpu_count']}"],
        ["status", bill["status"]],
        ["billing start", f"{bill['billing_start'] or '-'} ({bill['billing_start_source']})"],
        ["billing end", str(ended)],
        ["hours", f"{bill['hours']:.2f}"],
        ["cost", usd(bill["cost"]) + (" so far" if bill["accruing"] else "")],
    ]
    console.print(table(f"Session {bill['session_id']}", ["FIELD", "VALUE"], rows))
    segments = [[f"{s['start']:%m-%d %H:%M:%S}", f"{s['end']:%m-%d %H:%M:%S}", s["kind"],
                 f"${s['price_per_hour']:.4f}/h ({s['source']})", f"{s['hours']:.2f}",
                 usd(s["cost"])] for s in bill["segments"]]  # fmt: skip
    if segments:
        console.print(table("Segments (UTC)", ["FROM", "TO", "KIND", "PRICE", "HOURS", "COST"],
                            segments))  # fmt: skip
        days = [[str(d["day"]), usd(d["cost"])] for d in bill["by_day"]]
        console.print(table("By day (UTC)", ["DAY", "COST"], days))


def _month_bounds(today: date) -> tuple[date, date, date, date]:
    this_first = today.replace(day=1)
    last_first = (this_first - timedelta(days=1)).replace(day=1)
    return last_first, this_first - timedelta(days=1), this_first, today


@costs_app.command("summary")
def costs_summary(
    consumer: Annotated[str | None, typer.Option("-c", "--consumer", help="Consumer id")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """This month and last month per consumer, with budgets and running sessions."""
    from shopper_pipelines.costs.budgets import budget_status
    from shopper_pipelines.costs.ledger import cost_summary

    db = get_settings().database_path
    now = datetime.now(UTC)
    last_first, last_end, this_first, today = _month_bounds(now.date())
    last = cost_summary(db, consumer=consumer, start=last_first, end=last_end, now=now)
    this = cost_summary(db, consumer=consumer, start=this_first, end=today, now=now)
    budgets = {b["consumer"]: b for b in budget_status(db, now) if b["action"]}
    names = sorted({r["consumer"] for r in last["by_consumer"] + this["by_consumer"]}
                   | ({consumer} if consumer else set()) | (set(budgets) - {"*"}))  # fmt: skip
    if consumer:
        names = [consumer]
    spent_last = {r["consumer"]: r["cost"] for r in last["by_consumer"]}
    spent_this = {r["consumer"]: r["cost"] for r in this["by_consumer"]}
    rows = []
    for name in names:
        budget = budgets.get(name)
        rows.append({
            "consumer": name, "last_month": spent_last.get(name, Decimal(0)),
            "this_month": spent_this.get(name, Decimal(0)),
            "budget_usd": budget["monthly_usd"] if budget else None,
            "percent": budget["percent"] if budget else None,
            "projected_usd": budget["projected_usd"] if budget else None,
            "action": budget["action"] if budget else None,
            "state": budget["state"] if budget else None,
        })  # fmt: skip
    payload = {
        "as_of": now, "this_month": f"{this_first:%Y-%m}", "last_month": f"{last_first:%Y-%m}",
        "consumers": rows, "total_this_month": this["total"]["cost"],
        "total_last_month": last["total"]["cost"], "global_budget": budgets.get("*"),
    }  # fmt: skip
    if output is OutputFormat.json:
        print_json(jsonable(payload))
        return
    shown = [[r["consumer"], usd(r["last_month"]), usd(r["this_month"]), usd(r["budget_usd"]),
              "-" if r["percent"] is None else f"{r['percent']:.1f}%",
              usd(r["projected_usd"]), r["action"] or "-"] for r in rows]  # fmt: skip
    columns = ["CONSUMER", f"{last_first:%Y-%m}", f"{this_first:%Y-%m}", "BUDGET", "USED",
               "PROJECTED", "ACTION"]  # fmt: skip
    console.print(table("Costs per consumer (UTC months)", columns, shown))
    console.print(f"Total: {usd(this['total']['cost'])} this month, "
                  f"{usd(last['total']['cost'])} last month", highlight=False)  # fmt: skip
    if "*" in budgets:
        g = budgets["*"]
        console.print(f"Global budget: {usd(g['spend_usd'])} of {usd(g['monthly_usd'])} "
                      f"({g['percent']:.1f}%, action {g['action']})", highlight=False)  # fmt: skip


Global = Annotated[
    bool, typer.Option("--global", help="The global budget (everyone's spend together)")
]


def _target(consumer: str | None, is_global: bool) -> str:
    if is_global == (consumer is not None):
        raise InvalidInputError("give exactly one of CONSUMER or --global")
    return "*" if is_global else str(consumer)


@budgets_app.command("set")
def budgets_set(
    consumer: Annotated[str | None, typer.Argument(help="Consumer id")] = None,
    monthly: Annotated[
        str | None,
        typer.Option("--monthly", help="Monthly budget, USD (required for a new budget)"),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option("--thresholds", help="Alert at these percentages (new budget: 50,80,100)"),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            help="At 100%: warn, refuse (new sessions) or stop (all) (new budget: warn)",
        ),
    ] = None,
    is_global: Global = False,
    output: Output = OutputFormat.table,
) -> None:
    """Create a consumer's monthly budget (or the global one), or change an existing one.

    Options not given keep the existing budget's values (a new budget needs --monthly
    and gets alerts at 50,80,100 % and action warn), so e.g. `--thresholds 150` alone
    changes only the thresholds.
    """
    from shopper_pipelines.costs.budgets import parse_thresholds, set_budget

    target = _target(consumer, is_global)
    parsed = None if thresholds is None else parse_thresholds(thresholds)
    budget = set_budget(get_settings().database_path, target, monthly, thresholds=parsed,
                        action=action)  # fmt: skip
    if output is OutputFormat.json:
        print_json(jsonable(budget.view()))
        return
    who = "global budget" if budget.is_global else f"budget for {budget.consumer_id}"
    console.print(f"Set {who}: {usd(budget.monthly_usd)}/month, alerts at "
                  f"{', '.join(f'{t}%' for t in budget.thresholds)}, "
                  f"action {budget.action}", highlight=False)  # fmt: skip


@budgets_app.command("list")
def budgets_list(output: Output = OutputFormat.table) -> None:
    """Every budget with this month's spend (running sessions to now)."""
    from shopper_pipelines.costs.budgets import budget_status

    statuses = budget_status(get_settings().database_path)
    if output is OutputFormat.json:
        print_json(jsonable({"budgets": statuses, "total": len(statuses)}))
        return
    rows = [["(global)" if s["global"] else s["consumer"], usd(s["monthly_usd"]),
             usd(s["spend_usd"]), f"{s['percent']:.1f}%", usd(s["projected_usd"]),
             "/".join(map(str, s["thresholds"])), s["action"], s["state"]]
            for s in statuses]  # fmt: skip
    columns = ["CONSUMER", "MONTHLY", "SPENT", "USED", "PROJECTED", "ALERT %", "ACTION",
               "STATE"]  # fmt: skip
    console.print(table("Budgets (this UTC month)", columns, rows))
    console.print(f"Total: {len(statuses)} budgets")


@budgets_app.command("delete")
def budgets_delete(
    consumer: Annotated[str | None, typer.Argument(help="Consumer id")] = None,
    is_global: Global = False,
    output: Output = OutputFormat.table,
) -> None:
    """Remove a consumer's budget (or the global one)."""
    from shopper_pipelines.costs.budgets import delete_budget

    removed = delete_budget(get_settings().database_path, _target(consumer, is_global))
    if output is OutputFormat.json:
        print_json(jsonable({"deleted": removed.view()}))
        return
    console.print(f"Deleted the budget of {removed.consumer_id}", highlight=False)


@budgets_app.command("check")
def budgets_check(output: Output = OutputFormat.table) -> None:
    """Send due alerts and apply `stop` budgets now (Dagster's budget sensor does this)."""
    from shopper_pipelines.costs.alerts import send_budget_alerts, stop_over_budget

    settings = get_settings()
    sent = send_budget_alerts(settings)
    stopped = stop_over_budget(settings)
    if output is OutputFormat.json:
        print_json(jsonable({"alerts": sent, "stopped": stopped}))
        return
    for alert in sent:
        channels = alert["channels"]
        resent = alert.get("resent")
        label = "ALERT" if resent is None else ("RESENT ALERT" if resent else "ALERT GIVEN UP")
        delivery = f", delivery {channels['delivery']}" if channels.get("delivery") else ""
        console.print(f"{label} {alert['message']} (webhook: {channels['webhook']}{delivery})",
                      highlight=False)  # fmt: skip
    for session_id in stopped:
        console.print(f"Stopped {session_id}: monthly budget exceeded", highlight=False)
    if not sent and not stopped:
        console.print("No alert due; no session to stop.")
