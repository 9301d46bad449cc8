"""`report daily|weekly`: build a report on demand, as the Dagster schedules do."""

from typing import Annotated, Any

import typer

from shopper_pipelines.cli.inventory import Output, OutputFormat
from shopper_pipelines.cli.output import console, print_json, table
from shopper_pipelines.settings import get_settings

report_app = typer.Typer(help="Build the daily cost or weekly market report.", no_args_is_help=True)


def _show(report: Any, output: OutputFormat) -> None:
    """JSON for scripts; for people, the paths one per line (never wrapped) and a table of
    the headline figures."""
    if output is OutputFormat.json:
        print_json({"report": report.as_dict()})
        return
    console.print(f"{report.kind.capitalize()} report {report.period} written:", highlight=False)
    for path in (report.markdown_path, report.html_path, *report.charts):
        console.print(f"  {path}", soft_wrap=True, highlight=False)
    rows = [[name, str(value)] for name, value in report.headline.items()]
    console.print(table(None, ["FIGURE", "VALUE"], rows))


@report_app.command("daily")
def daily(
    day: Annotated[
        str | None,
        typer.Option("--date", help="UTC day as YYYY-MM-DD (default: yesterday, UTC)"),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Write the daily cost report under REPORTS_DIR/daily/YYYY-MM-DD/ and print its paths."""
    from shopper_pipelines.reports.periods import day_window, default_day, parse_date

    chosen = parse_date(day, "--date") if day is not None else default_day()
    day_window(chosen)  # refuse a future day before the slow imports
    from shopper_pipelines.reports.daily import build_daily_report  # slow: after parsing

    _show(build_daily_report(get_settings(), chosen), output)


@report_app.command("weekly")
def weekly(
    week_ending: Annotated[
        str | None,
        typer.Option(
            "--week-ending",
            help="The Sunday that ends the ISO week, YYYY-MM-DD (default: last Sunday, UTC)",
        ),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Write the weekly market report under REPORTS_DIR/weekly/YYYY-Www/ and print its paths."""
    from shopper_pipelines.reports.periods import default_week_ending, parse_date, week_window

    chosen = (
        parse_date(week_ending, "--week-ending")
        if week_ending is not None
        else default_week_ending()
    )
    week_window(chosen)  # refuse a bad week before the slow imports
    from shopper_pipelines.reports.weekly import build_weekly_report

    _show(build_weekly_report(get_settings(), chosen), output)
