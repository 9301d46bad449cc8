"""Benchmark an LLM inference server on this node and write one JSON result.

    python3 bench.py --model llama3.1:8b [--runtime ollama|openai] [--server URL]
        [--duration 300] [--max-tokens 500] [--concurrency 1[,2,4]] [--no-quality]
        [--no-pull] [--out DIR] [--request-timeout 120] [--server-wait 60]

Progress goes to stderr; the result file's path is the LAST line of stdout. Exit 0 when
the status is ok or partial, 1 when failed, 2 on a usage error. SIGINT/SIGTERM stop the
run and still write what was measured, with an `interrupted` error.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and not __package__:
    # Run as a file: load this folder as the package `benchmark_scripts`, whatever name it
    # was uploaded under, so that the modules' relative imports work.
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    _spec = importlib.util.spec_from_file_location(
        "benchmark_scripts", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
    )
    if _spec is None or _spec.loader is None:
        raise SystemExit(f"cannot load the benchmark package from {_here}")
    _package = importlib.util.module_from_spec(_spec)
    sys.modules["benchmark_scripts"] = _package
    _spec.loader.exec_module(_package)

import argparse
import os
import secrets
import signal
import time
from datetime import datetime, timezone

from benchmark_scripts.client import Server
from benchmark_scripts.errors import INTERRUPTED, BenchError
from benchmark_scripts.gpu import GpuSampler, gpu_stats, host_info
from benchmark_scripts.phases import (
    Run,
    quality_phase,
    sweep_phase,
    throughput_phase,
)
from benchmark_scripts.prompts import PROMPT_SET
from benchmark_scripts.result import (
    document_skeleton,
    outcome,
    run_flags,
    summarize,
    utc_iso,
    write_result,
)
from benchmark_scripts.urls import OLLAMA, OPENAI, ollama_base_url, openai_base_url

DEFAULT_DURATION_S = 300.0
DEFAULT_MAX_TOKENS = 500
MAX_CONCURRENCY = 256
DESCRIPTION = "Benchmark an LLM inference server on this node and write one JSON result."


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM; BaseException so nothing swallows it."""


def _number(text: str, kind: type[float] | type[int]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    return _number(text, float)


def _count(text: str) -> int:
    return int(_number(text, int))


def _levels(text: str) -> list[int]:
    """ "1,2,4" -> [1, 2, 4]: distinct levels from 1 to MAX_CONCURRENCY, in order given."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be integers like 1,2,4, got {text!r}") from None
    if not levels or any(not 1 <= level <= MAX_CONCURRENCY for level in levels):
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_CONCURRENCY} each, got {text!r}")
    return list(dict.fromkeys(levels))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.py", description=DESCRIPTION)
    parser.add_argument("--model", required=True, help="e.g. llama3.1:8b")
    parser.add_argument("--runtime", choices=(OLLAMA, OPENAI), default=OLLAMA)
    parser.add_argument(
        "--server", help="default: $OLLAMA_HOST (ollama) or $OPENAI_BASE_URL (openai)"
    )
    parser.add_argument("--duration", type=_seconds, default=DEFAULT_DURATION_S)
    parser.add_argument("--max-tokens", type=_count, default=DEFAULT_MAX_TOKENS)
    parser.add_argument("--concurrency", type=_levels, default=[1], help="e.g. 1,2,4")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-pull", action="store_true")
    parser.add_argument("--out", default="results", help="folder for the JSON result")
    parser.add_argument("--request-timeout", type=_seconds, default=120.0)
    parser.add_argument("--server-wait", type=_seconds, default=60.0)
    args = parser.parse_args(argv)
    if not args.model.strip():
        parser.error(f"argument --model: must not be empty, got {args.model!r}")
    try:
        if args.runtime == OLLAMA:
            args.server = ollama_base_url(args.server or os.environ.get("OLLAMA_HOST"))
        else:
            args.server = openai_base_url(args.server or os.environ.get("OPENAI_BASE_URL"))
    except ValueError as exc:
        parser.error(f"argument --server: {exc}")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the write
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def measure(args: argparse.Namespace, run: Run, sampler: GpuSampler) -> None:
    """Every step that talks to the server, in order; raises on what ends the run."""
    run.server.wait_ready(args.server_wait, run.log)
    run.server.ensure_model(args.model, pull=not args.no_pull, log=run.log)
    run.server.load_model(args.model, run.log)
    sampler.start()
    if not args.no_quality:
        quality_phase(run)
    throughput_phase(run, args.duration)
    sweep_phase(run, args.concurrency, args.duration)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    started = datetime.now(timezone.utc)  # noqa: UP017 (datetime.UTC needs Python 3.11)
    config = {
        "duration_s": args.duration,
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "prompt_set": PROMPT_SET,
        "quality": not args.no_quality,
    }
    benchmark_id = f"bench-{secrets.token_hex(6)}"
    document = document_skeleton(benchmark_id, args.runtime, args.model, args.server, config)
    server = Server(args.runtime, args.server, args.request_timeout)
    run = Run(server, args.model, args.max_tokens)
    sampler = GpuSampler()
    try:
        run.log(f"{benchmark_id}: {args.model} on {args.runtime} at {args.server}")
        host, host_errors = host_info()
        document["host"] = host
        for error in host_errors:
            run.add_error(error, "gpu")
        measure(args, run, sampler)
    except BenchError as exc:
        run.add_error(exc, run.phase)
        run.log(f"stopped in {run.phase}: {exc.kind}: {exc.message}")
    except Interrupted as signal_name:
        run.add_error(BenchError(INTERRUPTED, f"stopped by {signal_name}"), run.phase)
        run.log(f"interrupted by {signal_name} in {run.phase}; writing what was measured")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # nothing may cut the write short
    if run.aborted is not None:
        run.log(f"run stopped early: {run.aborted.kind}")
    sampler.stop()
    for error in sampler.errors:
        if not any(e["type"] == error.kind for e in run.errors):
            run.add_error(error, "gpu")
    if run.throughput_started is not None and run.throughput_wall_s is None:
        run.throughput_wall_s = time.monotonic() - run.throughput_started
    requests, errors = run.close()

    summary = summarize(requests, run.throughput_wall_s)
    status, valid = outcome(summary, requests, errors)
    document.update(
        status=status,
        valid=valid,
        flags=run_flags(requests, summary, len(sampler.samples), args.duration),
        started_at=utc_iso(started),
        finished_at=utc_iso(datetime.now(timezone.utc)),  # noqa: UP017
        summary=summary,
        concurrency_sweep=run.sweep,
        gpu_stats=gpu_stats(sampler.samples),
        requests=requests,
        errors=errors,
    )
    path = write_result(document, args.out, args.model, started)
    run.log(f"{status} (valid: {valid}), flags {document['flags']}; wrote {path}")
    print(path, flush=True)
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
