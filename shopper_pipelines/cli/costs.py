"""`costs`, `costs summary` and `budgets ...`: what sessions cost, and spending limits."""

import typer

costs_app = typer.Typer(help="What sessions cost, by consumer, provider, GPU, day and month.")
budgets_app = typer.Typer(help="Monthly budgets per consumer, with alerts.", no_args_is_help=True)
