"""One instance's stand-in LLM: pulled and loaded models, prompt cache, timing, GPU readings.

Timing imitates a memory-bound decoder and is honest about it: every duration reported
is measured on the wall clock around the sleeps that stand for the work.

* Load: the first request for a model after a pull (or after it was evicted to make room)
  loads it for `1 s + 0.1 s/GB` (at most 3 s).
* Prefill: prompt tokens at `PREFILL_FACTOR` x the decode rate, plus a fixed latency. A
  prompt one of the last `CACHE_SLOTS` requests for that model already sent is cached
  (Ollama's default of 4 parallel slots, each keeping its last prompt): no prefill.
* Decode: tokens at the rate for this GPU and model (`inference_rates`), each stream at
  `rate / c ** 0.3` while `c` streams share the instance, so aggregate throughput rises
  sublinearly with concurrency. Tokens go out in batches of at most 1/250 s of output.

`speed` (env `SANDBOX_INFERENCE_SPEED`, default 1.0) divides every sleep: at 10 the
server streams ten times faster and reports the durations it measured, so tokens/s seen by
a client equals the reported figure and both equal the published rate x `speed`.

While a stream runs, the instance's `gpu.json` shows 90-98 % utilisation, raised power and
temperature; after the last one, utilisation and power drop back to idle while the memory
of the models still loaded stays in use (as with a real Ollama keeping models warm).
"""

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from shopper_pipelines.benchmarks.llm_models import LlmModel, lookup
from shopper_pipelines.sandbox.faults import Fault, FaultQueue, register_route
from shopper_pipelines.sandbox.inference_rates import Rate, rate_for
from shopper_pipelines.sandbox.inference_text import answer_tokens, prompt_tokens

logger = logging.getLogger(__name__)

FAULT_ROUTE = "inference.generate"
STREAM_STALLS, STREAM_BREAKS, EMPTY_RESPONSE = "stream-stalls", "stream-breaks", "empty-response"
BEHAVIOURS = frozenset({STREAM_STALLS, STREAM_BREAKS, EMPTY_RESPONSE})
register_route(FAULT_ROUTE, BEHAVIOURS)

PREFILL_FACTOR = 30.0
LATENCY_S = 0.015
LOAD_BASE_S, LOAD_S_PER_GB, LOAD_MAX_S = 1.0, 0.1, 3.0
CACHE_SLOTS = 4
CONCURRENCY_EXPONENT = 0.3
MAX_BATCHES_PER_S = 250.0
TOKENS_BEFORE_FAULT = 5
BYTES_PER_GB, MIB = 1_000_000_000, 1 << 20
GIB = 1 << 30
IDLE_POWER_SHARE, IDLE_TEMPERATURE_C, IDLE_MEMORY_MIB = 0.06, 31, 1
BUSY_TEMPERATURE_C, BUSY_POWER_SHARE = 68, 0.75
NS = 1_000_000_000


class InferenceError(Exception):
    """A request the server refuses: `kind` is unknown_model, not_pulled or oom."""

    def __init__(self, kind: str, model: str, need_gib: float = 0.0, have_gib: float = 0.0):
        super().__init__(f"{kind}: {model}")
        self.kind, self.model, self.need_gib, self.have_gib = kind, model, need_gib, have_gib


class StreamBroken(Exception):
    """The `stream-breaks` fault: the server drops the connection mid-stream."""


@dataclass(frozen=True)
class GpuBox:
    """What the engine needs of the instance's GPUs."""

    name: str  # the provider's spelling; made canonical for rates
    count: int
    vram_mib: int  # per GPU
    max_power_w: float

    @property
    def total_mib(self) -> int:
        return self.vram_mib * self.count


def footprint_mib(model: LlmModel) -> int:
    """VRAM a loaded model takes: weights, KV cache and CUDA context."""
    return math.ceil(model.min_vram_gb * BYTES_PER_GB / MIB)


