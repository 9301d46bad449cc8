"""One benchmark run's walk over its GPU x model grid: budget checks, attempts, and the
session each attempt rents, measured and then destroyed whatever happened.

Signals are held back (`runner_signals.shielded`) while a session is destroyed, and the
session in flight is kept in `current` so the run's own stop path can sweep it if an
interrupt lands between two statements of an attempt. `step` names what the attempt is
doing, so an interrupt's reason says where it landed.

A destroy that is not confirmed leaves an instance that may still bill: the attempt's item
fails with `destroy_unconfirmed` (naming the session, its instance and the command that
retries the destroy) and the attempt raises `DestroyUnconfirmed`, which ends the run
`failed`: no more rentals on a run that cannot clean up after itself.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from shopper_pipelines.benchmarks import llm_models
from shopper_pipelines.benchmarks import runner_cleanup as cleanup
from shopper_pipelines.benchmarks import runner_remote as remote
from shopper_pipelines.benchmarks import runner_store as runs
from shopper_pipelines.benchmarks.runner_offers import AttemptOutcome, cheapest_offer, fits
from shopper_pipelines.benchmarks.runner_plan import BenchmarkPlan, billed_seconds, estimate_cost
from shopper_pipelines.benchmarks.runner_signals import (
    describe_interrupt,
    shielded,
    signal_name,
)
from shopper_pipelines.errors import BudgetExceededError
from shopper_pipelines.sessions import lifecycle, provision
from shopper_pipelines.sessions.models import Session, SessionRequest, Status, Workload
from shopper_pipelines.settings import Settings
from shopper_pipelines.ssh.client import SshError, SshTarget

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
CONSUMER = "benchmarks"
ATTEMPTS = 2
IDLE_TIMEOUT_MIN = 20  # a safety net if this process dies: the lifecycle sensor stops it
WORKLOADS = {"ollama": Workload.LLM, "openai": Workload.LLM_VLLM}


class BudgetStop(Exception):
    """The next attempt's estimate would take the spend past the budget."""


class DestroyUnconfirmed(Exception):
    """An attempt's session was not confirmed destroyed: it may still be billing."""


