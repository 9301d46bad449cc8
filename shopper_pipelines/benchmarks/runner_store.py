"""Benchmark runs' warehouse queries: the run row, its items, counters and progress.

Each function is one short unit of work on its own connection: the runner calls them
between SSH steps and never holds a connection across one.
"""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.warehouse import connect

RUN_STATUSES = ("queued", "running", "completed", "failed", "stopped_budget", "interrupted")
ITEM_STATUSES = ("pending", "running", "ok", "failed", "skipped_budget", "skipped")
FINISHED = frozenset({"completed", "failed", "stopped_budget", "interrupted"})
PROGRESS_MAX_CHARS = 500

_RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "status", "config", "max_budget_usd", "spent_usd", "estimated_usd",
    "created_at", "started_at", "finished_at", "items_total", "items_done", "items_failed",
    "error", "progress",
)  # fmt: skip
_ITEM_COLUMNS: tuple[str, ...] = (
    "run_id", "gpu_model", "model", "attempt", "status", "session_id", "offer_key",
    "provider", "price_per_hour", "estimated_usd", "error_type", "error", "retry_suggested",
    "result_id", "result_path", "cost_usd", "started_at", "finished_at",
)  # fmt: skip
_RUN_UPDATABLE = frozenset(_RUN_COLUMNS) - {"run_id", "config", "created_at"}
_ITEM_UPDATABLE = frozenset(_ITEM_COLUMNS) - {"run_id", "gpu_model", "model", "attempt"}


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _run(row: tuple[Any, ...]) -> dict[str, Any]:
    run: dict[str, Any] = dict(zip(_RUN_COLUMNS, row, strict=True))
    run["config"] = orjson.loads(run["config"]) if isinstance(run["config"], str) else run["config"]
    return run


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_ITEM_COLUMNS, row, strict=True))


def insert_run(
    db_path: Path,
    run_id: str,
    config: dict[str, Any],
    combinations: list[tuple[str, str]],
    max_budget: Decimal,
) -> None:
    """The run row and a pending first attempt per (gpu, model), in one transaction."""
    now = datetime.now(UTC)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO benchmark_runs (run_id, status, config, max_budget_usd, created_at,"
            " items_total, progress) VALUES (?, 'queued', ?, ?, ?, ?, 'queued')",
            [run_id, orjson.dumps(config).decode(), max_budget, now, len(combinations)],
        )
        for gpu, model in combinations:
            con.execute(
                "INSERT INTO benchmark_run_items (run_id, gpu_model, model, attempt, status)"
                " VALUES (?, ?, ?, 1, 'pending')",
                [run_id, gpu, model],
            )
        con.execute("COMMIT")


def get_run(db_path: Path, run_id: str) -> dict[str, Any] | None:
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM benchmark_runs WHERE run_id = ?", [run_id]
        ).fetchone()
    return _run(row) if row else None


def require_run(db_path: Path, run_id: str) -> dict[str, Any]:
    run = get_run(db_path, run_id)
    if run is None:
        raise InvalidInputError(f"RUN_ID {run_id!r} is not a benchmark run")
    return run


def latest_run(db_path: Path) -> dict[str, Any] | None:
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM benchmark_runs"
            " ORDER BY created_at DESC, run_id LIMIT 1"
        ).fetchone()
    return _run(row) if row else None


def list_runs(db_path: Path, limit: int = 20) -> list[dict[str, Any]]:
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM benchmark_runs"
            " ORDER BY created_at DESC, run_id LIMIT ?",
            [limit],
        ).fetchall()
    return [_run(row) for row in rows]


def items(db_path: Path, run_id: str) -> list[dict[str, Any]]:
    """Every attempt of the run, in run order (as its config lists GPUs and models)."""
    run = require_run(db_path, run_id)
    gpus, models = run["config"]["gpus"], run["config"]["models"]
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            f"SELECT {', '.join(_ITEM_COLUMNS)} FROM benchmark_run_items WHERE run_id = ?"
            " ORDER BY list_position(?, gpu_model), list_position(?, model), attempt",
            [run_id, gpus, models],
        ).fetchall()
    return [_item(row) for row in rows]


def update_run(db_path: Path, run_id: str, **fields: Any) -> None:
    unknown = set(fields) - _RUN_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable on benchmark_runs: {sorted(unknown)}")
    if "progress" in fields and fields["progress"] is not None:
        fields["progress"] = str(fields["progress"])[:PROGRESS_MAX_CHARS]
    names = list(fields)
    with connect(db_path) as con:
        con.execute(
            f"UPDATE benchmark_runs SET {', '.join(f'{n} = ?' for n in names)} WHERE run_id = ?",
            [*(fields[n] for n in names), run_id],
        )


def claim_run(db_path: Path, run_id: str) -> bool:
    """queued -> running, once: a second executor of the same run gets False."""
    with connect(db_path) as con:
        row = con.execute(
            "UPDATE benchmark_runs SET status = 'running', started_at = ?, progress = 'started'"
            " WHERE run_id = ? AND status = 'queued' RETURNING run_id",
            [datetime.now(UTC), run_id],
        ).fetchone()
    return row is not None


def upsert_item(
    db_path: Path, run_id: str, gpu: str, model: str, attempt: int, **fields: Any
) -> None:
    """Write one attempt's fields, creating the row (pending) when it is new."""
    unknown = set(fields) - _ITEM_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable on benchmark_run_items: {sorted(unknown)}")
    names = list(fields)
    key = [run_id, gpu, model, attempt]
    with connect(db_path) as con:
        con.execute(
            "INSERT INTO benchmark_run_items (run_id, gpu_model, model, attempt, status)"
            " VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
            key,
        )
        if names:
            con.execute(
                f"UPDATE benchmark_run_items SET {', '.join(f'{n} = ?' for n in names)}"
                " WHERE run_id = ? AND gpu_model = ? AND model = ? AND attempt = ?",
                [*(fields[n] for n in names), *key],
            )


def count_items(db_path: Path, run_id: str) -> tuple[int, int]:
    """(ok, failed) combinations, from the item rows: ok when an attempt is ok, failed
    when none is and one failed (an interrupted or unconfirmed-destroy attempt included).
    Skipped combinations (VRAM, no offer at the first try, budget) are neither."""
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok AND failed)"
            " FROM (SELECT bool_or(status = 'ok') AS ok, bool_or(status = 'failed')"
            " OR bool_or(status = 'skipped' AND attempt > 1) AS failed"
            " FROM benchmark_run_items WHERE run_id = ? GROUP BY gpu_model, model)",
            [run_id],
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def finish_pending(db_path: Path, run_id: str, status: str, error: str) -> int:
    """Mark every attempt still pending or running with `status`; returns how many."""
    with connect(db_path) as con:
        rows = con.execute(
            "UPDATE benchmark_run_items SET status = ?, error = coalesce(error, ?),"
            " finished_at = coalesce(finished_at, ?)"
            " WHERE run_id = ? AND status IN ('pending', 'running') RETURNING attempt",
            [status, error, datetime.now(UTC), run_id],
        ).fetchall()
    return len(rows)


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """The run as the CLI and Dagster show it (Decimals as floats)."""
    return {key: _plain(value) for key, value in run.items()}


def public_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in item.items()}