@dataclass
class Run:
    """One generation: set up by `Engine.start`, played by `pieces()`, measured as it goes."""

    engine: "Engine"
    model: LlmModel
    rate: Rate
    prompt_tokens: int
    cached: bool
    tokens: list[str]  # what will be said, already cut at the max-token limit
    done_reason: str  # "stop" or "length"
    behaviour: str | None = None
    started_ns: int = field(default_factory=time.monotonic_ns)
    load_ns: int = 0
    prompt_eval_ns: int = 0
    eval_ns: int = 0
    total_ns: int = 0
    sent: int = 0
    completed: bool = False

    async def pieces(self) -> AsyncIterator[str]:
        """The answer in timed batches; `completed` is set only after the last one."""
        engine = self.engine
        engine.enter(self.model)
        try:
            self.load_ns = await engine.ensure_loaded(self.model)
            begin = time.monotonic_ns()
            prefill = 0.0 if self.cached else self.prompt_tokens / self._prefill_rate()
            if not await engine.pause(prefill + LATENCY_S):
                return
            self.prompt_eval_ns = time.monotonic_ns() - begin
            async for piece in self._decode():
                yield piece
            self.total_ns = time.monotonic_ns() - self.started_ns
        finally:
            engine.leave()

    def _prefill_rate(self) -> float:
        return self.rate.tokens_per_second * PREFILL_FACTOR

    async def _decode(self) -> AsyncIterator[str]:
        engine = self.engine
        begin = time.monotonic_ns()
        due = time.monotonic()
        fault_at = min(TOKENS_BEFORE_FAULT, max(len(self.tokens) - 1, 0))
        while self.sent < len(self.tokens):
            if self.behaviour is not None and self.sent >= fault_at:
                if self.behaviour == STREAM_BREAKS:
                    raise StreamBroken("sandbox fault: stream-breaks")
                await engine.pause(math.inf)  # stream-stalls: until the client or we give up
                return
            per_stream = self.rate.tokens_per_second * engine.speed
            per_stream /= max(engine.active, 1) ** CONCURRENCY_EXPONENT
            batch = max(1, math.ceil(per_stream / MAX_BATCHES_PER_S))
            batch = min(batch, len(self.tokens) - self.sent)
            if self.behaviour is not None:
                batch = min(batch, fault_at - self.sent)
            due += batch / per_stream
            if not await engine.pause(due - time.monotonic(), scaled=False):
                return
            piece = "".join(self.tokens[self.sent : self.sent + batch])
            self.sent += batch
            self.eval_ns = time.monotonic_ns() - begin
            yield piece
        self.completed = True


