"""Rendering for the CLI: Rich tables for people, JSON for scripts."""

import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the width


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(payload: Any) -> None:
    sys.stdout.write(orjson.dumps(payload, default=_plain, option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")


def money(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"${value:.{digits}f}"


def number(value: float | None, fmt: str = "g") -> str:
    return "-" if value is None else format(value, fmt)


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> Table:
    out = Table(title=title, header_style="bold", title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    return out
