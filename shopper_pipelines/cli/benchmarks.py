"""`benchmarks list|get|best|cheapest|compare|recommend|load`: reading benchmark results."""

import typer

benchmarks_app = typer.Typer(
    help="Measured LLM inference per GPU, and $/M-token advice.", no_args_is_help=True
)
