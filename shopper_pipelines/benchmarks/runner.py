"""Benchmark runs: for each GPU x model, rent, measure, store, destroy, every time.

`start_run` writes the run and one pending item per combination before anything is
rented; `execute_run` walks the grid. Per combination: skip a model the GPU cannot hold,
pick the cheapest current offer with enough VRAM on the allowed providers, stop the run
when its estimated cost would take the spend past the budget, then rent a session
(consumer `benchmarks`), upload `benchmark_scripts/` over SFTP, run `bench.py`, download
its JSON result and store it. The session is destroyed in a `finally`, whatever happened,
interrupts included (see `runner_signals`). Two attempts per combination; a permanent SSH
error (key refused or unreadable) aborts the run; a result whose errors say a retry will
not help (out of memory) is not retried. A session whose destroy is not confirmed ends the
run `failed`, its error naming every session that may still bill (`sessions_alive`), so
the caller can say so loudly. The renter's private key lives only in memory.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from shopper_pipelines.benchmarks import llm_models
from shopper_pipelines.benchmarks import runner_remote as remote
from shopper_pipelines.benchmarks import runner_store as runs
from shopper_pipelines.benchmarks.runner_offers import cheapest_offer, fits
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan, estimate_cost, new_run_id
from shopper_pipelines.benchmarks.runner_signals import (
    describe_interrupt,
    interrupts_unwind,
    shielded,
)
from shopper_pipelines.benchmarks.runner_walk import (
    BudgetStop,
    DestroyUnconfirmed,
    Progress,
    Walker,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.sessions import lifecycle
from shopper_pipelines.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    items_done: int
    items_failed: int
    spent_usd: Decimal
    error: str | None = None
    # Sessions not confirmed destroyed: id -> why (instance, retry command); still billing.
    sessions_alive: dict[str, str] = field(default_factory=dict)


def start_run(settings: Settings, plan: BenchmarkPlan) -> str:
    """Write the run (queued) and its pending items; nothing is rented yet."""
    run_id = new_run_id()
    runs.insert_run(
        settings.database_path, run_id, plan.to_config(), plan.combinations, plan.max_budget
    )
    estimate = Decimal(0)
    for gpu, model in plan.combinations:
        need = llm_models.require(model).min_vram_gb
        offer = cheapest_offer(settings, gpu, plan.providers, need) if fits(gpu, need) else None
        if offer is not None:
            estimate += estimate_cost(offer["price_per_hour"], plan.duration_s)
    runs.update_run(settings.database_path, run_id, estimated_usd=estimate)
    logger.info("benchmark run %s queued: %d combinations, estimated $%s",
                run_id, len(plan.combinations), estimate)  # fmt: skip
    return run_id


def execute_run(
    settings: Settings,
    run_id: str,
    *,
    progress: Progress = lambda _m: None,
    scripts_dir: Path = remote.SCRIPTS_DIR,
) -> RunOutcome:
    """Walk the run's grid; return how it ended. KeyboardInterrupt (Ctrl-C, SIGTERM)
    destroys the current session, marks the run interrupted and propagates."""
    db = settings.database_path
    run = runs.require_run(db, run_id)
    if not runs.claim_run(db, run_id):
        raise InvalidInputError(f"run {run_id} is {run['status']}; only a queued run executes")
    walker = Walker(settings, run_id, BenchmarkPlan.from_config(run["config"]), progress,
                     scripts_dir)  # fmt: skip
    status, error = "completed", None
    try:
        with interrupts_unwind():
            walker.walk()
    except BudgetStop as stop:
        status, error = "stopped_budget", str(stop)
        runs.finish_pending(db, run_id, "skipped_budget", "run stopped at its budget")
    except remote.PermanentSshError as permanent:
        status, error = "failed", str(permanent)
        runs.finish_pending(db, run_id, "skipped", f"run aborted: {permanent}")
    except DestroyUnconfirmed:
        status, error = "failed", "stopped renting: a session could not be destroyed"
        runs.finish_pending(db, run_id, "skipped", "run aborted: a session was not destroyed")
    except Exception as unexpected:
        _stop(walker, "failed", f"{type(unexpected).__name__}: {unexpected}", "run failed")
        raise
    except BaseException as interrupt:  # Ctrl-C, SIGTERM, or Dagster terminating the run
        why = walker.interrupted_during or describe_interrupt(interrupt)
        _stop(walker, "interrupted", f"interrupted ({why})", "run interrupted")
        raise
    walker.refresh_counts()
    if status == "completed" and walker.failed and not walker.done:
        status, error = "failed", "no combination produced a result"
    return _finish(walker, status, error)


def _stop(walker: Walker, status: str, error: str, item_note: str) -> None:
    """End a run that is stopping on an exception: no session of it may outlive it."""
    db = walker.settings.database_path
    with shielded():
        listed = runs.items(db, walker.run_id)
        left = {walker.current} if walker.current else set()
        for item in listed:
            if item["session_id"] and item["status"] in ("pending", "running"):
                left.add(item["session_id"])
        for session_id in sorted(left):
            note = _sweep(walker, session_id)
            for item in listed:
                if note is not None and item["session_id"] == session_id:
                    runs.upsert_item(db, walker.run_id, item["gpu_model"], item["model"],
                                     item["attempt"], status="failed",
                                     error_type="destroy_unconfirmed", error=note,
                                     retry_suggested=False)  # fmt: skip
        runs.finish_pending(db, walker.run_id, "skipped", item_note)
        walker.refresh_counts()
        _finish(walker, status, error)


def _sweep(walker: Walker, session_id: str) -> str | None:
    """Destroy a session the attempt's own `finally` did not reach (a signal landed
    between two statements); already-terminated sessions are left as they are. Returns
    what to say about a session left not terminated (it is named in the run's error)."""
    from shopper_pipelines.sessions.models import LIVE, Status
    from shopper_pipelines.sessions.store import require_session

    settings = walker.settings
    session = require_session(settings.database_path, session_id)
    if session.status in LIVE:
        logger.warning("benchmark run: destroying %s left behind by an interrupt", session_id)
        try:
            session = lifecycle.done(settings, session_id)
        except Exception as error:
            logger.exception("benchmark run: destroy of %s failed", session_id)
            return walker.note_unconfirmed(session_id, f"destroy failed: {error}")
    if session.status is Status.TERMINATED or session_id in walker.unconfirmed:
        return None  # gone, or its attempt already recorded it as not destroyed
    return walker.note_unconfirmed(session_id, f"session {session.status.value}")


def _finish(walker: Walker, status: str, error: str | None) -> RunOutcome:
    alive = walker.alive_note()
    if alive is not None:
        status = "failed" if status == "completed" else status
        error = f"{error}; {alive}" if error else alive
        walker.progress(f"WARNING: {alive}")
    runs.update_run(
        walker.settings.database_path, walker.run_id, status=status, error=error,
        finished_at=datetime.now(UTC), spent_usd=walker.spent, items_done=walker.done,
        items_failed=walker.failed, progress=f"{status}: {walker.done} ok, {walker.failed} failed",
    )  # fmt: skip
    walker.progress(f"run {walker.run_id} {status}" + (f": {error}" if error else ""))
    return RunOutcome(walker.run_id, status, walker.done, walker.failed, walker.spent, error,
                      dict(walker.unconfirmed))  # fmt: skip