class Engine:
    """The stand-in model server of one instance; used only from its event loop."""

    def __init__(
        self,
        gpu: GpuBox,
        *,
        speed: float,
        update_gpu: Callable[..., object],
        faults: FaultQueue,
    ) -> None:
        self.gpu = gpu
        self.speed = speed
        self.update_gpu = update_gpu
        self.faults = faults
        self.pulled: dict[str, float] = {}  # model -> epoch seconds of the pull
        self.loaded: list[str] = []
        self.recent: dict[str, deque[str]] = {}
        self.active = 0
        self.stopping = asyncio.Event()
        self._load_lock = asyncio.Lock()
        self._rates: dict[str, Rate] = {}

    def rate(self, model: LlmModel) -> Rate:
        if model.name not in self._rates:
            self._rates[model.name] = rate_for(self.gpu.name, model, self.gpu.vram_mib)
        return self._rates[model.name]

    def known(self, name: str) -> LlmModel:
        model = lookup(name)
        if model is None:
            raise InferenceError("unknown_model", name)
        return model

    def admit(self, name: str, *, need_pull: bool) -> LlmModel:
        """The model, if it exists, is pulled (when `need_pull`) and fits in VRAM."""
        model = self.known(name)
        if need_pull and model.name not in self.pulled:
            raise InferenceError("not_pulled", name)
        need = footprint_mib(model)
        if need > self.gpu.total_mib:
            raise InferenceError("oom", name, need * MIB / GIB, self.gpu.total_mib * MIB / GIB)
        return model

    def take_fault(self) -> Fault | None:
        return self.faults.pop(FAULT_ROUTE)

    def start(
        self,
        name: str,
        prompt_texts: list[str],
        limit: int | None,
        *,
        need_pull: bool,
        behaviour: str | None = None,
    ) -> Run:
        """Check the model and set up a run; raises InferenceError as the server would."""
        model = self.admit(name, need_pull=need_pull)
        key = "\x00".join(prompt_texts)
        recent = self.recent.setdefault(model.name, deque(maxlen=CACHE_SLOTS))
        cached = key in recent
        if not cached:
            recent.append(key)
        answer = [] if behaviour == EMPTY_RESPONSE else answer_tokens(model, prompt_texts[-1])
        cut = answer if limit is None or limit < 0 else answer[:limit]
        reason = "length" if len(cut) < len(answer) else "stop"
        return Run(
            engine=self,
            model=model,
            rate=self.rate(model),
            prompt_tokens=prompt_tokens(prompt_texts),
            cached=cached,
            tokens=cut,
            done_reason=reason,
            behaviour=behaviour if behaviour != EMPTY_RESPONSE else None,
        )

    def pull(self, model: LlmModel) -> None:
        # A new dict, so the admin routes (another thread) never see one change under them.
        self.pulled = {**self.pulled, model.name: time.time()}

    async def pause(self, seconds: float, *, scaled: bool = True) -> bool:
        """Sleep (divided by `speed` when `scaled`); False when the server is stopping."""
        if self.stopping.is_set():
            return False
        delay = seconds / self.speed if scaled else seconds
        if delay <= 0:
            await asyncio.sleep(0)
            return True
        timeout = None if math.isinf(delay) else delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout)
        return not self.stopping.is_set()

    async def ensure_loaded(self, model: LlmModel) -> int:
        """Nanoseconds spent loading `model` (or waiting for another request's load)."""
        if model.name in self.loaded:
            return 0
        begin = time.monotonic_ns()
        async with self._load_lock:
            if model.name not in self.loaded:
                others = sum(footprint_mib(self.known(m)) for m in self.loaded)
                if others + footprint_mib(model) > self.gpu.total_mib:
                    self.loaded.clear()  # evict the others to make room, as Ollama does
                seconds = min(LOAD_BASE_S + LOAD_S_PER_GB * model.size_gb, LOAD_MAX_S)
                await self.pause(seconds)
                self.loaded.append(model.name)
                self._show(model)
        return time.monotonic_ns() - begin

    def enter(self, model: LlmModel) -> None:
        self.active += 1
        self._show(model)

    def leave(self) -> None:
        self.active = max(self.active - 1, 0)
        if self.active == 0:
            self._show(None)

    def memory_used_mib(self) -> int:
        used = sum(footprint_mib(self.known(name)) for name in self.loaded)
        per_gpu = math.ceil(used / max(self.gpu.count, 1)) + IDLE_MEMORY_MIB
        return min(per_gpu, self.gpu.vram_mib)

    def _show(self, model: LlmModel | None) -> None:
        """Write what `nvidia-smi` reports now: busy while any stream runs, else idle."""
        if self.active == 0 or model is None:
            readings = {
                "utilization": 0,
                "power_w": round(self.gpu.max_power_w * IDLE_POWER_SHARE, 2),
                "temperature_c": IDLE_TEMPERATURE_C,
            }
        else:
            busy = min(self.active, 5)
            readings = {
                "utilization": 90 + zlib.crc32(model.name.encode()) % 9,
                "power_w": round(self.gpu.max_power_w * (BUSY_POWER_SHARE + 0.04 * busy), 2),
                "temperature_c": BUSY_TEMPERATURE_C + 2 * busy,
            }
        readings["memory_used_mib"] = self.memory_used_mib()
        try:
            self.update_gpu(**readings)
        except (OSError, ValueError) as error:  # the instance folder is gone
            logger.debug("sandbox inference: gpu.json not updated: %s", error)
