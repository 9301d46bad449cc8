"""The measured phases: quality (each quality prompt once), throughput, concurrency sweep.

Quality runs first: where the server loads the model lazily (the preload was refused),
a quality request pays for the load, not a throughput one. A failure is recorded and the
phase goes on, except one that will repeat for every request (out of memory, model gone,
server gone) or three failures in a row: those stop the run, which then reports what it
measured.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from .client import Server
from .errors import MODEL_NOT_FOUND, OOM, SERVER_UNREACHABLE, BenchError
from .prompts import PROMPTS, quality_prompts
from .result import request_record, sweep_entry

STOPS_THE_RUN = (OOM, MODEL_NOT_FOUND, SERVER_UNREACHABLE)
MAX_FAILURES_IN_A_ROW = 3
QUALITY_TEMPERATURE = 0.0  # the same answer each time, so match rates compare
JOIN_POLL_S = 0.2  # the main thread wakes this often so a signal is handled promptly


def stderr_log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Run:
    """What one benchmark run has measured so far, shared by its phases and threads."""

    def __init__(
        self, server: Server, model: str, max_tokens: int, log: Callable[[str], None] = stderr_log
    ) -> None:
        self.server = server
        self.model = model
        self.max_tokens = max_tokens
        self.log = log
        self.requests: list[dict] = []
        self.errors: list[dict] = []
        self.phase = "setup"
        self.aborted: BenchError | None = None
        self.stopping = threading.Event()
        self.throughput_started: float | None = None
        self.throughput_wall_s: float | None = None
        self.sweep: list[dict] = []
        self._failures_in_a_row = 0
        self._closed = False
        self._lock = threading.Lock()

    def add_error(self, error: BenchError, phase: str) -> None:
        """Record an error once per (type, phase, message)."""
        record = error.as_record(phase)
        with self._lock:
            if not self._closed and record not in self.errors:
                self.errors.append(record)

    def records(self, phase: str, concurrency: int | None = None) -> list[dict]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r["phase"] == phase and concurrency in (None, r["concurrency"])
            ]

    def should_stop(self) -> bool:
        return self.stopping.is_set() or self.aborted is not None

    def close(self) -> tuple[list[dict], list[dict]]:
        """Stop taking records (late sweep threads are dropped) and return copies."""
        self.stopping.set()
        with self._lock:
            self._closed = True
            return list(self.requests), list(self.errors)

    def one(self, prompt: dict, phase: str, concurrency: int) -> dict:
        """Send one prompt, record it, then log a progress line (in that order, so a line
        on stderr always has its record, even when a signal comes right after it)."""
        temperature = QUALITY_TEMPERATURE if phase == "quality" else None
        error: BenchError | None = None
        try:
            measured = self.server.run_prompt(
                self.model, prompt["prompt"], self.max_tokens, temperature
            )
            record = request_record(prompt, phase, concurrency, measured)
        except BenchError as exc:
            error = exc
            record = request_record(prompt, phase, concurrency, error=exc)
            self.add_error(exc, phase)
        with self._lock:
            if not self._closed:
                self.requests.append(record)
            if error is None:
                self._failures_in_a_row = 0
            else:
                self._failures_in_a_row += 1
                if error.kind in STOPS_THE_RUN or self._failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    self.aborted = self.aborted or error
        if error is not None:
            self.log(f"{phase} {prompt['id']}: {error.kind}: {error.message}")
        else:
            self.log(
                f"{phase} c={concurrency} {prompt['id']}: {record['output_tokens']} tokens, "
                f"{record['tokens_per_second']} tok/s, ttft {record['ttft_ms']} ms"
            )
        return record


def quality_phase(run: Run) -> None:
    run.phase = "quality"
    for prompt in quality_prompts():
        if run.should_stop():
            return
        run.one(prompt, "quality", 1)


def throughput_phase(run: Run, duration_s: float) -> None:
    """Cycle through the prompt set one request at a time until `duration_s` has passed."""
    run.phase = "throughput"
    run.throughput_started = time.monotonic()
    deadline = run.throughput_started + duration_s
    sent = 0
    while time.monotonic() < deadline and not run.should_stop():
        run.one(PROMPTS[sent % len(PROMPTS)], "throughput", 1)
        sent += 1
    run.throughput_wall_s = time.monotonic() - run.throughput_started


def sweep_level(run: Run, concurrency: int, duration_s: float) -> dict:
    """`concurrency` threads sending prompts back to back for `duration_s` seconds."""
    run.phase = "sweep"
    started = time.monotonic()
    deadline = started + duration_s

    def worker(offset: int) -> None:
        sent = offset
        while time.monotonic() < deadline and not run.should_stop():
            run.one(PROMPTS[sent % len(PROMPTS)], "sweep", concurrency)
            sent += 1

    spread = max(1, len(PROMPTS) // concurrency)  # start the threads on different prompts
    threads = [
        threading.Thread(target=worker, args=(k * spread,), name=f"sweep-{k}", daemon=True)
        for k in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(JOIN_POLL_S)
    wall_s = time.monotonic() - started
    return sweep_entry(concurrency, run.records("sweep", concurrency), wall_s)


def sweep_phase(run: Run, levels: list[int], duration_s: float) -> None:
    """Fill `run.sweep` (contract `concurrency_sweep`): level 1 is the throughput phase
    itself; the others run `duration_s` each. Nothing unless a level above 1 was asked."""
    if all(level == 1 for level in levels):
        return
    for level in levels:
        if run.should_stop():
            return
        if level == 1:
            throughput = run.records("throughput")
            run.sweep.append(sweep_entry(1, throughput, run.throughput_wall_s))
        else:
            run.sweep.append(sweep_level(run, level, duration_s))