class Walker:
    """One run's walk over its grid, with its spend and counters."""

    def __init__(self, settings: Settings, run_id: str, plan: BenchmarkPlan,
                 progress: Progress, scripts_dir: Path) -> None:  # fmt: skip
        self.settings, self.run_id, self.plan = settings, run_id, plan
        self.progress, self.scripts_dir = progress, scripts_dir
        self.spent = Decimal(0)
        self.done = self.failed = 0
        self.current: str | None = None  # the session being measured, until destroyed
        self.step = "plan"  # what the attempt in flight is doing (named by interrupts)
        self.interrupted_during: str | None = None  # where the first interrupt landed
        self.unconfirmed: dict[str, str] = {}  # session id -> why it may still bill

    def say(self, gpu: str, model: str, step: str) -> None:
        line = f"{gpu} x {model}: {step}"
        self.progress(line)
        runs.update_run(self.settings.database_path, self.run_id, progress=line)

    def _item(self, gpu: str, model: str, attempt: int, **fields: Any) -> None:
        runs.upsert_item(self.settings.database_path, self.run_id, gpu, model, attempt, **fields)

    def refresh_counts(self) -> None:
        """Counters from the item rows, so the run's totals and its items always agree."""
        self.done, self.failed = runs.count_items(self.settings.database_path, self.run_id)

    def _count(self) -> None:
        self.refresh_counts()
        runs.update_run(self.settings.database_path, self.run_id, spent_usd=self.spent,
                        items_done=self.done, items_failed=self.failed)  # fmt: skip

    def alive_note(self) -> str | None:
        """What the run's error says about sessions it could not confirm destroyed."""
        return cleanup.alive_note(self.unconfirmed)

    def note_unconfirmed(self, session_id: str, gone: str) -> str:
        """Remember a session that may still bill; the item error that says so."""
        note = cleanup.unconfirmed_note(self.settings, session_id, gone)
        self.unconfirmed[session_id] = note
        return note

    def walk(self) -> None:
        for gpu, model in self.plan.combinations:
            self.combination(gpu, model)
            self._count()

    def combination(self, gpu: str, model: str) -> None:
        need = llm_models.require(model).min_vram_gb
        if not fits(gpu, need):
            why = f"{model} needs {need} GB of VRAM; no {gpu} has that much"
            self.say(gpu, model, f"skipped: {why}")
            self._item(gpu, model, 1, status="skipped", error_type="vram", error=why,
                       retry_suggested=False, finished_at=datetime.now(UTC))  # fmt: skip
            return
        tried: set[str] = set()
        for attempt in range(1, ATTEMPTS + 1):
            offer = cheapest_offer(self.settings, gpu, self.plan.providers, need, avoid=tried)
            if offer is None:
                why = (f"no current {gpu} offer with {need} GB on "
                       f"{', '.join(self.plan.providers)}")  # fmt: skip
                self.say(gpu, model, f"skipped: {why}")
                self._item(gpu, model, attempt, status="skipped", error_type="no_offer",
                           error=why, finished_at=datetime.now(UTC))  # fmt: skip
                return
            tried.add(offer["id"])
            self._check_budget(gpu, model, attempt, offer)
            outcome = self.attempt(gpu, model, attempt, offer)
            if outcome.status == "ok":
                return
            self.say(gpu, model, f"attempt {attempt} failed ({outcome.error_type}): "
                                 f"{outcome.error}")  # fmt: skip
            if not outcome.retry_suggested:
                break

    def _check_budget(self, gpu: str, model: str, attempt: int, offer: dict[str, Any]) -> None:
        estimate = estimate_cost(offer["price_per_hour"], self.plan.duration_s)
        if self.spent + estimate > self.plan.max_budget:
            why = (f"spent ${self.spent:.4f} + estimated ${estimate:.4f} for {offer['id']} "
                   f"would pass the ${self.plan.max_budget} budget")  # fmt: skip
            self.say(gpu, model, f"stopping: {why}")
            self._item(gpu, model, attempt, status="skipped_budget", estimated_usd=estimate,
                       offer_key=offer["id"], error_type="budget", error=why,
                       finished_at=datetime.now(UTC))  # fmt: skip
            raise BudgetStop(why)
        self._item(gpu, model, attempt, estimated_usd=estimate)

    def attempt(self, gpu: str, model: str, attempt: int, offer: dict[str, Any]) -> AttemptOutcome:
        """One rented session: measure, then destroy it whatever happened."""
        price = float(offer["price_per_hour"])
        self.say(gpu, model, f"attempt {attempt}: renting {offer['id']} at ${price:.3f}/h")
        request = SessionRequest(CONSUMER, WORKLOADS[self.plan.runtime], hours=_hours(self.plan),
                                 idle_timeout_min=IDLE_TIMEOUT_MIN)  # fmt: skip
        try:
            requested = provision.request_session(self.settings, request, offer)
        except BudgetExceededError as refused:  # the consumer's monthly budget, not the run's
            self._item(gpu, model, attempt, status="skipped_budget", offer_key=offer["id"],
                       error_type="budget", error=str(refused),
                       finished_at=datetime.now(UTC))  # fmt: skip
            raise BudgetStop(str(refused)) from None
        session_id = self.current = requested.session.session_id
        self.step = "provision"
        outcome = AttemptOutcome("failed", "interrupted", "stopped before it finished", False)
        try:
            self._item(gpu, model, attempt, status="running", session_id=session_id,
                       offer_key=offer["id"], provider=offer["provider"], price_per_hour=price,
                       started_at=datetime.now(UTC))  # fmt: skip
            outcome = self._measure(gpu, model, attempt, session_id, requested.private_key)
        except remote.PermanentSshError as permanent:
            outcome = AttemptOutcome("failed", "ssh_permanent", str(permanent), False)
            raise
        except Exception as error:
            outcome = AttemptOutcome("failed", "error", f"{type(error).__name__}: {error}", False)
            raise
        except BaseException as interrupt:  # Ctrl-C, SIGTERM: say where it landed
            step = self.step
            outcome = AttemptOutcome("failed", "interrupted", f"interrupted during {step}", False)
            if self.interrupted_during is None:
                why = describe_interrupt(interrupt)
                self.interrupted_during = (f"{why} during {step} of {gpu} x {model}, "
                                           f"session {session_id}")  # fmt: skip
            raise
        finally:
            self._end(gpu, model, attempt, session_id, outcome)
            self.current = None
            self.step = "plan"
        if session_id in self.unconfirmed:
            raise DestroyUnconfirmed(self.unconfirmed[session_id])
        return outcome

    def _measure(
        self, gpu: str, model: str, attempt: int, session_id: str, private_key: str
    ) -> AttemptOutcome:
        self.step = step = "provision"
        try:
            session = provision.provision_session(
                self.settings, session_id, progress=lambda m: self.say(gpu, model, m),
                providers=self.plan.providers,
            )  # fmt: skip
            if session.status is not Status.RUNNING:
                return AttemptOutcome("failed", "provision", session.status_reason, True)
            assert session.ssh_host and session.ssh_port and session.ssh_user
            # Provisioning may have failed over to another offer of the same GPU.
            self._item(gpu, model, attempt, offer_key=session.offer_key,
                       provider=session.provider,
                       price_per_hour=session.price_per_hour)  # fmt: skip
            target = SshTarget(session.ssh_host, session.ssh_port, session.ssh_user,
                               private_key, session.host_key)  # fmt: skip
            folder = remote.remote_dir(self.run_id)
            self.step = step = "upload"
            self.say(gpu, model, f"uploading benchmark scripts to {folder}")
            remote.upload_scripts(target, folder, self.scripts_dir)
            self.step = step = "run"
            self.say(gpu, model, f"running bench.py for {self.plan.duration_s}s")
            bench = remote.run_bench(target, folder, model=model, runtime=self.plan.runtime,
                                     duration_s=self.plan.duration_s,
                                     concurrency=self.plan.concurrency)  # fmt: skip
            self.step = step = "download"
            local = self.settings.benchmark_results_dir / self.run_id / _slug(gpu)
            local = local / Path(bench.remote_result).name
            self.say(gpu, model, f"downloading {Path(bench.remote_result).name}")
            remote.download_result(target, bench.remote_result, local)
            self.step = step = "store"
            return self._store(gpu, model, session, local)
        except SshError as error:
            if remote.is_permanent(error):
                raise remote.PermanentSshError(f"{step}: {error}") from None
            return AttemptOutcome("failed", "ssh", f"{step}: {error}", True)
        except remote.BenchScriptError as error:
            return AttemptOutcome("failed", "bench_script", str(error), error.retry_suggested)

    def _store(self, gpu: str, model: str, session: Session, local: Path) -> AttemptOutcome:
        try:
            result = orjson.loads(local.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            return AttemptOutcome("failed", "bad_result", f"{local.name}: {error}", True,
                                  result_path=str(local))  # fmt: skip
        if not isinstance(result, dict):
            return AttemptOutcome("failed", "bad_result", f"{local.name}: not a JSON object",
                                  True, result_path=str(local))  # fmt: skip
        if result.get("status") not in ("ok", "partial"):
            errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
            first = errors[0] if errors else {}
            retry = all(bool(e.get("retry_suggested", True)) for e in errors)
            return AttemptOutcome("failed", str(first.get("type") or "failed"),
                                  str(first.get("message") or result.get("flags") or ""),
                                  retry, result_path=str(local))  # fmt: skip
        from shopper_pipelines.benchmarks.store import store_result

        result_id = store_result(
            self.settings.database_path, result, provider=session.provider,
            price_per_hour=session.price_per_hour, location=_location(self.settings, session),
            run_id=self.run_id, session_id=session.session_id,
        )  # fmt: skip
        tps = (result.get("summary") or {}).get("tokens_per_second")
        self.say(gpu, model, f"stored {result_id} ({result['status']}, {tps} tokens/s)")
        return AttemptOutcome("ok", None, None, False, result_id=result_id,
                              result_path=str(local))  # fmt: skip

    def _end(
        self, gpu: str, model: str, attempt: int, session_id: str, outcome: AttemptOutcome
    ) -> None:
        """Destroy the session (signals held back meanwhile) and record the attempt."""
        interrupted = outcome.error_type == "interrupted"
        with shielded() as shield:
            if interrupted:
                self.say(gpu, model, f"interrupt received during {self.step}: "
                                     f"destroying session {session_id} ...")  # fmt: skip
            else:
                self.say(gpu, model, f"destroying session {session_id}")
            self.step = "destroy"
            try:
                ended = lifecycle.done(self.settings, session_id)
                gone = f"session {session_id} {ended.status.value}"
                if ended.status is not Status.TERMINATED and ended.status_reason:
                    gone += f": {ended.status_reason}"
            except Exception as error:  # the lifecycle sensor retries what is left
                logger.exception("benchmark run %s: destroy of %s failed", self.run_id, session_id)
                ended, gone = None, f"destroy of {session_id} failed: {error}"
            cost = cleanup.session_cost(self.settings, session_id)
            self.spent += cost
            fields: dict[str, Any] = {
                "status": outcome.status, "error_type": outcome.error_type,
                "error": outcome.error, "retry_suggested": outcome.retry_suggested,
            }  # fmt: skip
            if ended is None or ended.status is not Status.TERMINATED:
                note = self.note_unconfirmed(session_id, gone)
                before = (f"measured ({outcome.result_id}), but" if outcome.status == "ok"
                          else f"{outcome.error_type}: {outcome.error};")  # fmt: skip
                fields = {"status": "failed", "error_type": "destroy_unconfirmed",
                          "error": f"{before} {note}", "retry_suggested": False}  # fmt: skip
                self.say(gpu, model, f"WARNING: {note}")
            self._item(gpu, model, attempt, **fields, result_id=outcome.result_id,
                       result_path=outcome.result_path, cost_usd=cost,
                       finished_at=datetime.now(UTC))  # fmt: skip
            self._count()
            spent = "cost so far" if session_id in self.unconfirmed else "cost"
            self.say(gpu, model, f"{gone}; {spent} ${cost:.4f}, run spent ${self.spent:.4f}")
        if shield.interrupted and self.interrupted_during is None:
            # A signal held back while destroying (the attempt was not interrupted before).
            name = signal_name(shield.received[0])
            self.interrupted_during = f"{name} while session {session_id} was being destroyed"
            raise KeyboardInterrupt(f"stopped by {name}")


def _hours(plan: BenchmarkPlan) -> int:
    return max(1, -(-billed_seconds(plan.duration_s) // 3600))


def _slug(gpu: str) -> str:
    return "-".join(gpu.lower().split())


def _location(settings: Settings, session: Session) -> str | None:
    from shopper_pipelines.inventory.search import get_offer

    offer = get_offer(settings.database_path, session.offer_key)
    return (offer or {}).get("location") or (offer or {}).get("country")
