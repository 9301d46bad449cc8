"""`report daily|weekly`: build a report on demand."""

import typer

report_app = typer.Typer(help="Build the daily cost or weekly market report.", no_args_is_help=True)
